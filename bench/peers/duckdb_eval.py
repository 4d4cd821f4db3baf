"""The peer of mujun's evaluation: the same computation as DuckDB spatial SQL.

    python bench/peers/duckdb_eval.py WORKSPACE.gpkg --year 2025 [--out summary.json]

What a competent analyst would write instead of mujun, on the same workspace GeoPackage:
read the layers with ``ST_Read``; measure every parcel and building in the CGCS2000 3-degree
Gauss-Krüger zone of its own longitude (``ST_Transform(..., always_xy := true)``); assign
buildings to parcels (more than half of the footprint) and parcels and buildings to
districts (plurality), parks and platforms (more than half) by ``ST_Intersection`` areas
in one local zone; enterprise land = parcels held + 租入 − 出租; per-mu values, scores with
the rule set's weights and benchmarks (population ratios of sums, missing indicator → the
group's average sub-score, caps), classes A–D by shares or thresholds (window functions),
ranks, and totals and per-mu values (ratios of sums) per district, park and platform.

With ``--write DIR`` it writes its result tables as Parquet files into ``DIR`` (what is fastest
for it), as mujun writes its results into the workspace. It does not do what mujun's
evaluation does besides (compliance checks, idle and inefficient land flags, the platform
assessment, what-if gains).

The spatial extension is loaded by path from the ``duckdb-extension-spatial`` package on
PyPI; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb

from mujun.geo.indicators import INDICATORS
from mujun.geo.rules import CLASSES, RuleSet
from mujun.layers.rulesets import DEFAULT_RULES, load_rule_set

__all__ = ["RESULT_TABLES", "connect", "evaluate", "spatial_extension", "summary", "write_results"]


MU = 10000.0 / 15.0
ADMIN_USES = "办公|生活|宿舍|食堂"  # as mujun.geo.landuse.ADMIN_USES
NO_FLOOR_AREA_USES = "构筑物|堆场"
ZONES = {"district": ("district_id", 0.0), "park": ("park_id", 0.5), "platform": ("platform_id", 0.5)}
AMOUNTS = {"tax_per_mu": "tax", "value_added_per_mu": "value_added", "revenue_per_mu": "revenue",
           "output_per_mu": "output_value"}
#: The peer's result tables (temp tables after :func:`evaluate`).
RESULT_TABLES = ("parcel_result", "enterprise_result", "building_result", *(f"zone_{z}" for z in ZONES))


def spatial_extension() -> Path:
    """The spatial extension file shipped in the ``duckdb-extension-spatial`` wheel."""
    try:
        import duckdb_extension_spatial
    except ImportError:
        raise ImportError("the DuckDB peer needs the spatial extension: "
                          f"pip install 'duckdb-extension-spatial=={duckdb.__version__}'") from None
    root = Path(duckdb_extension_spatial.__file__).parent / "extensions"
    path = root / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not path.exists():
        found = ", ".join(p.parent.name for p in root.glob("*/spatial.duckdb_extension")) or "none"
        raise ImportError(f"duckdb-extension-spatial has no build for duckdb {duckdb.__version__} (it has {found}); "
                          f"pip install 'duckdb-extension-spatial=={duckdb.__version__}'")
    return path


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the spatial extension loaded from the wheel, autoloading off."""
    config = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    if threads:
        config["threads"] = str(threads)
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(config=config)
    con.execute(f"LOAD '{spatial_extension()}'")
    return con


def _gk(geom: str) -> str:
    """SQL: ``geom`` (EPSG:4490) in the 3-degree GK zone of its bounding-box centre."""
    lon = f"((ST_XMin({geom}) + ST_XMax({geom})) / 2)"
    epsg = f"(4534 + (least(greatest(round({lon} / 3) * 3, 75), 135) - 75) / 3)::INTEGER"
    return f"ST_Transform({geom}, 'EPSG:4490', 'EPSG:' || {epsg}, always_xy := true)"


def _local_epsg(con, table: str) -> int:
    """EPSG of the GK zone of the median longitude (the one planar CRS for overlays)."""
    lon = con.execute(f"SELECT median((ST_XMin(geom) + ST_XMax(geom)) / 2) FROM {table}").fetchone()[0]
    cm = min(max(round(lon / 3) * 3, 75), 135) if lon is not None else 120
    return 4534 + (cm - 75) // 3


