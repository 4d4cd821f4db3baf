"""Parcel map tiles under /tiles/: 256 px PNGs rendered from the evaluated parcels, cached on
disk per workspace generation, and the parcel under a clicked point (identify).

- ``GET /tiles/parcels/<year>/<indicator>/<z>/<x>/<y>.png``: the parcels of ``year`` coloured
  by ``indicator`` (a key of :data:`webapp.maps.COLOR_BY`) with the year's class breaks, as on
  the vector layer and the legend; transparent where there is no parcel. ``?v=<generation>``
  (what /map asks for) lets the browser keep the tile while the workspace is unchanged.
- ``GET /tiles/identify?year=&lon=&lat=``: the parcel there, with the vector layer's popup.

The disk cache lives in ``TILE_CACHE_DIR`` (default: ``.<workspace name>.tiles`` beside the
workspace), one folder per workspace generation and tile style; tiles are written atomically
and folders of other generations are removed once a new one is written. ``TILE_CACHE =
False`` turns it off. Only what /map shows is cached: tiles below ``PARCEL_MIN_ZOOM`` and
``TILE_CACHE_MAX_ZOOM`` that meet the parcels' extent and show a parcel. Tiles off the extent
are answered transparent without drawing; deeper tiles are drawn for each request. Errors are
JSON with a Chinese message.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request

from geo.errors import InputError, MujunError, WorkspaceError
from layers.workspace import Workspace
from webapp import maps, results
from webapp.errors import STATUS
from webapp.tileset import ParcelTiles, empty_png, png, style_token

__all__ = ["MAX_ZOOM", "TileService", "bp", "cache_root"]

bp = Blueprint("tiles", __name__, url_prefix="/tiles")

MAX_ZOOM = 22
_CACHE_DIR_NAME = re.compile(r"^[\w-]+\.[0-9a-f]{8}$")  # <generation>.<style>


def cache_root(config) -> Path | None:
    """The tile cache folder of an app's settings (``None``: no disk cache)."""
    if not config.get("TILE_CACHE", True):
        return None
    if config.get("TILE_CACHE_DIR"):
        return Path(config["TILE_CACHE_DIR"])
    ws = Path(config["WORKSPACE"])
    return ws.parent / f".{ws.name}.tiles"


class TileService:
    """Tilesets of one workspace, one per generation and year, and its disk cache.

    Parameters
    ----------
    workspace : path
        The workspace GeoPackage.
    cache : path or None
        Folder of the disk cache; ``None`` renders every request.
    cache_zoom : int
        Tiles are cached below this zoom.
    """

    def __init__(self, workspace: str | Path, cache: Path | None, *, cache_zoom: int = MAX_ZOOM + 1):
        self.workspace = Workspace(workspace)
        self.cache = cache
        self.cache_zoom = cache_zoom
        self.style = style_token()
        self._lock = threading.Lock()
        self._tilesets: dict[tuple[str, int], ParcelTiles] = {}
        self._years: dict[str, list[int]] = {}
        self._breaks: dict[tuple[str, int, str], list[float]] = {}
        self._swept: set[str] = set()
        self._generation: tuple[tuple[int, int, int], str] | None = None  # (file stat, token)

    def generation(self) -> str:
        """The workspace's generation token, read again only when the file changed on disk
        (reading it opens the GeoPackage: milliseconds, more than serving a cached tile)."""
        try:
            st = os.stat(self.workspace.path)
        except OSError:
            raise WorkspaceError(f"工作空间 {self.workspace.path} 不存在；请先运行 mujun demo 或导入数据后 mujun evaluate") \
                from None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        known = self._generation
        if known is None or known[0] != key:
            known = (key, re.sub(r"[^\w-]", "_", self.workspace.generation()))
            self._generation = known
        return known[1]

    def check_year(self, generation: str, year: int) -> None:
        """Raise a 404 error unless ``year`` was evaluated."""
        with self._lock:
            if generation not in self._years:
                self._years = {generation: results().years()}
            years = self._years[generation]
        if year not in years:
            raise WorkspaceError(f"没有 {year} 年的评价结果；已评价年度：{'、'.join(map(str, years))}")

    def tileset(self, generation: str, year: int) -> ParcelTiles:
        """The tileset of ``year`` (built on first use; other generations' are dropped)."""
        self.check_year(generation, year)
        key = (generation, year)
        with self._lock:
            if key not in self._tilesets:
                self._tilesets = {k: v for k, v in self._tilesets.items() if k[0] == generation}
                self._tilesets[key] = ParcelTiles(results().results("parcel", year),
                                                  breaks=lambda indicator: self.breaks(generation, year, indicator))
            return self._tilesets[key]

    def breaks(self, generation: str, year: int, indicator: str) -> list[float]:
        """Class breaks of a numeric indicator over the year's parcels, computed once per
        generation (a second at a million parcels): /map's legend and the tiles share them."""
        key = (generation, year, indicator)
        with self._lock:
            bins = self._breaks.get(key)
        if bins is None:
            bins = maps.breaks(results().results("parcel", year)[indicator])
            with self._lock:
                self._breaks = {k: v for k, v in self._breaks.items() if k[0] == generation}
                self._breaks[key] = bins
        return bins

    def path(self, generation: str, year: int, indicator: str, z: int, x: int, y: int) -> Path | None:
        """Where the tile is cached (``None`` without a disk cache or when tiles of zoom ``z``
        are not cached)."""
        if self.cache is None or z >= self.cache_zoom:
            return None
        return self.cache / f"{generation}.{self.style}" / str(year) / indicator / str(z) / str(x) / f"{y}.png"

    def tile(self, generation: str, year: int, indicator: str, z: int, x: int, y: int) -> bytes:
        """PNG bytes of a tile, from the disk cache when there, else rendered (and cached
        unless it is transparent)."""
        path = self.path(generation, year, indicator, z, x, y)
        if path is not None:
            try:
                return path.read_bytes()
            except OSError:
                pass
        tiles = self.tileset(generation, year)
        if not tiles.covers(z, x, y):
            return empty_png()
        image = tiles.rgba(z, x, y, indicator)
        if image is None:
            return empty_png()
        data = png(image)
        if path is not None:
            self._store(path, data, generation)
        return data

    def _store(self, path: Path, data: bytes, generation: str) -> None:
        """Write atomically (a reader sees the whole tile or none); a cache that cannot be
        written is logged, and the tile is still served."""
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as err:
            current_app.logger.warning("tile cache not written (%s): %s", path, err)
            tmp.unlink(missing_ok=True)
            return
        self._sweep(f"{generation}.{self.style}")

    def _sweep(self, current: str) -> None:
        """Remove, in the background, cache folders of other generations or tile styles."""
        with self._lock:
            if current in self._swept:
                return
            self._swept.add(current)
        stale = [p for p in self.cache.iterdir() if p.is_dir() and p.name != current and _CACHE_DIR_NAME.match(p.name)]
        if stale:
            threading.Thread(target=lambda: [shutil.rmtree(p, ignore_errors=True) for p in stale],
                             name="mujun-tile-sweep", daemon=True).start()


