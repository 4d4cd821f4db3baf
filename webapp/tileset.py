"""Evaluated parcels of one year drawn as 256 px map tiles (Web Mercator, display only) and
found by point (identify).

A :class:`ParcelTiles` is built once per workspace generation and year and then only read,
so any number of threads may render from it. A tile is first drawn as an image of parcel
numbers (0 = no parcel), then coloured through the indicator's palette. How it is drawn
depends on how large the parcels are at the tile's zoom (``px`` = median parcel width in
pixels), so that no tile ever draws more than a few thousand shapes:

- ``px`` ≥ :data:`POLYGON_PX`: polygons, with ``rasterio.features.rasterize``;
- below that, down to the overview zoom: parcel bounding boxes drawn with NumPy (a box of
  a few pixels cannot be told from the polygon), polygons only for the rare large parcel;
- at and below the overview zoom (``px`` ≤ :data:`OVERVIEW_PX`): a slice of an overview
  pyramid of every parcel, drawn once when first needed.

Outlines are the edges between different parcel numbers, once parcels are wide enough.
"""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Callable

import geopandas as gpd
import mercantile
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from PIL import Image
from rasterio.features import rasterize

from mujun.webapp import maps

__all__ = ["TILE", "ParcelTiles", "empty_png", "png", "style_token", "web_mercator"]

TILE = 256
#: the vector layer's fill opacity (0.75) and outline (#444, opacity 0.85)
FILL_ALPHA = 191
STROKE = (0x44, 0x44, 0x44, 217)
#: median parcel width in pixels from which tiles draw polygons rather than boxes
POLYGON_PX = 12.0
#: ... from which parcels get outlines
OUTLINE_PX = 4.0
#: ... at or below which tiles are cut from the overview image
OVERVIEW_PX = 2.0
#: boxes this wide or wider are drawn as polygons
BOX_MAX_PX = 16
#: the overview image never holds more pixels than this (int32: 64 MiB)
OVERVIEW_MAX_PIXELS = 1 << 24
#: ground units: metres of Web Mercator per pixel at zoom 0
_RES0 = mercantile.CE / TILE
_HALF = mercantile.CE / 2
# rasterio silences its own NotGeoreferencedWarning for in-memory datasets with
# warnings.catch_warnings, which is not thread-safe: concurrent calls leak the warning
_RASTERIZE = threading.Lock()


def style_token() -> str:
    """A short token of everything that decides a tile's look (colours, opacities, levels),
    so cached tiles drawn by another version of this module are never served."""
    import hashlib

    text = repr((maps.RAMP, maps.NO_DATA, maps.CLASS_COLORS, maps.FLAG_COLORS, FILL_ALPHA, STROKE, POLYGON_PX,
                 OUTLINE_PX, OVERVIEW_PX, BOX_MAX_PX, OVERVIEW_MAX_PIXELS, sorted(maps.COLOR_BY)))
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an RGBA image (fast zlib level: tiles are small and served often)."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG", compress_level=1)
    return buf.getvalue()


_EMPTY: bytes | None = None


def empty_png() -> bytes:
    """A fully transparent tile."""
    global _EMPTY
    if _EMPTY is None:
        _EMPTY = png(np.zeros((TILE, TILE, 4), np.uint8))
    return _EMPTY


def _rgb(hex_colors: pd.Index) -> np.ndarray:
    """(n, 3) uint8 of ``#rrggbb`` strings."""
    text = hex_colors.astype(str).str.lstrip("#")
    return np.stack([text.str[i:i + 2].map(lambda h: int(h, 16)).to_numpy() for i in (0, 2, 4)], axis=1) \
        .astype(np.uint8)


def web_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator (EPSG:3857) metres of lon/lat, vectorised; what ``mercantile.xy`` gives
    for one point. Display only: CGCS2000 is taken as WGS 84 (centimetres apart). Not
    pyproj: a Transformer used in a new thread (each waitress worker) is built again there,
    which costs a tile hundreds of milliseconds."""
    lat = np.clip(lat, -85.0511287798066, 85.0511287798066)
    return (mercantile.RE * np.radians(lon),
            mercantile.RE * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))


def _pixel_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive pixel ranges whose centres lie in [lo, hi] (pixel units); a shape that holds
    no pixel centre keeps the pixel under its middle."""
    first = np.ceil(lo - 0.5)
    last = np.floor(hi - 0.5)
    mid = np.floor((lo + hi) / 2)
    none = last < first
    return np.where(none, mid, first).astype(np.int64), np.where(none, mid, last).astype(np.int64)