def _majority(con, out: str, features: str, fkey: str, zones: str, zkey: str, min_share: float) -> None:
    """Table ``out`` (fkey, zkey, share): the zone holding most of each feature's area."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT {fkey}, zid AS {zkey}, share FROM (
            SELECT f.{fkey}, z.{zkey} AS zid,
                   CASE WHEN f.area_l > 0 THEN
                       (CASE WHEN ST_Contains(z.gl, f.gl) THEN f.area_l
                             ELSE ST_Area(ST_Intersection(f.gl, z.gl)) END) / f.area_l
                   ELSE 0 END AS share
            FROM {features} f JOIN {zones} z ON ST_Intersects(f.gl, z.gl)
        )
        QUALIFY row_number() OVER (PARTITION BY {fkey} ORDER BY share DESC, zid) = 1
              AND share > {min_share}
    """)


def _ratio(num: str, den: str) -> str:
    return f"CASE WHEN {den} > 0 THEN {num} / {den} END"


def evaluate(con: duckdb.DuckDBPyConnection, workspace: Path, year: int, rules: RuleSet) -> dict[str, float]:
    """Run the evaluation of ``year``; results stay in temp tables. Returns seconds by step.

    Tables: ``parcel_result``, ``enterprise_result``, ``building_result``,
    ``zone_<level>`` for district, park and platform.
    """
    ws = str(workspace).replace("'", "''")
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def step(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = now - t
        t = now

    con.execute(f"CREATE OR REPLACE TEMP TABLE src_parcels AS SELECT * FROM ST_Read('{ws}', layer='parcels')")
    con.execute(f"CREATE OR REPLACE TEMP TABLE src_buildings AS SELECT * FROM ST_Read('{ws}', layer='buildings')")
    for level in ZONES:
        con.execute(f"CREATE OR REPLACE TEMP TABLE src_{level}s AS SELECT * FROM ST_Read('{ws}', layer='{level}s')")
    con.execute(f"CREATE OR REPLACE TEMP TABLE src_ent AS SELECT * FROM ST_Read('{ws}', layer='enterprises') "
                f"WHERE year = {int(year)}")
    step("read")

    # areas in each feature's own zone; geometries in the overlay zone
    pl = _local_epsg(con, "src_parcels")
    bl = _local_epsg(con, "src_buildings")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE p AS
        SELECT *, ST_Area(gl) AS area_l FROM (
            SELECT parcel_id, holder_code, land_use, investment, geom,
                   ST_Area({_gk('geom')}) AS area_m2,
                   ST_Transform(geom, 'EPSG:4490', 'EPSG:{pl}', always_xy := true) AS gl
            FROM src_parcels)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE b AS
        SELECT *, ST_Area(gl) AS area_l FROM (
            SELECT building_id, floors, height, use,
                   ST_Area({_gk('geom')}) AS footprint_m2,
                   ST_Transform(geom, 'EPSG:4490', 'EPSG:{bl}', always_xy := true) AS gl
            FROM src_buildings)""")
    for level in ZONES:
        for crs, suffix in ((pl, "p"), (bl, "b")):
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE z_{level}_{suffix} AS
                SELECT *, ST_Transform(geom, 'EPSG:4490', 'EPSG:{crs}', always_xy := true) AS gl
                FROM src_{level}s""")
    step("areas")

    # buildings: counted floor area, their parcel and zones
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE b2 AS
        SELECT *,
            CASE WHEN regexp_matches(coalesce(use, ''), '{NO_FLOOR_AREA_USES}') THEN 0.0
                 ELSE footprint_m2 * fl * (CASE WHEN height / fl > 8 THEN 2 ELSE 1 END) END AS floor_area_m2,
            CASE WHEN regexp_matches(coalesce(use, ''), '{ADMIN_USES}') THEN footprint_m2 ELSE 0.0 END
                AS admin_footprint_m2
        FROM (SELECT *, CASE WHEN floors > 0 THEN floors ELSE 1.0 END AS fl FROM b)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE p_b AS
        SELECT parcel_id, ST_Transform(geom, 'EPSG:4490', 'EPSG:{bl}', always_xy := true) AS gl FROM p""")
    _majority(con, "bp", "b2", "building_id", "p_b", "parcel_id", 0.5)
    for level, (zid, share) in ZONES.items():
        _majority(con, f"bz_{level}", "b2", "building_id", f"z_{level}_b", zid, share)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE building_result AS
        SELECT b2.building_id, b2.footprint_m2, b2.floor_area_m2, b2.admin_footprint_m2, bp.parcel_id,
               d.district_id, k.park_id, f.platform_id
        FROM b2 LEFT JOIN bp USING (building_id) LEFT JOIN bz_district d USING (building_id)
             LEFT JOIN bz_park k USING (building_id) LEFT JOIN bz_platform f USING (building_id)""")
    step("buildings")

    # parcels: building totals, ratios, zones
    for level, (zid, share) in ZONES.items():
        _majority(con, f"pz_{level}", "p", "parcel_id", f"z_{level}_p", zid, share)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE parcel_base AS
        SELECT p.parcel_id, p.holder_code, p.area_m2, p.area_m2 / (10000.0 / 15.0) AS area_mu,
               coalesce(regexp_matches(p.land_use, '工业|工矿'), p.land_use IS NULL) AS industrial,
               coalesce(t.n, 0) AS building_count, coalesce(t.footprint, 0) AS footprint_m2,
               coalesce(t.floor, 0) AS floor_area_m2, coalesce(t.admin, 0) AS admin_footprint_m2,
               CASE WHEN p.area_m2 > 0 THEN coalesce(t.floor, 0) / p.area_m2 END AS plot_ratio,
               CASE WHEN p.area_m2 > 0 THEN coalesce(t.footprint, 0) / p.area_m2 END AS building_coefficient,
               CASE WHEN p.area_m2 > 0 THEN coalesce(t.admin, 0) / p.area_m2 END AS admin_share,
               CASE WHEN p.area_m2 > 0 THEN p.investment / (p.area_m2 / (10000.0 / 15.0)) END
                   AS investment_intensity,
               d.district_id, k.park_id, f.platform_id
        FROM p
        LEFT JOIN (SELECT parcel_id, count(*) AS n, sum(footprint_m2) AS footprint, sum(floor_area_m2) AS floor,
                          sum(admin_footprint_m2) AS admin
                   FROM building_result WHERE parcel_id IS NOT NULL GROUP BY parcel_id) t USING (parcel_id)
        LEFT JOIN pz_district d USING (parcel_id) LEFT JOIN pz_park k USING (parcel_id)
        LEFT JOIN pz_platform f USING (parcel_id)""")
    step("parcels")

    # enterprises: land, per-mu values, indicators
    ind_cols = ",\n".join(
        f"{_ratio(num, den)} * {factor} AS {key}" for key, (num, den, factor) in INDICATORS.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ent AS
        SELECT *, {ind_cols},
               CASE WHEN coalesce(above_scale, 0) <> 0 THEN 'above_scale' ELSE 'below_scale' END AS grp
        FROM (
            SELECT e.* EXCLUDE (leased_in_mu, leased_out_mu),
                   coalesce(o.owned, 0) AS owned_mu, coalesce(o.n, 0) AS parcel_count,
                   coalesce(e.leased_in_mu, 0) AS leased_in_mu, coalesce(e.leased_out_mu, 0) AS leased_out_mu,
                   coalesce(o.owned, 0) + coalesce(e.leased_in_mu, 0) - coalesce(e.leased_out_mu, 0) AS land_mu,
                   l.district_id, l.park_id, l.platform_id
            FROM src_ent e
            LEFT JOIN (SELECT holder_code, sum(area_mu) AS owned, count(*) AS n FROM parcel_base
                       WHERE holder_code IS NOT NULL GROUP BY holder_code) o ON o.holder_code = e.credit_code
            LEFT JOIN (SELECT holder_code, district_id, park_id, platform_id FROM parcel_base
                       WHERE holder_code IS NOT NULL
                       QUALIFY row_number() OVER (PARTITION BY holder_code ORDER BY area_mu DESC) = 1
                      ) l ON l.holder_code = e.credit_code  -- where its largest parcel lies
        )""")
    _score(con, rules)
    step("scores")

    # parcels of the year and the zones' totals
    con.execute("""
        CREATE OR REPLACE TEMP TABLE parcel_result AS
        SELECT pb.*, e.land_mu AS holder_land_mu, e.class, e.score, e.above_scale,
               (e.credit_code IS NOT NULL AND e.land_mu > 0 AND pb.area_mu > 0) AS evaluated,
               CASE WHEN e.credit_code IS NOT NULL AND e.land_mu > 0 AND pb.area_mu > 0
                    THEN pb.area_mu * coalesce(CASE WHEN e.owned_mu > 0 THEN
                         least(greatest((e.owned_mu - e.leased_out_mu) / e.owned_mu, 0), 1) END, 0)
                    ELSE 0 END AS evaluated_mu,
               e.tax_per_mu, e.value_added_per_mu, e.revenue_per_mu, e.output_per_mu
        FROM parcel_base pb LEFT JOIN enterprise_result e ON e.credit_code = pb.holder_code""")
    con.execute("ALTER TABLE parcel_result ADD COLUMN tax DOUBLE")
    con.execute("ALTER TABLE parcel_result ADD COLUMN value_added DOUBLE")
    con.execute("ALTER TABLE parcel_result ADD COLUMN revenue DOUBLE")
    con.execute("ALTER TABLE parcel_result ADD COLUMN output_value DOUBLE")
    con.execute("UPDATE parcel_result SET " + ", ".join(
        f"{amount} = CASE WHEN evaluated THEN {name} * evaluated_mu END" for name, amount in AMOUNTS.items()))
    for level, (zid, _) in ZONES.items():
        _zone_totals(con, level, zid)
    step("aggregates")
    return steps