@bp.record_once
def _setup(state) -> None:
    app = state.app
    cfg = app.config
    app.extensions["mujun_tiles"] = TileService(
        cfg["WORKSPACE"], cache_root(cfg),
        cache_zoom=min(int(cfg["PARCEL_MIN_ZOOM"]), int(cfg["TILE_CACHE_MAX_ZOOM"]) + 1))


def service() -> TileService:
    """The :class:`TileService` of the current app."""
    return current_app.extensions["mujun_tiles"]


@bp.errorhandler(MujunError)
def _error(err: MujunError):
    status = next(code for cls, code in STATUS if isinstance(err, cls))
    title = {400: "请求有误", 404: "没有找到"}.get(status, "错误")
    return jsonify({"error": {"status": status, "title": title, "message": str(err)}}), status


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name} 应为整数，收到 '{text}'") from None


def _indicator(text: str) -> str:
    if text not in maps.COLOR_BY:
        raise WorkspaceError(f"未知的着色字段 '{text}'；可用：{', '.join(maps.COLOR_BY)}")
    return text


@bp.route("/parcels/<year>/<indicator>/<z>/<x>/<y>.png")
def parcel_tile(year: str, indicator: str, z: str, x: str, y: str):
    """A 256 px PNG tile of the parcels of ``year`` coloured by ``indicator``."""
    year_, z_, x_, y_ = (_integer(n, v) for n, v in (("年度", year), ("z", z), ("x", x), ("y", y)))
    indicator = _indicator(indicator)
    if not 0 <= z_ <= MAX_ZOOM:
        raise WorkspaceError(f"没有第 {z_} 级的瓦片；级别应在 0 到 {MAX_ZOOM} 之间")
    if not (0 <= x_ < 2 ** z_ and 0 <= y_ < 2 ** z_):
        raise WorkspaceError(f"第 {z_} 级没有瓦片 {x_}/{y_}；x、y 应在 0 到 {2 ** z_ - 1} 之间")
    svc = service()
    generation = svc.generation()
    data = svc.tile(generation, year_, indicator, z_, x_, y_)
    response = Response(data, mimetype="image/png")
    # a URL naming the current generation never changes its tile; any other is checked each time
    response.headers["Cache-Control"] = ("private, max-age=86400, immutable" if request.args.get("v") == generation
                                         else "no-cache")
    return response


def _float(name: str, low: float, high: float) -> float:
    text = request.args.get(name, "").strip()
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} 应为经纬度数字，收到 '{text}'") from None
    if not low <= value <= high:
        raise InputError(f"{name} 应在 {low} 到 {high} 之间，收到 {value}")
    return value


@bp.route("/identify")
def identify():
    """The parcel of ``year`` under (``lon``, ``lat``) with its popup, 404 if none is there."""
    svc = service()
    generation = svc.generation()
    year = _integer("年度", request.args.get("year", "").strip())
    lon, lat = _float("lon", -180, 180), _float("lat", -90, 90)
    tiles = svc.tileset(generation, year)
    position = tiles.identify(lon, lat)
    if position is None:
        raise WorkspaceError(f"{year} 年在（{lon:.6f}, {lat:.6f}）处没有地块")
    row = tiles.parcels.iloc[[position]]
    popup, tooltip = maps.linked_parcel_popups(row)
    return jsonify({"year": year, "parcel_id": str(row["parcel_id"].iloc[0]), "popup": popup.iloc[0],
                    "tooltip": tooltip.iloc[0]})
