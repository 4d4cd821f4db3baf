"""GDAL's reads of a live workspace, done in a process of their own.

pyogrio's GDAL carries its own copy of SQLite beside the one Python's ``sqlite3`` uses. Two
copies of SQLite that open one database file in one process do not see each other's POSIX
locks, and closing the file in one releases the locks the other holds ("How To Corrupt An
SQLite Database File", §2.2.1): a review save in one thread and a read in another then
read and write through each other. So in a mujun process the live workspace is opened by
Python's ``sqlite3`` only (users, review decisions, metadata, the copy a write starts from);
its tables and layers are read by GDAL — which turns a million rows into Arrow far faster
than Python can — in a reader process, which streams them back as Arrow IPC. The parent
turns the stream into the frame ``pyogrio.read_dataframe(..., use_arrow=True)`` would
have given, value for value.

Each reader process serves one request at a time; idle ones are kept for the next read
and a busy parent (a web server's threads) starts more, up to :data:`MAX_READERS`. A reader
ends when its parent does (its standard input closes).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa

from mujun.geo.errors import WorkspaceError

__all__ = ["MAX_READERS", "arrow_frame", "prestart", "read_arrow", "read_table"]

#: Reader processes one parent keeps at most (each serves one read at a time).
MAX_READERS = 4
#: Rows a reader hands over at a time.
BATCH_ROWS = 65_536


# -- the reader process -------------------------------------------------------------------
def _send(out: BinaryIO, header: dict) -> None:
    out.write(json.dumps(header, ensure_ascii=False).encode() + b"\n")
    out.flush()


def _serve(requests: BinaryIO, out: BinaryIO) -> None:
    """Answer read requests (one JSON line each) until ``requests`` closes: a JSON header
    line, then, if it says ``ok``, the table as one Arrow IPC stream."""
    import warnings

    import pyogrio

    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pyogrio")
    for line in requests:
        req = json.loads(line)
        try:
            opened = pyogrio.open_arrow(req["path"], layer=req["layer"], where=req.get("where"),
                                        columns=req.get("columns"), sql=req.get("sql"),
                                        read_geometry=req.get("geometry", True), use_pyarrow=True,
                                        datetime_as_string=True, batch_size=BATCH_ROWS)
            meta, reader = opened.__enter__()
        except Exception as err:  # the parent words the error for the user
            _send(out, {"ok": False, "error": f"{type(err).__name__}: {err}"})
            continue
        try:
            _send(out, {"ok": True, "crs": meta["crs"], "fields": [str(f) for f in meta["fields"]],
                        "dtypes": [None if d is None else str(d) for d in meta["dtypes"]],
                        "geometry_name": meta["geometry_name"]})
            with pa.ipc.new_stream(out, reader.schema) as stream:
                for batch in reader:
                    stream.write_batch(batch)
            out.flush()
        except BaseException:
            # half a stream cannot be taken back: end, and the parent reports a failed read
            os._exit(1)
        finally:
            opened.__exit__(None, None, None)


# -- the parent ---------------------------------------------------------------------------
class _Reader:
    def __init__(self):
        import mujun  # the folder that holds it makes mujun importable in the reader too

        root = str(Path(mujun.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # the reader ends at the end of its input
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # a failed flush of a dead reader's pipe leaves it open once
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    def read(self, path: Path, layer: str | None, where: str | None, columns: list[str] | None,
             sql: str | None = None, geometry: bool = True) -> tuple[dict, pa.Table]:
        request = {"path": str(path), "layer": layer, "where": where, "columns": columns, "sql": sql,
                   "geometry": geometry}
        self.proc.stdin.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError
        header = json.loads(line)
        if not header["ok"]:
            raise WorkspaceError(f"工作空间 {path.name} 的 '{layer or sql}' 无法读取（{header['error']}）；"
                                 "请用 QGIS 检查该文件")
        return header, pa.ipc.open_stream(self.proc.stdout).read_all()


_idle: list[_Reader] = []
_count = 0
_cond = threading.Condition()


def _take() -> _Reader:
    global _count
    with _cond:
        while True:
            while _idle:
                reader = _idle.pop()
                if reader.alive():
                    return reader
                _count -= 1
                reader.close()
            if _count < MAX_READERS:
                _count += 1
                break
            _cond.wait()
    try:
        return _Reader()
    except BaseException:
        with _cond:
            _count -= 1
            _cond.notify()
        raise


def prestart() -> None:
    """Start a reader process now and keep it idle, unless one is: a server's first read
    then finds it ready rather than waiting the half second it takes to start (it loads
    GDAL while the server loads its pages)."""
    global _count
    with _cond:
        if _idle or _count >= MAX_READERS:
            return
        _count += 1
    try:
        reader = _Reader()
    except BaseException:
        with _cond:
            _count -= 1
            _cond.notify()
        raise
    _give_back(reader, True)


def _give_back(reader: _Reader, healthy: bool) -> None:
    global _count
    keep = healthy and reader.alive()
    with _cond:
        if keep:
            _idle.append(reader)
        else:
            _count -= 1
        _cond.notify()
    if not keep:
        reader.close()


def _close_all(wait: bool = True) -> None:
    """End the idle readers: each told to end first, so that they end side by side, not one
    after another; then, with ``wait``, waited for."""
    global _count
    with _cond:
        readers, _idle[:] = list(_idle), []
        _count -= len(readers)
    for reader in readers:
        with contextlib.suppress(OSError):
            reader.proc.stdin.close()
    if wait:
        for reader in readers:
            reader.close()


# at exit the readers are told to end and each ends on its own: waiting for them to unload
# GDAL and pandas took a fifth of a second of every command's end
atexit.register(_close_all, wait=False)


def read_table(path: str | Path, layer: str | None, *, where: str | None = None,
               columns: list[str] | None = None, sql: str | None = None, geometry: bool = True,
               dates: Collection[str] = ()) -> pd.DataFrame:
    """Layer or table ``layer`` of the GeoPackage ``path``, read by GDAL in a reader process.

    Returns what ``pyogrio.read_dataframe(path, layer=layer, where=where, columns=columns,
    sql=sql, read_geometry=geometry, use_arrow=True)`` returns: a GeoDataFrame for a layer
    with geometry (column ``geometry``), else a DataFrame. With ``sql`` (SQLite SQL on the
    GeoPackage, e.g. one page of a layer: ``... ORDER BY fid LIMIT 1000``) ``layer`` is
    ignored and only the rows it selects are read.
    """
    return arrow_frame(*read_arrow(path, layer, where=where, columns=columns, sql=sql, geometry=geometry),
                       dates=dates)


def read_arrow(path: str | Path, layer: str | None, *, where: str | None = None,
               columns: list[str] | None = None, sql: str | None = None,
               geometry: bool = True) -> tuple[dict, pa.Table]:
    """What :func:`read_table` reads, as the reader process sends it: (header, Arrow table);
    :func:`arrow_frame` makes the frame of them. The header (CRS, fields, their GDAL types,
    the geometry column) is JSON."""
    path = Path(path)
    reader = _take()
    healthy = False
    try:
        header, table = reader.read(path, layer, where, columns, sql, geometry)
        healthy = True
    except WorkspaceError:
        healthy = True  # the reader answered; the request was refused
        raise
    except (EOFError, OSError, pa.ArrowInvalid, ValueError):
        raise WorkspaceError(f"读取工作空间 {path.name} 的 '{layer or sql}' 时读取进程意外退出；"
                             "请检查内存是否不足后重试") from None
    finally:
        _give_back(reader, healthy)
    return header, table


def arrow_frame(header: dict, table: pa.Table, *, dates: Collection[str] = ()) -> pd.DataFrame:
    """``table`` (from :func:`read_arrow`) as pyogrio's ``read_dataframe`` converts it
    (datetimes parsed from their ISO text, geometry from WKB). ``table`` is consumed.

    The date columns named in ``dates`` come as ``datetime64[ms]`` (midnight), converted by
    Arrow, rather than as Python ``date`` objects (a million of them take a second to parse
    again)."""
    import geopandas as gpd
    import shapely

    for name in dates:
        i = table.schema.get_field_index(name)
        if i >= 0 and pa.types.is_date(table.schema.field(i).type):
            table = table.set_column(i, name, table.column(i).cast(pa.timestamp("ms")))
    df = table.to_pandas(self_destruct=True)
    del table
    for column, dtype in zip(header["fields"], header["dtypes"], strict=True):
        if dtype is not None and dtype.startswith("datetime") and dtype != "datetime64[D]":
            df[column] = _datetimes(df[column])
    name = header["geometry_name"] or "wkb_geometry"
    if name not in df.columns:
        return df
    wkb = df.pop(name)
    if wkb.dtype != object:
        wkb = pa.array(wkb.array).to_numpy(zero_copy_only=False)
    df["geometry"] = shapely.from_wkb(wkb)
    return gpd.GeoDataFrame(df, geometry="geometry", crs=header["crs"])


def _datetimes(text: pd.Series) -> pd.Series:
    """ISO 8601 text as datetime64[ms] (mixed UTC offsets: in UTC); unparseable text stays text."""
    try:
        try:
            values = pd.to_datetime(text, format="ISO8601")
        except ValueError as err:
            if "Mixed timezones" not in str(err):
                raise
            values = pd.to_datetime(text, format="ISO8601", utc=True)
    except (ValueError, TypeError, OverflowError):
        return text
    return values.dt.as_unit("ms") if values.dtype.kind == "M" else values


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