def _score(con, rules: RuleSet) -> None:
    """``enterprise_result``: scores, classes and ranks, as mujun.geo.scoring.score_enterprises."""
    veto = ", ".join(f"('{str(k).upper()}')" for k in rules.veto)
    veto_sql = f"upper(credit_code) IN (SELECT * FROM (VALUES {veto}))" if veto else "false"
    groups = "', '".join(rules.groups)
    minimum = " ".join(f"WHEN '{g}' THEN {m!r}" for g, m in rules.min_land_mu.items())
    # the bench's enterprise tables carry no 投产年份: no firm is 新投产
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pop AS
        SELECT *, (land_mu > 0 AND land_mu >= CASE grp {minimum} ELSE 0 END AND grp IN ('{groups}')) AS in_pop,
               {veto_sql} AS vetoed
        FROM ent""")
    parts = []
    for g, inds in rules.groups.items():
        subs, benches, fixed = [], [], []
        for ind in inds:
            num, den, factor = INDICATORS[ind.key]
            measured = (f"(SELECT sum({num}) FILTER (WHERE {num} IS NOT NULL AND {den} > 0) / "
                        f"nullif(sum({den}) FILTER (WHERE {num} IS NOT NULL AND {den} > 0), 0) * {factor} "
                        f"FROM pop WHERE in_pop AND grp = '{g}')")
            bench = repr(float(ind.benchmark)) if ind.benchmark is not None else measured
            benches.append(f"{bench} AS b_{ind.key}")
            sub = f"{ind.weight} * {ind.key} / b_{ind.key}"
            low = None if ind.floor is None else ind.floor * ind.weight
            high = None if ind.cap is None else ind.cap * ind.weight
            # CASE, not greatest()/least(), which skip NULLs: a missing value stays missing (and
            # takes the average below), it is not raised to the floor
            if low is not None:
                sub = f"CASE WHEN ({sub}) < {low!r} THEN {low!r} ELSE ({sub}) END"
            if high is not None:
                sub = f"CASE WHEN ({sub}) > {high!r} THEN {high!r} ELSE ({sub}) END"
            usable = f"b_{ind.key} > 0 AND isfinite(b_{ind.key})"
            subs.append(f"CASE WHEN {usable} THEN {sub} ELSE 0.0 END AS raw_{ind.key}")
            # a reported zero denominator: the cap (else the best), or the floor (else the worst)
            subs.append(f"CASE WHEN {usable} AND {den} = 0 AND {num} IS NOT NULL THEN sign({num}) END "
                        f"AS z_{ind.key}")
            best = repr(high) if high is not None else f"coalesce(max(raw_{ind.key}) OVER (), {ind.weight!r})"
            worst = repr(low) if low is not None else f"coalesce(min(raw_{ind.key}) OVER (), 0.0)"
            fixed.append(f"CASE WHEN z_{ind.key} > 0 THEN {best} WHEN z_{ind.key} <= 0 THEN {worst} "
                         f"ELSE raw_{ind.key} END AS fixed_{ind.key}")
        filled = [f"coalesce(fixed_{i.key}, avg(fixed_{i.key}) OVER (), 0.0) AS score_{i.key}" for i in inds]
        total = " + ".join(f"score_{i.key}" for i in inds)
        all_keys = sorted({i.key for v in rules.groups.values() for i in v})
        cols = ", ".join(f"score_{k}" if k in {i.key for i in inds} else f"NULL::DOUBLE AS score_{k}"
                         for k in all_keys)
        parts.append(f"""
            SELECT credit_code, {cols}, {total} AS score FROM (
                SELECT credit_code, {', '.join(filled)} FROM (
                    SELECT credit_code, {', '.join(fixed)} FROM (
                        SELECT credit_code, {', '.join(subs)}
                        FROM pop, (SELECT {', '.join(benches)})
                        WHERE in_pop AND grp = '{g}')))""")
    con.execute("CREATE OR REPLACE TEMP TABLE scores AS " + " UNION ALL ".join(parts))
    c = rules.classes
    if c.method == "thresholds":
        t = c.thresholds
        cls = f"CASE WHEN score >= {t['A']} THEN 'A' WHEN score >= {t['B']} THEN 'B' WHEN score >= {t['C']} THEN 'C' ELSE 'D' END"
    else:
        cum, cuts = 0.0, []
        for k in CLASSES[:3]:
            cum += c.shares[k]
            cuts.append(f"floor(n * {cum!r} + 1e-9)")
        cls = (f"CASE WHEN last <= {cuts[0]} THEN 'A' WHEN last <= {cuts[1]} THEN 'B' "
               f"WHEN last <= {cuts[2]} THEN 'C' ELSE 'D' END")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE enterprise_result AS
        SELECT *,
            rank() OVER (PARTITION BY grp ORDER BY score DESC) AS rank_in_group,
            rank() OVER (PARTITION BY grp, district_id ORDER BY score DESC) AS rank_in_district,
            rank() OVER (PARTITION BY grp, left(industry_code, 2) ORDER BY score DESC) AS rank_in_industry
        FROM (
            SELECT pop.*, s.* EXCLUDE (credit_code),
                   CASE WHEN in_pop AND vetoed THEN 'D' WHEN in_pop THEN klass END AS class
            FROM pop LEFT JOIN scores s USING (credit_code)
            LEFT JOIN (
                SELECT credit_code, {cls} AS klass FROM (
                    SELECT s.credit_code, s.score, count(*) OVER (PARTITION BY grp) AS n,
                           count(*) OVER (PARTITION BY grp ORDER BY s.score DESC
                                          RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last
                    FROM scores s JOIN pop USING (credit_code) WHERE NOT vetoed)
            ) k USING (credit_code)
        )""")


