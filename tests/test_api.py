"""The JSON API: responses match the schemas of /api/openapi.json; bbox, paging, 400s and 404s."""

from __future__ import annotations

import math
import re

import pytest
import shapely

from mujun.service import ranking

Json = dict | list | str | int | float | bool | None


# -- a small checker for the OpenAPI 3.0 subset the document uses ------------------------------

def resolve(doc: dict, ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    "boolean": lambda v: isinstance(v, bool),
}


def check(value: Json, schema: dict, doc: dict, where: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (an empty list if it conforms)."""
    if "$ref" in schema:
        return check(value, resolve(doc, schema["$ref"]), doc, where)
    if value is None:
        return [] if schema.get("nullable") or not schema else [f"{where}: null not allowed"]
    errors: list[str] = []
    for sub in schema.get("allOf", []):
        errors += check(value, sub, doc, where)
    kind = schema.get("type")
    if kind is not None and not _TYPES[kind](value):
        return [*errors, f"{where}: expected {kind}, got {type(value).__name__} {value!r:.60}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: {value} < {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                errors += check(v, props[k], doc, f"{where}.{k}")
            elif extra is False:
                errors.append(f"{where}: unexpected {k!r}")
            elif isinstance(extra, dict):
                errors += check(v, extra, doc, f"{where}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += check(v, schema["items"], doc, f"{where}[{i}]")
    return errors


@pytest.fixture(scope="module")
def doc(web_app) -> dict:
    res = web_app.test_client().get("/api/openapi.json")
    assert res.status_code == 200 and res.mimetype == "application/json"
    return res.get_json()


def schema_of(doc: dict, path: str, status: str = "200") -> dict:
    response = doc["paths"][path]["get"]["responses"][status]
    if "$ref" in response:
        response = resolve(doc, response["$ref"])
    content = response["content"]
    return content.get("application/json", content.get("application/geo+json"))["schema"]


def conforms(value: Json, schema: dict, doc: dict) -> None:
    errors = check(value, schema, doc)
    assert not errors, "\n".join(errors[:20])


def test_the_checker_catches_what_it_should(doc):
    fc = schema_of(doc, "/api/layers/{name}")
    good = {"type": "FeatureCollection", "features": [], "numberMatched": 0, "numberReturned": 0, "page": 1,
            "page_size": 10, "year": 2025}
    assert check(good, fc, doc) == []
    assert check({**good, "numberMatched": "3"}, fc, doc)
    assert check({k: v for k, v in good.items() if k != "page"}, fc, doc)
    bad_feature = {"type": "Feature", "geometry": {"type": "Blob"}, "properties": {}}
    assert check({**good, "features": [bad_feature]}, fc, doc)
    assert check({"error": {"status": 404, "title": "x"}}, resolve(doc, "#/components/schemas/Error"), doc)


# -- the document ---------------------------------------------------------------------------

def api_rules(app) -> set[str]:
    """The app's own /api routes (the OGC API's are described by /api/openapi: test_ogc.py)."""
    return {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule) for r in app.url_map.iter_rules()
            if r.rule.startswith("/api/") and not r.endpoint.startswith("ogc.")}


def test_openapi_document_describes_every_api_route(web_app, doc):
    assert doc["openapi"].startswith("3.0") and doc["info"]["title"] and doc["info"]["version"]
    assert api_rules(web_app) == set(doc["paths"])
    for path, item in doc["paths"].items():
        op = item["get"]
        assert op["summary"] and "200" in op["responses"]
        params = [resolve(doc, p["$ref"]) if "$ref" in p else p for p in op["parameters"]]
        assert all(p["in"] in ("path", "query") and "schema" in p for p in params)
        named = {p["name"] for p in params if p["in"] == "path"}
        assert named == set(re.findall(r"{(\w+)}", path)), path
    for name in ("Error", "FeatureCollection", "Feature", "Geometry", "Ranking", "ParcelDetail"):
        assert name in doc["components"]["schemas"]


def test_every_reference_in_the_document_resolves(doc):
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    found = list(refs(doc))
    assert found and all(resolve(doc, r) for r in found)


def test_openapi_document_passes_a_strict_validator(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


# -- layers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def parcels(sample_workspace):
    return sample_workspace.read("result_parcel", where="year = 2025")


@pytest.mark.parametrize("name", ["parcels", "districts", "parks", "platforms", "buildings"])
def test_layers_are_feature_collections(client, doc, name):
    res = client.get(f"/api/layers/{name}", query_string={"page_size": 25})
    assert res.status_code == 200
    data = res.get_json()
    conforms(data, schema_of(doc, "/api/layers/{name}"), doc)
    assert data["numberReturned"] == len(data["features"]) > 0


def test_coloured_parcels_carry_the_map_properties(client, doc):
    data = client.get("/api/layers/parcels", query_string={"page_size": 10, "color": "class"}).get_json()
    conforms(data, schema_of(doc, "/api/layers/{name}"), doc)
    props = data["features"][0]["properties"]
    assert {"_id", "_color", "_popup", "_tooltip", "parcel_id"} <= set(props)


def test_bbox_returns_exactly_the_intersecting_parcels(client, parcels):
    x, y = parcels.geometry.iloc[len(parcels) // 2].centroid.coords[0]
    box = (x - 0.01, y - 0.008, x + 0.01, y + 0.008)
    data = client.get("/api/layers/parcels", query_string={
        "bbox": ",".join(map(str, box)), "page_size": 5000, "year": 2025}).get_json()
    expected = set(parcels.loc[parcels.intersects(shapely.box(*box)), "parcel_id"])
    got = [f["properties"]["parcel_id"] for f in data["features"]]
    assert 0 < len(expected) < len(parcels)
    assert set(got) == expected and len(got) == len(expected) == data["numberMatched"]
    assert all(shapely.geometry.shape(f["geometry"]).intersects(shapely.box(*box)) for f in data["features"])


def test_pages_continue_and_the_match_count_stays(client):
    def page(p, size, **kw):
        return client.get("/api/layers/parcels", query_string={"page": p, "page_size": size, **kw}).get_json()

    ids = [[f["properties"]["parcel_id"] for f in d["features"]] for d in (page(1, 40), page(2, 40), page(1, 80))]
    assert ids[0] + ids[1] == ids[2] and len(set(ids[0]) & set(ids[1])) == 0
    counts = {page(p, 40)["numberMatched"] for p in (1, 2, 3)}
    assert len(counts) == 1
    total = counts.pop()
    past = page(-(-total // 40) + 1, 40)
    assert past["features"] == [] and past["numberReturned"] == 0 and past["numberMatched"] == total
    boxed = [page(p, 30, bbox="120.0,29.0,121.5,30.5") for p in (1, 2)]
    assert boxed[0]["numberMatched"] == boxed[1]["numberMatched"]
    assert boxed[0]["features"][0] != boxed[1]["features"][0]


@pytest.mark.parametrize("query", [
    {"bbox": "120,30,121"}, {"bbox": "a,b,c,d"}, {"bbox": "121,30,120,31"}, {"page_size": "0"},
    {"page_size": "100000"}, {"page": "0"}, {"page_size": "many"}, {"color": "rainbow"},
])
def test_bad_layer_arguments_are_400(client, doc, query):
    res = client.get("/api/layers/parcels", query_string=query)
    assert res.status_code == 400 and res.mimetype == "application/json"
    conforms(res.get_json(), schema_of(doc, "/api/layers/{name}", "400"), doc)


@pytest.mark.parametrize("path", [
    "/api/layers/roads", "/api/parcels/NO-SUCH-PARCEL", "/api/enterprises/NO-SUCH-CODE", "/api/nothing",
])
def test_unknown_things_are_404_json(client, doc, path):
    res = client.get(path)
    assert res.status_code == 404 and res.mimetype == "application/json"
    body = res.get_json()
    conforms(body, resolve(doc, "#/components/schemas/Error"), doc)
    assert body["error"]["status"] == 404 and body["error"]["title"] == "没有找到"
    name = path.rsplit("/", 1)[-1]
    if name != "nothing":  # the message says what is missing
        assert name in body["error"]["message"]


# -- rankings ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "level", "by", "kw"), [
    ({}, "enterprise", "score", {}),
    ({"level": "parcel", "by": "plot_ratio", "asc": 1}, "parcel", "plot_ratio", {"ascending": True}),
    ({"class": ["C", "D"], "district": "330604", "page": 2, "page_size": 20}, "enterprise", "score",
     {"classes": ("C", "D"), "district": "330604"}),
    ({"industry": "39", "year": 2024, "by": "tax_per_mu"}, "enterprise", "tax_per_mu",
     {"industry": "39", "year": 2024}),
    ({"level": "platform"}, "platform", "output_yi", {}),
    ({"level": "district", "by": "value_added_per_mu"}, "district", "value_added_per_mu", {}),
])
def test_rankings_match_the_service(client, doc, sample_workspace, query, level, by, kw):
    res = client.get("/api/rankings", query_string=query)
    assert res.status_code == 200, res.get_data(as_text=True)
    data = res.get_json()
    conforms(data, schema_of(doc, "/api/rankings"), doc)
    frame, year = ranking(sample_workspace, level, by, **kw)
    page, size = int(query.get("page", 1)), int(query.get("page_size", 50))
    part = frame.iloc[(page - 1) * size : page * size]
    assert (data["year"], data["level"], data["by"], data["total"], data["page"], data["page_size"]) == \
        (year, level, by, len(frame), page, size)
    id_field = {"enterprise": "credit_code", "parcel": "parcel_id"}.get(level, f"{level}_id")
    assert [i[id_field] for i in data["items"]] == part[id_field].tolist()
    values = [None if v != v else float(v) for v in part[by]]  # NaN -> None
    assert [i[by] for i in data["items"]] == pytest.approx(values, nan_ok=False)
    assert [i["rank"] for i in data["items"]] == [None if r is None or r != r else int(r) for r in part["rank"]]
    assert "geometry" not in data["items"][0]


def test_rankings_api_turns_missing_numbers_into_null(client, sample_workspace):
    frame, _ = ranking(sample_workspace, "enterprise", "va_per_emission", ascending=True, district="新昌县")
    missing = int(frame["va_per_emission"].isna().sum())
    assert missing, "the sample should have enterprises without emissions"
    data = client.get("/api/rankings", query_string={"by": "va_per_emission", "asc": 1, "district": "新昌县",
                                                     "page_size": len(frame)}).get_json()
    tail = data["items"][-missing:]
    assert all(i["va_per_emission"] is None and i["rank"] is None for i in tail)


@pytest.mark.parametrize(("query", "message"), [
    ({"level": "county"}, "未知的排名层级"), ({"by": "happiness"}, "无法按 'happiness' 排名"),
    ({"class": "Z"}, "分类应为"), ({"district": "火星区"}, "没有行政区"), ({"page_size": "0"}, "page_size"),
])
def test_bad_ranking_filters_are_400_json(client, doc, query, message):
    res = client.get("/api/rankings", query_string=query)
    assert res.status_code == 400
    body = res.get_json()
    conforms(body, resolve(doc, "#/components/schemas/Error"), doc)
    assert message in body["error"]["message"]


# -- parcels, enterprises, years ----------------------------------------------------------------

def test_parcel_detail_has_row_flags_compliance_and_geometry(client, doc, sample_workspace, parcels):
    flags = sample_workspace.read("result_flag", where="year = 2025")
    checks = sample_workspace.read("result_compliance", where="year = 2025")
    pid = flags["parcel_id"].value_counts().index[0]
    data = client.get(f"/api/parcels/{pid}").get_json()
    conforms(data, schema_of(doc, "/api/parcels/{parcel_id}"), doc)
    row = parcels.set_index("parcel_id").loc[pid]
    assert data["year"] == 2025 and data["parcel"]["parcel_id"] == pid
    assert data["parcel"]["area_mu"] == pytest.approx(row["area_mu"])
    assert len(data["flags"]) == (flags["parcel_id"] == pid).sum() > 1
    assert len(data["compliance"]) == (checks["parcel_id"] == pid).sum() > 0
    geom = shapely.geometry.shape(data["geometry"])
    assert data["geometry"]["type"] == "MultiPolygon" and geom.equals_exact(row.geometry, 1e-9)
    assert isinstance(data["parcel"]["transfer_date"], str | None)


def test_parcel_detail_of_another_year(client, sample_workspace):
    old = sample_workspace.read("result_parcel", where="year = 2023").iloc[0]
    data = client.get(f"/api/parcels/{old['parcel_id']}", query_string={"year": 2023}).get_json()
    assert data["year"] == 2023 and data["parcel"]["area_mu"] == pytest.approx(old["area_mu"])
    res = client.get(f"/api/parcels/{old['parcel_id']}", query_string={"year": 1999})
    assert res.status_code == 400 and "已评价年度" in res.get_json()["error"]["message"]


def test_enterprise_rows_for_every_year(client, doc, sample_workspace):
    table = sample_workspace.read("result_enterprise")
    counts = table["credit_code"].value_counts()
    code = counts.index[0]
    data = client.get(f"/api/enterprises/{code}").get_json()
    conforms(data, schema_of(doc, "/api/enterprises/{code}"), doc)
    mine = table[table["credit_code"] == code].sort_values("year")
    assert data["years"] == mine["year"].tolist() == [2023, 2024, 2025]
    assert [i["tax_per_mu"] for i in data["items"]] == pytest.approx(mine["tax_per_mu"].tolist())
    assert data["name"] == mine["name"].iloc[-1]


def test_years_and_config(client, doc, sample_workspace):
    years = client.get("/api/years").get_json()
    conforms(years, schema_of(doc, "/api/years"), doc)
    expected = [int(y) for y in sample_workspace.meta()["evaluated_years"].split(",")]
    assert years == {"years": expected, "latest": expected[-1]}
    conforms(client.get("/api/config").get_json(), schema_of(doc, "/api/config"), doc)
