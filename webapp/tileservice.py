"""The parcel tiles of one workspace: tilesets per generation and year, the year's class
breaks (shared by /map's legend, the vector layer and the tiles) and the disk cache.

The disk cache lives in ``TILE_CACHE_DIR`` (default: ``.<workspace name>.tiles`` beside the
workspace), one folder per workspace generation and tile style; tiles are written atomically
and folders of other generations are removed once a new one is written. ``TILE_CACHE =
False`` turns it off. It holds at most ``TILE_CACHE_MAX_MB`` (:class:`TileCache`: the least
recently used tiles are removed first) and only what /map shows: tiles below
``PARCEL_MIN_ZOOM`` and ``TILE_CACHE_MAX_ZOOM`` that meet the parcels' extent and show a
parcel. Tiles off the extent are answered transparent without drawing; deeper tiles are drawn
for each request.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from flask import Flask, abort, current_app

from mujun.layers.workspace import Workspace, missing_workspace, result_table
from mujun.webapp import maps
from mujun.webapp.data import results
from mujun.webapp.tileset import ParcelTiles, empty_png, png, style_token

__all__ = ["MAX_ZOOM", "TileCache", "TileService", "cache_root", "init_app", "service"]

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


class TileCache:
    """Tile files under ``root`` (in folders named ``<generation>.<style>``), at most
    ``max_bytes`` of them, the least recently used removed first.

    The bytes on disk are counted once, by a scan on the first write, then kept up to date
    in memory, so that reading and writing a tile cost no scan. A read sets the file's
    modification time to now; a write that would pass the cap first scans the folder and
    removes the files modified longest ago until the tiles fill :attr:`LOW_WATER` of it, so
    that evictions are rare. Any number of threads may read and write. Server processes
    sharing the folder keep their own count (corrected at each eviction, which sees the
    others' tiles and reads), and files may vanish at any time: a missing file is a miss.

    Parameters
    ----------
    root : path
        The cache folder (made on the first write).
    max_bytes : int
        The cap.
    """

    #: an eviction removes tiles until they fill this share of the cap
    LOW_WATER = 0.9

    def __init__(self, root: Path, max_bytes: int):
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # the count and evictions (never held while reading)
        self._size: int | None = None  # bytes of the tiles on disk; None: not scanned yet
        self._pending = 0  # bytes of tiles being written
        self._clock = threading.Lock()
        self._last = 0

    def _now(self) -> int:
        """Nanoseconds since the epoch, strictly increasing within this process (so that two
        tiles touched one after the other are never tied)."""
        with self._clock:
            self._last = max(time.time_ns(), self._last + 1)
            return self._last

    def read(self, path: Path) -> bytes | None:
        """The tile at ``path``, marked as just used; ``None`` if it is not there."""
        try:
            with open(path, "rb") as fh:
                data = fh.read()
                now = self._now()
                with contextlib.suppress(OSError):  # a file of another user, a read-only folder: still served
                    os.utime(fh.fileno(), ns=(now, now))
        except OSError:
            return None
        return data

    def write(self, path: Path, data: bytes) -> bool:
        """Store a tile atomically (a reader sees the whole tile or none), first removing the
        least recently used ones if it would pass the cap; ``False`` if it is larger than
        the cap. Raises ``OSError`` if it cannot be written."""
        n = len(data)
        if n > self.max_bytes:  # no scan: a cap of 0 keeps nothing
            return False
        with self._lock:
            if self._size is None:
                self._size = sum(size for _, size, _ in self._files())
            if self._size + self._pending + n > self.max_bytes:
                self._evict(n)
                if self._size + self._pending + n > self.max_bytes:
                    return False
            self._pending += n
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            now = self._now()
            os.utime(tmp, ns=(now, now))
            with self._lock:  # not during a scan, which would count the tile twice
                try:
                    replaced = os.stat(path).st_size  # the same tile, written by another thread
                except FileNotFoundError:
                    replaced = 0
                os.replace(tmp, path)
                self._size += n - replaced
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                self._pending -= n
        return True

    def _evict(self, incoming: int) -> None:
        """Remove the least recently used tiles until, with ``incoming`` bytes and those
        being written, they fill :attr:`LOW_WATER` of the cap (called holding the lock)."""
        files = list(self._files())
        if not files:
            self._size = 0
            return
        mtimes, sizes, paths = (np.array(column) for column in zip(*files, strict=True))
        order = np.lexsort((paths, mtimes))  # oldest first
        excess = int(sizes.sum()) + self._pending + incoming - self.LOW_WATER * self.max_bytes
        count = min(int(np.searchsorted(np.cumsum(sizes[order]), excess)) + 1, len(order)) if excess > 0 else 0
        kept = int(sizes.sum())
        for i in order[:count]:
            try:
                os.unlink(paths[i])
            except FileNotFoundError:
                pass
            except OSError:  # not ours to remove: it still takes room
                continue
            kept -= int(sizes[i])
        self._size = kept

    def _files(self) -> Iterator[tuple[int, int, str]]:
        """(modification time in ns, bytes, path) of every tile in the cache's tile folders;
        folders and files that vanish meanwhile are skipped."""
        folders = []
        try:
            with os.scandir(self.root) as entries:
                folders = [e.path for e in entries if _CACHE_DIR_NAME.match(e.name) and e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        while folders:
            try:
                with os.scandir(folders.pop()) as entries:
                    for entry in entries:
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                folders.append(entry.path)
                            elif entry.name.endswith(".png") and not entry.name.startswith("."):
                                st = entry.stat(follow_symlinks=False)
                                yield st.st_mtime_ns, st.st_size, entry.path
                        except OSError:
                            continue
            except OSError:
                continue


class TileService:
    """Tilesets of one workspace, one per generation and year, and its disk cache.

    Parameters
    ----------
    workspace : path
        The workspace GeoPackage.
    cache : path or None
        Folder of the disk cache; ``None`` renders every request.
    max_bytes : int
        The disk cache's cap.
    cache_zoom : int
        Tiles are cached below this zoom.
    """

    def __init__(self, workspace: str | Path, cache: Path | None, *, max_bytes: int = 1 << 30,
                 cache_zoom: int = MAX_ZOOM + 1):
        self.workspace = Workspace(workspace)
        self.cache = cache
        self.disk = None if cache is None else TileCache(cache, max_bytes)
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
            raise missing_workspace(self.workspace.path) from None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        known = self._generation
        if known is None or known[0] != key:
            known = (key, re.sub(r"[^\w-]", "_", self.workspace.generation()))
            self._generation = known
        return known[1]

    def check_year(self, generation: str, year: int) -> None:
        """Answer 404 unless ``year`` was evaluated."""
        with self._lock:
            if generation not in self._years:
                self._years = {generation: results().years()}
            years = self._years[generation]
        if year not in years:
            abort(404, description=f"没有 {year} 年的评价结果；已评价年度：{'、'.join(map(str, years))}")

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
            bins = maps.breaks(results().column(result_table("parcel"), indicator, year))
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
            data = self.disk.read(path)
            if data is not None:
                return data
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
        """Write to the disk cache; a cache that cannot be written is logged, and the tile is
        still served."""
        try:
            self.disk.write(path, data)
        except OSError as err:
            current_app.logger.warning("tile cache not written (%s): %s", path, err)
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


def init_app(app: Flask) -> None:
    """Give ``app`` the :class:`TileService` of its workspace and tile settings."""
    cfg = app.config
    app.extensions["mujun_tiles"] = TileService(
        cfg["WORKSPACE"], cache_root(cfg), max_bytes=int(float(cfg["TILE_CACHE_MAX_MB"]) * (1 << 20)),
        cache_zoom=min(int(cfg["PARCEL_MIN_ZOOM"]), int(cfg["TILE_CACHE_MAX_ZOOM"]) + 1))


def service() -> TileService:
    """The :class:`TileService` of the current app."""
    return current_app.extensions["mujun_tiles"]