def _zone_totals(con, level: str, zid: str) -> None:
    per_mu = ",\n".join(
        f"sum({a}) FILTER (WHERE evaluated) / nullif(sum(evaluated_mu) FILTER (WHERE evaluated AND {a} IS NOT NULL), 0) "
        f"AS {name}" for name, a in AMOUNTS.items())
    above = ",\n".join(
        f"sum({AMOUNTS[name]}) FILTER (WHERE evaluated AND above_scale = 1) / nullif(sum(evaluated_mu) FILTER "
        f"(WHERE evaluated AND above_scale = 1 AND {AMOUNTS[name]} IS NOT NULL), 0) AS above_scale_{name}"
        for name in ("tax_per_mu", "value_added_per_mu"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE zone_{level} AS
        SELECT z.{zid}, z.name, ST_Area({_gk('z.geom')}) / (10000.0 / 15.0) AS zone_area_mu,
               coalesce(s.parcel_count, 0) AS parcel_count, coalesce(s.area_mu, 0) AS area_mu,
               coalesce(s.industrial_mu, 0) AS industrial_mu,
               s.plot_ratio, s.building_coefficient, s.built_share,
               coalesce(s.evaluated_mu, 0) AS evaluated_mu, coalesce(s.enterprise_count, 0) AS enterprise_count,
               s.tax, s.value_added, s.revenue, s.output_value,
               s.tax_per_mu, s.value_added_per_mu, s.revenue_per_mu, s.output_per_mu,
               s.above_scale_tax_per_mu, s.above_scale_value_added_per_mu
        FROM src_{level}s z LEFT JOIN (
            SELECT {zid}, count(*) AS parcel_count, sum(area_mu) AS area_mu,
                   sum(area_mu) FILTER (WHERE industrial) AS industrial_mu,
                   sum(floor_area_m2) / nullif(sum(area_m2), 0) AS plot_ratio,
                   sum(footprint_m2) / nullif(sum(area_m2), 0) AS building_coefficient,
                   sum(area_mu) FILTER (WHERE building_count > 0) / nullif(sum(area_mu), 0) AS built_share,
                   sum(evaluated_mu) FILTER (WHERE evaluated) AS evaluated_mu,
                   count(DISTINCT holder_code) FILTER (WHERE evaluated) AS enterprise_count,
                   sum(tax) FILTER (WHERE evaluated) AS tax, sum(value_added) FILTER (WHERE evaluated) AS value_added,
                   sum(revenue) FILTER (WHERE evaluated) AS revenue,
                   sum(output_value) FILTER (WHERE evaluated) AS output_value,
                   {per_mu},
                   {above}
            FROM parcel_result WHERE {zid} IS NOT NULL GROUP BY {zid}
        ) s USING ({zid})""")


def write_results(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write the result tables as Parquet files into ``out`` (geometry, where a table has
    it, as WKB)."""
    out.mkdir(parents=True, exist_ok=True)
    for table in RESULT_TABLES:
        columns = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
        select = ", ".join(f'ST_AsWKB("{c}") AS "{c}"' if kind.startswith("GEOMETRY") else f'"{c}"' for c, kind in columns)
        target = str(out / f"{table}.parquet").replace("'", "''")
        con.execute(f"COPY (SELECT {select} FROM {table}) TO '{target}' (FORMAT parquet)")


def summary(con: duckdb.DuckDBPyConnection) -> dict:
    """The figures compared with mujun's (see bench/agreement.py)."""
    out: dict = {}
    out["parcels"] = dict(zip(("count", "area_mu", "evaluated_mu"), con.execute(
        "SELECT count(*), sum(area_mu), sum(evaluated_mu) FROM parcel_result").fetchone(), strict=True))
    out["buildings_on_parcels"] = con.execute(
        "SELECT count(*) FROM building_result WHERE parcel_id IS NOT NULL").fetchone()[0]
    rows = con.execute("""SELECT grp, count(*) FILTER (WHERE in_pop), sum(score),
                                 count(*) FILTER (WHERE class = 'A'), count(*) FILTER (WHERE class = 'B'),
                                 count(*) FILTER (WHERE class = 'C'), count(*) FILTER (WHERE class = 'D')
                          FROM enterprise_result GROUP BY grp ORDER BY grp""").fetchall()
    out["groups"] = {r[0]: {"scored": r[1], "score_sum": r[2], **dict(zip(CLASSES, r[3:], strict=True))} for r in rows}
    out["land_mu"] = con.execute("SELECT sum(land_mu) FROM enterprise_result").fetchone()[0]
    for level, (zid, _) in ZONES.items():
        rows = con.execute(f"""SELECT {zid}, parcel_count, area_mu, evaluated_mu, tax_per_mu, value_added_per_mu,
                                      plot_ratio FROM zone_{level} ORDER BY {zid}""").fetchall()
        out[level] = {r[0]: dict(zip(("parcel_count", "area_mu", "evaluated_mu", "tax_per_mu",
                                      "value_added_per_mu", "plot_ratio"), r[1:], strict=True)) for r in rows}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--year", type=int, required=True)
    ap.add_argument("--rules", default=DEFAULT_RULES)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--memory-limit")
    ap.add_argument("--out", type=Path, help="write the timings and summary here as JSON")
    ap.add_argument("--write", type=Path, help="write the result tables as Parquet files into this folder")
    args = ap.parse_args(argv)
    rules = load_rule_set(args.rules)
    con = connect(args.threads, args.memory_limit)
    t = time.perf_counter()
    steps = evaluate(con, args.workspace, args.year, rules)
    if args.write:
        w = time.perf_counter()
        write_results(con, args.write)
        steps["write"] = time.perf_counter() - w
    seconds = time.perf_counter() - t
    result = {"seconds": seconds, "steps": steps, "summary": summary(con),
              "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
              "duckdb": duckdb.__version__}
    text = json.dumps(result, indent=2, ensure_ascii=False, default=float)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
