"""A columnar cache of workspace reads: Arrow IPC files beside the workspace, memory-mapped.

A read of a million evaluated parcels through GDAL takes seconds (a reader process turns
the GeoPackage into Arrow, :mod:`mujun.layers.reader`). The cache keeps what that reader
sent, the Arrow table and its header, as one Arrow IPC file per table and filter, in a
folder named after the workspace's generation (:meth:`~mujun.layers.workspace.Workspace.generation`):

    .<workspace name>.cache/<generation>/<table>.<filter key>.arrow

A server started again reads it memory-mapped instead: the frame is made of the same Arrow
table by the same conversion (:func:`~mujun.layers.reader.arrow_frame`), so it is the
frame GDAL gives, value for value. An import or evaluation gives the workspace a new
generation, so nothing cached before it is read again; folders of other generations are
removed once a file of the new one is written. Files are written to a temporary name and
renamed, so a reader sees a whole file or none. A folder that cannot be written (a
read-only share) costs only the speed: the read is served from GDAL and a line is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Collection
from pathlib import Path

import pandas as pd
import pyarrow as pa

from mujun.layers.reader import arrow_frame, read_arrow

__all__ = ["ColumnCache", "cache_dir"]

log = logging.getLogger(__name__)

#: Schema metadata key holding the reader's header (JSON).
_HEADER = b"mujun.reader"
_FOLDER = re.compile(r"^[\w-]+$")


def cache_dir(workspace: str | Path) -> Path:
    """The default cache folder of a workspace: ``.<name>.cache`` beside it."""
    ws = Path(workspace)
    return ws.parent / f".{ws.name}.cache"


def _token(generation: str) -> str:
    return re.sub(r"[^\w-]", "_", generation)


class ColumnCache:
    """Arrow IPC copies of workspace reads under ``root``, one folder per generation.

    Parameters
    ----------
    root : path
        The cache folder (made on the first write).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._swept: set[str] = set()
        self._warned = False

    def __repr__(self) -> str:
        return f"ColumnCache({str(self.root)!r})"

    def path(self, generation: str, name: str, where: str | None) -> Path:
        """The file of table ``name`` read with filter ``where`` in ``generation``."""
        key = hashlib.sha1((where or "").encode()).hexdigest()[:12]
        return self.root / _token(generation) / f"{name}.{key}.arrow"

    def read(self, workspace: Path, generation: str, name: str, where: str | None,
             fresh: Callable[[], str], reader: Callable[[], tuple[dict, pa.Table]] | None = None,
             dates: Collection[str] = ()) -> pd.DataFrame:
        """Table ``name`` of ``workspace`` (filtered by ``where``) from the cache, else read by
        GDAL (or ``reader``, which reads the same) and cached, as long as ``fresh()`` still
        gives ``generation`` after the read (a write in between would otherwise be cached
        under the old generation). ``dates``: as :func:`~mujun.layers.reader.arrow_frame`'s."""
        path = self.path(generation, name, where)
        cached = self._load(path)
        if cached is not None:
            return arrow_frame(*cached, dates=dates)
        header, table = reader() if reader is not None else read_arrow(workspace, name, where=where)
        if fresh() == generation:
            self._store(path, header, table)
        return arrow_frame(header, table, dates=dates)

    def columns(self, generation: str, name: str, where: str | None, columns: list[str]) -> pd.DataFrame | None:
        """Just ``columns`` (attribute columns) of a cached read, ``None`` if it is not cached.
        Memory-mapped: only those columns' pages are read from disk."""
        cached = self._load(self.path(generation, name, where))
        if cached is None:
            return None
        header, table = cached
        if any(c not in table.column_names for c in columns):
            return None
        return table.select(columns).to_pandas()

    def rows(self, generation: str, name: str, where: str | None) -> int | None:
        """Rows of a cached read (from the file's footer, nothing read), ``None`` if it is not cached."""
        cached = self._load(self.path(generation, name, where))
        return None if cached is None else cached[1].num_rows

    def _load(self, path: Path) -> tuple[dict, pa.Table] | None:
        try:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowInvalid) as err:  # damaged or half-removed: read from the workspace
            log.warning("column cache %s not read: %s", path, err)
            return None
        header = json.loads(table.schema.metadata[_HEADER])
        return header, table.replace_schema_metadata(None)

    def _store(self, path: Path, header: dict, table: pa.Table) -> None:
        """Write ``table`` to ``path`` atomically; log once and go on if it cannot be written."""
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        meta = {**(table.schema.metadata or {}), _HEADER: json.dumps(header, ensure_ascii=False).encode()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with pa.OSFile(str(tmp), "wb") as sink, \
                    pa.ipc.new_file(sink, table.schema.with_metadata(meta)) as writer:
                writer.write_table(table)
            os.replace(tmp, path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if not self._warned:
                self._warned = True
                log.warning("column cache not written (%s): %s; reads go to the workspace", path.parent, err)
            return
        self._sweep(path.parent.name)

    def _sweep(self, current: str) -> None:
        """Remove, in the background, the folders of other generations."""
        with self._lock:
            if current in self._swept:
                return
            self._swept.add(current)
        try:
            stale = [p for p in self.root.iterdir() if p.is_dir() and p.name != current and _FOLDER.match(p.name)]
        except OSError:
            return
        if stale:
            threading.Thread(target=lambda: [shutil.rmtree(p, ignore_errors=True) for p in stale],
                             name="mujun-column-sweep", daemon=True).start()
