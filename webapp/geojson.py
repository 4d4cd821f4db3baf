"""GeoJSON text of a page of features, as RFC 7946 and OGC API – Features clients expect.

Exterior rings counter-clockwise, holes clockwise (RFC 7946 §3.1.6); each feature's ``id``
is the row's canonical id (parcel, zone or building id); coordinates rounded to what the
data can carry (7 decimals of a degree ≈ 1 cm, 3 decimals of a metre); dates as
``YYYY-MM-DD``; missing values ``null``. Serialised column-wise (Shapely's and pandas'
writers), not feature by feature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

__all__ = ["CHUNK_ROWS", "DEGREE_DECIMALS", "METRE_DECIMALS", "MEDIA_TYPE", "decimals", "feature_texts",
           "features_text", "geometry_texts", "stream"]

#: The GeoJSON media type (RFC 7946 §12).
MEDIA_TYPE = "application/geo+json"
#: Decimals kept of a coordinate in degrees (1e-7° ≈ 1 cm) and in metres (1 mm).
DEGREE_DECIMALS = 7
METRE_DECIMALS = 3
#: Features serialised at a time by :func:`stream`.
CHUNK_ROWS = 1000


def decimals(crs: pyproj.CRS) -> int:
    """Decimals worth keeping in coordinates of ``crs``.

    Examples
    --------
    >>> decimals(pyproj.CRS("EPSG:4490")), decimals(pyproj.CRS("EPSG:4549"))
    (7, 3)
    """
    return DEGREE_DECIMALS if crs.is_geographic else METRE_DECIMALS


#: Shapely's type ids -> GeoJSON type names (a GeometryCollection is written by Shapely).
_TYPES = {0: "Point", 1: "LineString", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
          6: "MultiPolygon"}
_PAIR = r"(-?[0-9.]+(?:e[-+]?[0-9]+)?) (-?[0-9.]+(?:e[-+]?[0-9]+)?)"


def geometry_texts(geometry: np.ndarray, precision: int = DEGREE_DECIMALS) -> np.ndarray:
    """GeoJSON geometry text of each geometry, coordinates rounded to ``precision`` decimals
    and written as short as they are (``120.1``, not ``120.09999999999999``); ``null`` for a
    missing or empty one.

    GEOS writes WKT rounded and trimmed; the WKT's brackets and pairs become GeoJSON's, all
    rows at once.

    Examples
    --------
    >>> geometry_texts(np.array([shapely.Point(120.123456789, 30.1), None,
    ...                          shapely.box(0, 0, 1.00000004, 1)], dtype=object)).tolist()
    ['{"type":"Point","coordinates":[120.1234568,30.1]}', 'null', '{"type":"Polygon","coordinates":[[[1,0],[1,1],[0,1],[0,0],[1,0]]]}']
    """
    geometry = np.asarray(geometry, dtype=object)
    out = np.full(len(geometry), "null", dtype=object)
    kind = shapely.get_type_id(geometry)
    simple = np.isin(kind, list(_TYPES)) & ~shapely.is_empty(geometry)
    if simple.any():
        wkt = pd.Series(shapely.to_wkt(geometry[simple], rounding_precision=precision, trim=True),
                        dtype="string[pyarrow]")
        body = (wkt.str.replace(r"^[A-Z ]+ \(", "(", regex=True).str.replace(_PAIR, r"[\1,\2]", regex=True)
                .str.replace("(", "[", regex=False).str.replace(")", "]", regex=False)
                .str.replace(", ", ",", regex=False))
        names = np.array([_TYPES[k] for k in range(7)], dtype=object)[kind[simple]]
        points = pd.Series(names == "Point")
        body = body.where(~points, body.str.slice(1, -1))  # POINT (x y): one bracket fewer
        body = np.array(body.astype(object).to_numpy(), dtype=object)
        out[simple] = '{"type":"' + names + '","coordinates":' + body + "}"
    other = (kind == 7) & ~shapely.is_empty(geometry)
    if other.any():
        rounded = shapely.transform(geometry[other], lambda c: np.round(c, precision))
        out[other] = shapely.to_geojson(rounded)
    return out


def _json_values(values: pd.Series) -> pd.Series:
    """Each value of ``values`` as JSON text."""
    if values.empty:
        return pd.Series([], index=values.index, dtype=object)
    lines = pd.DataFrame({"v": values.to_numpy()}).to_json(orient="records", lines=True, force_ascii=False,
                                                            double_precision=15)
    return pd.Series(lines.splitlines(), index=values.index).str.slice(5, -1)  # '{"v":' … '}'


def _properties(frame: pd.DataFrame) -> pd.Series:
    """Each row of ``frame`` as a JSON object (dates as ``YYYY-MM-DD``, missing ``null``)."""
    if frame.empty:
        return pd.Series("{}", index=frame.index, dtype=object)
    data = pd.DataFrame(frame)
    for c in data.columns:
        if pd.api.types.is_datetime64_any_dtype(data[c]):
            data[c] = data[c].dt.strftime("%Y-%m-%d")
    lines = data.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
    return pd.Series(lines.splitlines(), index=frame.index)


def feature_texts(frame: gpd.GeoDataFrame, ids: pd.Series | None, *, properties: list[str],
                  transform: Callable[[np.ndarray], np.ndarray] | None = None, precision: int = DEGREE_DECIMALS,
                  ) -> pd.Series:
    """One GeoJSON Feature (text) per row of ``frame``.

    Parameters
    ----------
    frame : GeoDataFrame
        Rows with geometry in lon/lat order (as GDAL reads the workspace's EPSG:4490 layers).
    ids : Series or None
        The features' ids, on ``frame``'s index (``None``: features without ``id``).
    properties : list of str
        Columns published as properties.
    transform : callable, optional
        (n, 2) lon/lat coordinates to the output CRS in its axis order; ``None``: lon/lat (CRS84).
    precision : int
        Decimals kept in coordinates.
    """
    geometry = shapely.orient_polygons(np.asarray(frame.geometry.values, dtype=object), exterior_cw=False)
    if transform is not None:
        geometry = shapely.transform(geometry, transform)
    geo = pd.Series(geometry_texts(geometry, precision), index=frame.index, dtype=object)
    head = '{"type":"Feature"' + ("" if ids is None else ',"id":' + _json_values(ids))
    return (head + ',"geometry":' + geo.astype(str)
            + ',"properties":' + _properties(frame[properties]) + "}")


def stream(frame: gpd.GeoDataFrame, ids: pd.Series | None, members: dict, **options) -> Iterator[bytes]:
    """A FeatureCollection of ``frame`` (as :func:`feature_texts` with ``options`` writes its
    features) with the top-level ``members`` after its features, as UTF-8 chunks of
    :data:`CHUNK_ROWS` features: a page of 10,000 features is never held as one text."""
    yield b'{"type":"FeatureCollection","features":['
    for start in range(0, len(frame), CHUNK_ROWS):
        part = frame.iloc[start:start + CHUNK_ROWS]
        texts = feature_texts(part, None if ids is None else ids.iloc[start:start + CHUNK_ROWS], **options)
        yield (("," if start else "") + ",".join(texts.tolist())).encode()
    rest = json.dumps(members, ensure_ascii=False)[1:-1]
    yield (("]," + rest if rest else "]") + "}").encode()


def features_text(texts: pd.Series, members: dict) -> str:
    """A FeatureCollection of the feature ``texts`` with the top-level ``members``
    (``numberReturned``, ``links`` …) after its features."""
    head = '{"type":"FeatureCollection","features":[' + ",".join(texts.tolist()) + "]"
    rest = json.dumps(members, ensure_ascii=False)[1:-1]
    return head + ("," + rest if rest else "") + "}"