def _ramp(counts: np.ndarray) -> np.ndarray:
    """0, 1, …, count − 1 for each count, one after the other."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def _draw_boxes(out: np.ndarray, x0, y0, x1, y1, values: np.ndarray) -> None:
    """Burn boxes (pixel coordinates, y down) into ``out``, one value each, vectorised: one
    flat index per covered pixel, built with ``np.repeat`` (a row per box row, then a pixel
    per row pixel)."""
    h, w = out.shape
    c0, c1 = _pixel_ranges(x0, x1)
    r0, r1 = _pixel_ranges(y0, y1)
    keep = (c1 >= 0) & (c0 < w) & (r1 >= 0) & (r0 < h)
    c0, c1 = np.maximum(c0[keep], 0), np.minimum(c1[keep], w - 1)
    r0, r1 = np.maximum(r0[keep], 0), np.minimum(r1[keep], h - 1)
    widths, heights = c1 - c0 + 1, r1 - r0 + 1
    box = np.repeat(np.arange(len(widths)), heights)  # one entry per box row
    row = r0[box] + _ramp(heights)
    of_row = np.repeat(np.arange(len(box)), widths[box])  # one entry per pixel
    col = c0[box][of_row] + _ramp(widths[box])
    np.put(out, row[of_row] * w + col, values[keep][box][of_row])


class ParcelTiles:
    """Tiles and point queries over one year's evaluated parcels.

    Parameters
    ----------
    parcels : GeoDataFrame
        ``result_parcel`` rows of one year (lon/lat, EPSG:4490); kept, not copied.
    breaks : callable, optional
        Class breaks of a numeric indicator (default: :func:`mujun.webapp.maps.breaks` of ``parcels``).
    """

    def __init__(self, parcels: gpd.GeoDataFrame, breaks: Callable[[str], list[float]] | None = None):
        self.parcels = parcels
        self._breaks = breaks or (lambda indicator: maps.breaks(parcels[indicator]))
        geoms = parcels.geometry.to_numpy()
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        self.rows = np.flatnonzero(ok)  # index position in ``parcels`` of each drawn parcel
        self.geoms = geoms[ok]
        self.tree = shapely.STRtree(self.geoms)
        lon_lat = shapely.bounds(self.geoms)
        x0, y0 = web_mercator(lon_lat[:, 0], lon_lat[:, 1])
        x1, y1 = web_mercator(lon_lat[:, 2], lon_lat[:, 3])
        # global pixel coordinates at zoom 0 (origin top left, y down)
        self.box0 = np.column_stack([(np.asarray(x0) + _HALF) / _RES0, (_HALF - np.asarray(y1)) / _RES0,
                                     (np.asarray(x1) + _HALF) / _RES0, (_HALF - np.asarray(y0)) / _RES0])
        # the parcels' bounding box (left, top, right, bottom) in the same units
        self.extent0 = np.concatenate([self.box0[:, :2].min(axis=0), self.box0[:, 2:].max(axis=0)]) \
            if len(self.box0) else None
        widths = np.maximum(self.box0[:, 2] - self.box0[:, 0], self.box0[:, 3] - self.box0[:, 1])
        self.size0 = float(np.median(widths)) if len(widths) else 1.0  # median parcel width at zoom 0
        self.polygon_zoom = self._zoom_for(POLYGON_PX, math.ceil)
        self.outline_zoom = self._zoom_for(OUTLINE_PX, math.ceil)
        self.overview_zoom = self._overview_zoom()
        self._lock = threading.Lock()
        self._colourings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._pyramid: dict[int, tuple[np.ndarray, int, int]] = {}

    def __len__(self) -> int:
        return len(self.geoms)

    # -- levels --------------------------------------------------------------------------
    def parcel_px(self, z: int) -> float:
        """Median parcel width in pixels at zoom ``z``."""
        return self.size0 * 2.0 ** z

    def _zoom_for(self, px: float, rounding) -> int:
        return int(rounding(math.log2(px / self.size0))) if self.size0 > 0 else 0

    def _overview_zoom(self) -> int:
        """The deepest zoom where parcels are at most :data:`OVERVIEW_PX` wide and the data's
        extent fits in :data:`OVERVIEW_MAX_PIXELS` (-1: no parcels)."""
        if not len(self):
            return -1
        z = min(self._zoom_for(OVERVIEW_PX, math.floor), self.polygon_zoom - 1)
        w = self.box0[:, 2].max() - self.box0[:, 0].min()
        h = self.box0[:, 3].max() - self.box0[:, 1].min()
        while z > 0 and (w * 2.0 ** z + 2) * (h * 2.0 ** z + 2) > OVERVIEW_MAX_PIXELS:
            z -= 1
        return z

    def covers(self, z: int, x: int, y: int) -> bool:
        """Whether tile (z, x, y) meets the parcels' bounding box: every pixel drawn lies in a
        parcel's box, so a tile that does not is transparent and needs no drawing."""
        if self.extent0 is None:
            return False
        left, top, right, bottom = self.extent0 * 2.0 ** z
        # one pixel of margin against rounding
        return bool(x * TILE - 1 <= right and (x + 1) * TILE + 1 >= left
                    and y * TILE - 1 <= bottom and (y + 1) * TILE + 1 >= top)

    # -- colours -------------------------------------------------------------------------
    def colouring(self, indicator: str) -> tuple[np.ndarray, np.ndarray]:
        """(lookup, palette): ``palette[lookup[n]]`` is the RGBA of parcel number ``n`` (0: none).

        Colours are the vector layer's and the legend's (:func:`mujun.webapp.maps.styled_parcels`
        with the year's quantile breaks).
        """
        with self._lock:
            if indicator not in self._colourings:
                frame = self.parcels
                kind = maps.COLOR_BY[indicator][2]
                bins = self._breaks(indicator) if kind == "numeric" else []
                colours = maps.styled_parcels(frame, indicator, bins).to_numpy()[self.rows]
                codes, uniques = pd.factorize(colours)
                palette = np.zeros((len(uniques) + 1, 4), np.uint8)
                if len(uniques):
                    palette[1:, :3] = _rgb(pd.Index(uniques))
                    palette[1:, 3] = FILL_ALPHA
                lookup = np.concatenate([[0], codes + 1]).astype(np.uint8 if len(uniques) < 255 else np.int32)
                self._colourings[indicator] = (lookup, palette)
            return self._colourings[indicator]

    # -- drawing -------------------------------------------------------------------------
    def numbers(self, z: int, x: int, y: int) -> np.ndarray:
        """(256, 256) int32 image of parcel numbers (position in :attr:`rows` + 1; 0: none)."""
        out = np.zeros((TILE, TILE), np.int32)
        if not len(self):
            return out
        if z <= self.overview_zoom:
            self._from_overview(out, z, x, y)
            return out
        w, s, e, n = mercantile.bounds(x, y, z)
        hits = self.tree.query(shapely.box(w, s, e, n))
        if len(hits):
            self._burn(out, hits, z, x * TILE, y * TILE)
        return out

    def _burn(self, out: np.ndarray, hits: np.ndarray, z: int, left: float, top: float) -> None:
        """Draw parcels ``hits`` into ``out`` whose top left is global pixel (left, top) at ``z``."""
        scale = 2.0 ** z
        box = self.box0[hits] * scale - [left, top, left, top]
        # a box as wide as BOX_MAX_PX may hold 17 pixel centres; at the polygon level, parcels
        # under 2 px stay boxes, else those holding no pixel centre would vanish
        span = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
        polygons = span >= (2 if z >= self.polygon_zoom else BOX_MAX_PX)
        if (~polygons).any():
            small = ~polygons
            _draw_boxes(out, box[small, 0], box[small, 1], box[small, 2], box[small, 3], hits[small] + 1)
        if polygons.any():
            def mercator(xy: np.ndarray) -> np.ndarray:
                return np.column_stack(web_mercator(xy[:, 0], xy[:, 1]))

            idx = hits[polygons]
            res = _RES0 / scale
            pixels = Affine(res, 0.0, left * res - _HALF, 0.0, -res, _HALF - top * res)
            # GeoJSON dicts parsed in one go: much faster than each geometry's __geo_interface__
            text = shapely.to_geojson(shapely.transform(self.geoms[idx], mercator))
            shapes = json.loads("[" + ",".join(text.tolist()) + "]")
            with _RASTERIZE:
                rasterize(zip(shapes, (idx + 1).tolist(), strict=True), out=out, transform=pixels, fill=0)

    def _overview(self, z: int) -> tuple[np.ndarray, int, int]:
        """(image, left, top) of every parcel at zoom ``z`` ≤ the overview zoom: drawn once at
        the overview zoom, each zoom below by keeping one parcel of every 2 × 2 pixels (so
        that no parcel vanishes at small scales)."""
        with self._lock:
            if not self._pyramid:
                zo = self.overview_zoom
                scale = 2.0 ** zo
                left = int(math.floor(self.box0[:, 0].min() * scale)) - 1
                top = int(math.floor(self.box0[:, 1].min() * scale)) - 1
                width = int(math.ceil(self.box0[:, 2].max() * scale)) - left + 2
                height = int(math.ceil(self.box0[:, 3].max() * scale)) - top + 2
                image = np.zeros((height, width), np.int32)
                self._burn(image, np.arange(len(self)), zo, left, top)
                self._pyramid[zo] = (image, left, top)
            while z not in self._pyramid:
                image, left, top = self._pyramid[min(self._pyramid)]
                # pad to even offsets and sizes, then the largest number of each 2 × 2 block
                pl, pt = left % 2, top % 2
                pr, pb = (image.shape[1] + pl) % 2, (image.shape[0] + pt) % 2
                image = np.pad(image, ((pt, pb), (pl, pr)))
                h, w = image.shape
                self._pyramid[min(self._pyramid) - 1] = (image.reshape(h // 2, 2, w // 2, 2).max(axis=(1, 3)),
                                                         (left - pl) // 2, (top - pt) // 2)
            return self._pyramid[z]

    def _from_overview(self, out: np.ndarray, z: int, x: int, y: int) -> None:
        """Copy the part of the overview at zoom ``z`` that falls in tile (z, x, y)."""
        image, left, top = self._overview(z)
        c0, r0 = x * TILE - left, y * TILE - top
        cs, rs = max(c0, 0), max(r0, 0)
        ce, re_ = min(c0 + TILE, image.shape[1]), min(r0 + TILE, image.shape[0])
        if cs < ce and rs < re_:
            out[rs - r0:re_ - r0, cs - c0:ce - c0] = image[rs:re_, cs:ce]

    def rgba(self, z: int, x: int, y: int, indicator: str) -> np.ndarray | None:
        """(256, 256, 4) uint8 tile coloured by ``indicator``; ``None`` when it shows nothing."""
        numbers = self.numbers(z, x, y)
        if not numbers.any():
            return None
        lookup, palette = self.colouring(indicator)
        # one 4-byte word per pixel: a quarter of the indexing work of an (n, 4) palette
        words = palette.view(np.uint32).ravel()[lookup[numbers]]
        if z >= self.outline_zoom:
            words[_edges(numbers)] = np.array(STROKE, np.uint8).view(np.uint32)[0]
        return words.view(np.uint8).reshape(TILE, TILE, 4)

    # -- identify ------------------------------------------------------------------------
    def identify(self, lon: float, lat: float) -> int | None:
        """Position in :attr:`parcels` of the parcel under (lon, lat), the smallest if several."""
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        if not len(hits):
            return None
        rows = self.rows[hits]
        area = pd.to_numeric(self.parcels["area_mu"].to_numpy()[rows], errors="coerce") \
            if "area_mu" in self.parcels.columns else np.zeros(len(rows))
        return int(rows[np.argmin(np.nan_to_num(area, nan=np.inf))])


def _edges(numbers: np.ndarray) -> np.ndarray:
    """Pixels of a parcel next to another parcel or to nothing: one pixel wide lines (on the
    first pixel of a change, or on the second one if the first is empty)."""
    edge = np.zeros(numbers.shape, bool)
    down = numbers[:-1, :] != numbers[1:, :]
    edge[:-1, :] |= down
    edge[1:, :] |= down & (numbers[:-1, :] == 0)
    right = numbers[:, :-1] != numbers[:, 1:]
    edge[:, :-1] |= right
    edge[:, 1:] |= right & (numbers[:, :-1] == 0)
    return edge & (numbers > 0)
