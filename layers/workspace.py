"""The workspace: one GeoPackage holding every layer and result table.

QGIS opens it as it is: polygon layers are EPSG:4490 MultiPolygon layers, tables are
GeoPackage attribute tables. Writes are atomic: :meth:`Workspace.write` works on a copy
beside the file and moves it into place only when every table is written, so a failed or
refused operation leaves the workspace byte-for-byte as it was. A write of a few tables (an
enterprise table, a park layer) is not worth a copy of a province's layers: its tables are
written into a scratch file and brought in by one SQLite transaction, which leaves the
workspace as it was just as surely (:meth:`Workspace.staged`).

User accounts are not kept here but in a file of their own beside it
(:mod:`mujun.layers.accounts`), so a shared or copied workspace carries no password hashes.

One SQLite library per file in a process: in a mujun process the live workspace is opened by
Python's ``sqlite3`` only — layer lists, metadata, review decisions and the copy a
write starts from. Its tables are read by GDAL in a reader process (:mod:`mujun.layers.reader`),
because pyogrio's GDAL brings a second copy of SQLite, and two copies in one process break
each other's locks. GDAL writes the scratch copy (or scratch file), which only the writing
process knows of; ``sqlite3`` opens it before GDAL does (the copy) and after GDAL has closed
it (the review tables brought over, the check, the tables brought in), never at the same
time.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, TypeVar
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.geo.errors import WorkspaceError
from mujun.layers import gpkg
from mujun.layers.columnar import ColumnCache, cache_dir
from mujun.layers.reader import arrow_frame, read_arrow, read_table
from mujun.layers.schema import FIELDS_BY_NAME, KINDS
from mujun.layers.steps import InlineSteps, ProcessSteps
from mujun.layers.writer import (
    arrow_table,
    changed_keyed_rows,
    changed_rows,
    save_table,
    sqlite_values,
    stored_with_ids,
    table_schema,
    write_saved,
    write_table,
)

_logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_NAME", "KEPT_TABLES", "LAYER_GENERATION", "META_TABLE", "StagedWrite", "Workspace",
           "immediate_transaction", "kept_tables",
           "missing_workspace", "not_evaluated", "result_table", "sql_literal"]

T = TypeVar("T")

DEFAULT_NAME = "mujun.gpkg"
META_TABLE = "mujun_meta"
LOG_TABLE = "mujun_import_log"
#: Metadata key prefix of the generation each table was last written in
#: (``layer_generation:parcels``): what was computed from a layer can be keyed on it.
LAYER_GENERATION = "layer_generation:"
#: Tables saved in place (review decisions and their log), never by :meth:`Workspace.write`;
#: also the account tables workspaces used to hold, so a write that started before
#: :func:`mujun.layers.accounts.migrate` moved them out cannot bring them back.
IN_PLACE_TABLES = ("mujun_users", "mujun_login_failures", "mujun_sessions", "mujun_review", "mujun_review_log")
#: Tables :meth:`Workspace.read` never takes from a :class:`ColumnCache`: those saved in place
#: change without a new generation; metadata and the log, small and read as they are.
_UNCACHED = frozenset((*IN_PLACE_TABLES, META_TABLE, LOG_TABLE))


@contextlib.contextmanager
def immediate_transaction(con: sqlite3.Connection, what: str, timeout: float) -> Iterator[sqlite3.Connection]:
    """A write transaction on ``con`` (opened with ``isolation_level=None``), which it closes:
    ``BEGIN IMMEDIATE`` serialises writers, who wait up to ``timeout`` seconds (a busy file is
    reported naming ``what``); commits, or rolls back on any error."""
    try:
        con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise WorkspaceError(f"{what} 繁忙，{timeout:.0f} 秒内未能保存（{err}）；请稍后重试") from None
        yield con
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def missing_workspace(path: str | Path) -> WorkspaceError:
    """The error for a workspace file that does not exist (one wording everywhere)."""
    return WorkspaceError(f"工作空间 {path} 不存在；请先导入数据（mujun import）或运行 mujun demo，"
                          "或用 --workspace 指定工作空间文件")


def not_evaluated(path: str | Path) -> WorkspaceError:
    """The error for a workspace without evaluation results (one wording everywhere)."""
    return WorkspaceError(f"工作空间 {path} 还没有评价结果；请先运行 mujun evaluate")


def sql_literal(value: object) -> str:
    """``value`` as an SQLite literal: numbers as they are, text quoted.

    Examples
    --------
    >>> sql_literal("O'Brien"), sql_literal(3), sql_literal(2.5), sql_literal(None)
    ("'O''Brien'", '3', '2.5', 'NULL')
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def result_table(level: str) -> str:
    """Name of the result table of a level: ``result_parcel`` …"""
    return f"result_{level}"


class Workspace:
    """A mujun workspace (GeoPackage file).

    Parameters
    ----------
    path : str or Path
        The ``.gpkg`` file; it need not exist yet.
    cache : ColumnCache, optional
        Where :meth:`read` keeps Arrow copies of what it reads, per generation
        (:mod:`mujun.layers.columnar`); without it every read goes to GDAL.
    """

    def __init__(self, path: str | Path, *, cache: ColumnCache | None = None):
        self.path = Path(path)
        self.cache = cache

    @classmethod
    def resolve(cls, path: str | Path | None = None) -> Workspace:
        """``path``, else ``$MUJUN_WORKSPACE``, else ``./mujun.gpkg``."""
        chosen = path or os.environ.get("MUJUN_WORKSPACE") or DEFAULT_NAME
        return cls(Path(chosen))

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # -- reading --------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def layers(self) -> list[str]:
        """Names of the layers and tables in the workspace (those GeoPackage registers, in
        the order it lists them, as GDAL and QGIS list them)."""
        if not self.exists():
            return []
        try:
            rows = self._rows("SELECT table_name FROM gpkg_contents WHERE table_name IN "
                              "(SELECT name FROM sqlite_master WHERE type IN ('table', 'view')) "
                              "ORDER BY data_type != 'features', rowid")
        except sqlite3.Error as err:
            raise WorkspaceError(f"工作空间 {self.path} 无法打开（{err}）；它是 GeoPackage 文件吗？") from None
        return [str(n) for (n,) in rows]

    def count(self, name: str) -> int:
        """Rows of a layer or table."""
        if not self.has(name):
            raise WorkspaceError(f"工作空间 {self.path} 中没有 '{name}'")
        return int(self.query(f'SELECT count(*) FROM "{name}"')[0][0])

    def has(self, name: str) -> bool:
        return name in self.layers()

    def read(self, name: str, *, where: str | None = None, geometry: bool = True) -> pd.DataFrame:
        """A layer (GeoDataFrame) or table (DataFrame), with schema types restored.

        The per-parcel and per-building results are stored without geometry
        (:data:`gpkg.SHARED_GEOMETRY <mujun.layers.gpkg.SHARED_GEOMETRY>`); they are read
        with the outlines of their source layer (or its snapshot), as GeoDataFrames.

        Parameters
        ----------
        name : str
        where : str, optional
            An SQL ``WHERE`` clause (e.g. ``"year = 2024"``).
        geometry : bool
            ``False`` reads the figures alone (a DataFrame): of a layer, without its
            outlines; of a shared result table, without its source layer's.
        """
        if not self.has(name):
            hint = f"mujun import {name} 文件" if name in KINDS else "mujun evaluate"
            raise WorkspaceError(f"工作空间 {self.path} 中没有 '{name}'；请先运行 {hint}")
        shared = self._shared_reads(name, where) if geometry else None
        reader = None if shared is None else functools.partial(_read_parts, self.path, shared)
        if self.cache is not None and name not in _UNCACHED and geometry:
            generation = self.generation()
            return _restore_types(self.cache.read(self.path, generation, name, where, fresh=self.generation,
                                                  reader=reader, dates=_DATES))
        if reader is not None:
            return _restore_types(arrow_frame(*reader(), dates=_DATES))
        return _restore_types(read_table(self.path, name, where=where, geometry=geometry, dates=_DATES))

    def read_kept(self, name: str, cache: ColumnCache, key: str, fresh: Callable[[], str]) -> pd.DataFrame:
        """:meth:`read` of the figures of ``name`` (``geometry=False``) from ``cache``, kept
        under ``key`` rather than the workspace's generation: for a table whose contents ``key``
        fixes, as the geometry stage's key fixes the parcels' and its own table's (a write of
        any other table leaves it valid). Read by GDAL and kept when not there, if ``fresh()``
        still gives ``key`` after the read."""
        if not self.has(name):
            return self.read(name, geometry=False)  # (the error read gives)
        return _restore_types(cache.read(self.path, key, name, None, fresh=fresh,
                                         reader=functools.partial(read_arrow, self.path, name, geometry=False),
                                         dates=_DATES))

    def _shared_reads(self, name: str, where: str | None) -> list[str] | None:
        """The SQL reads of a shared result table (:data:`gpkg.SHARED_GEOMETRY`) with the outlines
        of its source layer, one per source its years read; ``None`` for any other table (and
        for one written with its own geometry, as before)."""
        if name not in gpkg.SHARED_GEOMETRY:
            return None
        rows = self.query("SELECT table_name, column_name FROM gpkg_geometry_columns WHERE table_name IN (?, ?)",
                          (name, gpkg.SHARED_GEOMETRY[name][0]))
        columns = {str(t): str(c) for t, c in rows}
        if name in columns:
            return None
        meta = self.meta()
        mapping = gpkg.geometry_sources(meta, name)
        source = gpkg.SHARED_GEOMETRY[name][0]
        if "*" in mapping:  # a table without years, all of it read from a snapshot
            return [gpkg.shared_select(name, mapping["*"], self._geometry_of(mapping["*"]), where, None)]
        if source not in columns and not mapping:
            return None  # no outlines anywhere: the figures alone
        years = [int(y) for y in meta.get("evaluated_years", "").split(",") if y.strip()]
        live = [y for y in years if str(y) not in mapping]
        reads = []
        if source in columns:
            reads.append(gpkg.shared_select(name, source, columns[source], where, live if mapping else None))
        for snap in sorted(set(mapping.values())):
            chosen = sorted(int(y) for y, s in mapping.items() if s == snap)
            reads.append(gpkg.shared_select(name, snap, self._geometry_of(snap), where, chosen))
        return reads

    def _geometry_of(self, layer: str) -> str:
        rows = self.query("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,))
        if not rows:
            raise WorkspaceError(f"工作空间 {self.path} 缺少图层 '{layer}'；请重新运行 mujun evaluate")
        return str(rows[0][0])

    def select(self, sql: str) -> pd.DataFrame:
        """The rows of an SQLite ``SELECT`` on the workspace's layers and tables, read by GDAL
        (geometry columns become ``geometry``), with schema types restored. Only the rows it
        selects are read: a page of a million-row layer (``ORDER BY fid LIMIT n``) stays small.

        The SQL must come from code, never from a request: quote values with :func:`sql_literal`.
        """
        return _restore_types(read_table(self.path, None, sql=sql, dates=_DATES))

    def read_batches(self, name: str, rows: int) -> Iterator[pd.DataFrame]:
        """Layer or table ``name`` as :meth:`read` reads it, a batch of at most ``rows`` rows at
        a time, in its stored order (ranges of its primary key): a province's 3 million
        building footprints need never be in memory together. The next batch is read while
        the caller works on this one. At least one batch (empty for an empty table)."""
        if not self.has(name):
            self.read(name)  # the error it gives for a missing table
        key = next((str(r["name"]) for r in self.query(f'PRAGMA table_info("{name}")') if r["pk"]), None)
        if key is None:
            yield self.read(name)
            return
        key = '"' + key.replace('"', '""') + '"'
        lo, hi = self.query(f'SELECT min({key}), max({key}) FROM "{name}"')[0]
        if lo is None:
            yield self.read(name)
            return
        ranges = [f"{key} >= {start} AND {key} < {start + rows}" for start in range(int(lo), int(hi) + 1, rows)]
        with ThreadPoolExecutor(max_workers=1) as ahead:
            next_batch = ahead.submit(self.read, name, where=ranges[0])
            for where in ranges[1:]:
                batch = next_batch.result()
                next_batch = ahead.submit(self.read, name, where=where)
                yield batch
                del batch
            yield next_batch.result()

    def read_optional(self, name: str) -> pd.DataFrame | None:
        """Like :meth:`read`, ``None`` when absent."""
        return self.read(name) if self.has(name) else None

    def generation(self) -> str:
        """A token that changes whenever :meth:`write` replaces the file (not on in-place
        review saves), so caches of layers and results can be keyed on it."""
        try:
            with contextlib.closing(sqlite3.connect(_read_only(self.path), uri=True, timeout=10)) as con:
                row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'generation'").fetchone()
        except sqlite3.Error:
            row = None
        if row is None:  # written before generations existed, or no metadata yet
            st = self.path.stat()
            return f"{st.st_size}-{st.st_mtime_ns}"
        return str(row[0])

    def layer_generation(self, name: str) -> str | None:
        """The generation the table ``name`` was last written in (see :meth:`write`); ``None``
        if it was written before generations were recorded, ``""`` if there is no such table."""
        if not self.has(name):
            return ""
        return self.meta().get(LAYER_GENERATION + name)

    def meta(self) -> dict[str, str]:
        """Key/value metadata (sample flag, versions, evaluation times)."""
        if not self.has(META_TABLE):
            return {}
        return {str(k): str(v) for k, v in self.query(f"SELECT key, value FROM {META_TABLE}")}

    # -- writing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(f".{self.path.name}.lock")
        with lock.open("w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkspaceError(f"工作空间 {self.path} 正被另一个 mujun 进程写入；请等它完成后再试") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def store_lock(self, *, shared: bool, timeout: float = 30.0) -> Iterator[None]:
        """Coordinate in-place SQLite transactions (review decisions: ``shared``) with
        :meth:`write`, which holds it exclusively while it brings the in-place tables into
        its new copy and moves that into place. Waits up to ``timeout`` seconds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(f".{self.path.name}.store.lock")
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = time.monotonic() + timeout
        with lock.open("a") as fh:
            while True:
                try:
                    fcntl.flock(fh, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WorkspaceError(
                            f"工作空间 {self.path.name} 正在更新（导入或评价），{timeout:.0f} 秒内未完成；请稍后再试"
                        ) from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self, *, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
        """An in-place SQLite write transaction on the workspace (review decisions).

        Holds :meth:`store_lock` shared, so it never interleaves with the moment
        :meth:`write` brings these tables into its new copy and replaces the file;
        ``BEGIN IMMEDIATE`` serialises writers, who wait up to ``timeout`` seconds.
        Commits on success, rolls back on any error.
        """
        if not self.exists():
            raise missing_workspace(self.path)
        with self.store_lock(shared=True, timeout=timeout):
            con = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            con.row_factory = sqlite3.Row
            with immediate_transaction(con, f"工作空间 {self.path.name}", timeout) as con:
                yield con

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Rows of a read-only SQL query on the workspace (small tables: decisions, metadata),
        on a read-only connection."""
        return self._rows(sql, params)

    def numbers(self, name: str, column: str, where: str | None = None) -> np.ndarray:
        """One column of a table as float64 in table order (NULL and text as NaN), read by
        SQLite alone on a read-only connection: a million rows in half a second, where rows
        built one by one take three times as long."""
        c = '"' + column.replace('"', '""') + '"'
        sql = (f"SELECT CASE WHEN typeof({c}) IN ('integer', 'real') THEN {c} END FROM \"{name}\""
               + (f" WHERE {where}" if where else ""))
        return self._reading(lambda con: np.fromiter((np.nan if v is None else v for (v,) in con.execute(sql)),
                                                     dtype="float64"))

    def kept(self, name: str) -> pa.Table | None:
        """The copy the last evaluation kept of table ``name`` for its next revision
        (:data:`KEPT_TABLES`; memory-mapped, so only the columns used are read from disk) while
        the copy's stamp is the stored table's; ``None`` when there is none. A table stored in
        two parts gives its first part (:data:`gpkg.SPLIT_TABLES
        <mujun.layers.gpkg.SPLIT_TABLES>`), whose rows are the view's, in the same order."""
        split = gpkg.SPLIT_TABLES.get(name)

        def stamped(con: sqlite3.Connection) -> tuple[str, str | None]:
            table = name
            if split is not None and con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                                 (split.revised,)).fetchone():
                table = split.revised
            return table, _stamp(con, table)

        try:
            table, stamp = self._reading(stamped)
        except sqlite3.Error:
            return None
        return _kept_table(kept_tables(self.path), stamp, table)

    def kept_numbers(self, name: str, column: str, year: int | None = None) -> np.ndarray | None:
        """:meth:`numbers` of ``column`` of table ``name`` (of ``year``) from its :meth:`kept`
        copy; ``None`` when there is none, or the column is not in it or not a number (then
        read :meth:`numbers`)."""
        kept = self.kept(name)
        if kept is None or column not in kept.column_names or not _has_years(kept, year):
            return None
        values = kept.column(column)
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                or pa.types.is_boolean(values.type)):
            return None
        if year is not None:
            values = values.filter(pc.equal(kept.column("year"), year))
        return values.cast(pa.float64()).to_numpy(zero_copy_only=False)

    def kept_rows(self, name: str, year: int | None = None) -> int | None:
        """The rows of table ``name`` (of ``year``) counted in its :meth:`kept` copy; ``None``
        when there is none (then count them in the workspace)."""
        kept = self.kept(name)
        if kept is None or not _has_years(kept, year):
            return None
        return kept.num_rows if year is None else int(pc.sum(pc.equal(kept.column("year"), year)).as_py() or 0)

    def _rows(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        # Readers open the file read-only. They used to open it read-write whenever a
        # "-journal" file existed, to roll back a crashed save: a read-write connection takes
        # a journal for hot - plays it back into the file and deletes it - as soon as it
        # sees no RESERVED lock on the file. A writer whose process also had the file open
        # through GDAL's own copy of SQLite lost its POSIX locks when GDAL closed the file,
        # so a reader in another process rolled back the writer's live transaction under
        # it: the writer failed with "disk I/O error" and left the file damaged. A read-only
        # connection refuses a hot journal instead (SQLITE_READONLY_ROLLBACK, as SQLite
        # documents), and only then is it rolled back, by :meth:`_recover`.
        def rows(con: sqlite3.Connection) -> list[sqlite3.Row]:
            con.row_factory = sqlite3.Row
            return con.execute(sql, params).fetchall()

        return self._reading(rows)

    def _reading(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """``read(connection)`` on a read-only connection; a save a killed process left half
        done is rolled back first (:meth:`_recover`), then read again."""
        try:
            return self._read_only(read)
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode != sqlite3.SQLITE_READONLY_ROLLBACK:
                raise
        self._recover()
        return self._read_only(read)

    def _read_only(self, read: Callable[[sqlite3.Connection], T]) -> T:
        with contextlib.closing(sqlite3.connect(_read_only(self.path), uri=True, timeout=30)) as con:
            return read(con)

    def _recover(self) -> None:
        """Roll back the save a killed process left half done (a hot journal), as a writer.

        Every in-place save holds :meth:`store_lock` shared for its whole transaction, so
        with it held exclusively no mujun process is saving: the journal is a dead
        process's, whatever POSIX locks SQLite can or cannot see. A read-write connection
        then rolls it back under SQLite's exclusive lock.
        """
        with self.store_lock(shared=False, timeout=30), \
                contextlib.closing(sqlite3.connect(self.path, timeout=30)) as con:
            try:
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as err:
                raise WorkspaceError(f"工作空间 {self.path} 无法恢复未完成的保存（{err}）；请检查文件写权限") from None

    def write(
        self,
        tables: Mapping[str, pd.DataFrame],
        *,
        meta: Mapping[str, str] | None = None,
        log: Mapping[str, object] | None = None,
        meta_defaults: Mapping[str, str] | None = None,
    ) -> None:
        """Replace ``tables`` (name -> frame) and update metadata, all or nothing.

        Each table is written by :func:`~mujun.layers.writer.write_table`: frames with a
        geometry column become MultiPolygon layers in
        EPSG:4490; others attribute tables. ``meta`` entries are merged into
        :data:`META_TABLE`, with the new generation (:meth:`generation`) recorded as each
        written table's (:meth:`layer_generation`); ``meta_defaults`` entries are written only
        where the file, as it is when the write starts, has none. ``log`` appends one row to
        the import log. (:meth:`staged` writes tables one by one as they are ready.)

        Tables are written into an existing workspace in place (see :meth:`staged`), without a
        copy of its layers, unless the parcels or buildings are among them (or a layer with
        geometry is, and Python's SQLite has no R-tree module to index it).
        """
        layers = any(str(dtype) == "geometry" for frame in tables.values() for dtype in frame.dtypes)
        with self.staged(tables, in_place=not layers or _sqlite_rtree()) as staged:
            for name, frame in tables.items():
                staged.put(name, frame)
            staged.commit(meta=meta, log=log, meta_defaults=meta_defaults)

    @contextlib.contextmanager
    def staged(self, names: Iterable[str], *, process: bool = False,
               replaced: Iterable[str] = (), in_place: bool = False) -> Iterator[StagedWrite]:
        """A write of the tables ``names``, put one by one as they are ready
        (:meth:`StagedWrite.put`) and replacing the workspace, all or nothing, at
        :meth:`StagedWrite.commit`; leaving the block without committing (or on an error)
        leaves the workspace as it was.

        With ``process``, the copy, the tables and the check are written by a writer process
        (:class:`~mujun.layers.steps.ProcessSteps`) while this one goes on computing: what a
        province's evaluation does, whose writing takes as long as its computing.

        ``replaced`` names attribute tables among ``names`` that the write will certainly put:
        their old rows are dropped from the copy as soon as it is made, while this process
        is still reading and computing (the commit refuses a write that did not put them).

        With ``in_place`` (for an existing workspace, when no source layer of shared geometry is
        written: :data:`gpkg.SHARED_GEOMETRY <mujun.layers.gpkg.SHARED_GEOMETRY>`), the
        workspace is not copied: the tables put are written into a scratch file of their own,
        and the commit brings them into the workspace in one SQLite transaction (rollback
        journal, synced) with the metadata and the views (:func:`gpkg.replace_from
        <mujun.layers.gpkg.replace_from>`): a province's 3.5 GB are not copied for an
        enterprise table of 50 MB or a few hundred parks. (A write of the parcels or buildings
        is copied: their outlines may have to be kept for the results computed on them,
        :func:`gpkg.keep_sources <mujun.layers.gpkg.keep_sources>`.) A crash before the
        commit leaves the workspace as it was; one during it leaves a journal, rolled back by
        the next reader (:meth:`_recover`). A table put with ``revise`` by a writer process is
        compared with its kept copy and its changed rows are made by the commit's transaction
        (written whole into the scratch file when no copy is kept); written in this process, it
        is written whole.
        """
        # a copy of a workspace that still held accounts would carry their hashes; imported
        # here, not at the top, as accounts imports this module
        from mujun.layers.accounts import migrate

        migrate(self)
        names = list(names)
        sources = {source for source, _ in gpkg.SHARED_GEOMETRY.values()}
        in_place = in_place and self.exists() and not sources & set(names)
        with self._lock():
            self._remove_stale_copies()
            staged = StagedWrite(self, names, ProcessSteps() if process else InlineSteps(), list(replaced),
                                 in_place=in_place)
            try:
                yield staged
            except BaseException:
                staged.abort()
                raise
            if not staged.committed:
                staged.abort()

    def _remove_stale_copies(self) -> None:
        """Remove the scratch copies (and their journals) of writes that were killed: while
        this process holds the write lock no other write is under way, so any copy left is
        one nobody will finish."""
        for stale in self.path.parent.glob(f".{glob.escape(self.path.stem)}.*.tmp.gpkg*"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


class StagedWrite:
    """The tables of one write, put as they are ready into a scratch copy of the workspace,
    which replaces it at :meth:`commit` (see :meth:`Workspace.staged`).

    Its steps run on a :class:`~mujun.layers.steps.InlineSteps` or
    :class:`~mujun.layers.steps.ProcessSteps`: the copy starts at once; each table put is
    written (and checked) in turn; :meth:`commit` adds the metadata and the log, finishes the
    GeoPackage, checks the rest of what was written, syncs it and moves it into place.
    """

    def __init__(self, ws: Workspace, names: list[str], steps: InlineSteps | ProcessSteps,
                 replaced: list[str] | None = None, *, in_place: bool = False) -> None:
        self.ws = ws
        self.names = names
        self.replaced = list(replaced or [])
        if not set(self.replaced) <= set(names):
            raise ValueError(f"tables {sorted(set(self.replaced) - set(names))} replaced but not declared")
        self.tmp = ws.path.with_name(f".{ws.path.stem}.{os.getpid()}.tmp.gpkg")  # GDAL wants .gpkg
        self.steps = steps
        self.committed = False
        self._put: list[str] = []
        self._tables: list[str] = []  # the tables stored (a table stored in two parts: its parts)
        self._dropped: list[str] = []  # written in place: tables to drop from the workspace
        self._files: list[Path] = []
        self._labels: dict[int, str] = {}
        self._revising: dict[str, int] = {}  # table put with revise -> its step
        self._revised: dict[str, int | None] = {}
        #: Written without a copy of the workspace (see :meth:`Workspace.staged`): the tables
        #: into a scratch file of their own, brought in at the commit.
        self.in_place = in_place
        # a copied workspace (or a scratch file) is checked table by table as each is written;
        # a new file whole at the end
        self._check_each = ws.path.exists()
        try:
            if in_place:
                self._begun = steps.submit(_begin_scratch, self.tmp, ws.path)
                self._labels[self._begun] = "scratch"
            else:
                self._begun = steps.submit(_begin, ws.path, self.tmp, names, self.replaced)
                self._labels[self._begun] = "copy"
        except BaseException:
            self.abort()
            raise

    def put(self, name: str, frame: pd.DataFrame | Iterable[pd.DataFrame], *, revise: bool = False,
            keep: bool = False) -> None:
        """Write ``frame`` as table ``name`` (one of the names the write was opened with) into
        the scratch copy; with a writer process, once it has written what was put before,
        while this process goes on.

        ``frame`` may also be the parts of the table, in order (an iterable of frames with the
        same columns): each part is handed over as soon as it is taken, and appended to the
        parts before it, so that the whole table is never in memory here.

        With ``revise`` (a table not ``replaced``), the table as stored is compared with
        ``frame`` (its parts each handed over as it is taken, compared once all are) and only
        the rows that differ are updated, in place: what a re-evaluation does to tables whose
        rows are mostly the same again. A stored table with other columns or another number
        of rows, or with more than :data:`REVISE_SHARE` of its rows changed, is written whole.
        :meth:`revised` tells which was done.

        With ``keep`` (a table the next write will revise), the table as handed to the writer
        process is kept beside the workspace (:data:`KEPT_TABLES`) once the write is in place:
        the next revision compares with it rather than reading the stored table through GDAL,
        while the table's time of change and last feature id are still those it was kept with.
        (Written in this process, nothing is kept: a small table is read quickly.)"""
        if name not in self.names or name in self._put:
            raise ValueError(f"table {name!r} not expected in this write (or put twice)")
        if revise and name in self.replaced:
            raise ValueError(f"table {name!r} is dropped from the copy: it cannot be revised")
        self._put.append(name)
        parts = [frame] if isinstance(frame, pd.DataFrame) else frame
        del frame
        if name in gpkg.SPLIT_TABLES:
            parts = self._put_split(name, parts, revise, keep)
            if parts is None:
                return
        self._put_stored(name, parts, revise, label=name, keep=keep)

    def _put_split(self, name: str, parts: Iterable[pd.DataFrame], revise: bool,
                   keep: bool) -> list[pd.DataFrame] | None:
        """A table stored in two parts (:data:`gpkg.SPLIT_TABLES
        <mujun.layers.gpkg.SPLIT_TABLES>`): the columns a re-evaluation revises (revised with
        ``revise``) and those it writes whole, the whole table of the name an older write left
        dropped. A frame without the second part's columns is stored whole (returned, for
        :meth:`_put_stored`), the parts another write left dropped."""
        taken = list(parts)
        if not taken:
            raise ValueError(f"table {name!r} put without any part")
        frame = taken[0] if len(taken) == 1 else pd.concat(taken, ignore_index=True)
        del taken
        first, second = gpkg.split_parts(name)
        columns = gpkg.SPLIT_TABLES[name].written_columns(frame.columns)
        if not columns:
            self._drop([first, second])
            return [frame]
        self._drop([name, second] if revise else [name, first, second])
        # the narrow part first: written while the wide one is converted for the writer
        self._put_stored(second, [frame[columns]], False, label=name)
        self._put_stored(first, [frame.drop(columns=columns)], revise, label=name, keep=keep)
        return None

    def _drop(self, tables: list[str]) -> None:
        """Drop ``tables`` (those that exist) from the copy before what replaces them is
        written; written in place, from the workspace as the write is brought in."""
        if self.in_place:
            self._dropped += tables
        else:
            self._labels[self.steps.submit(_drop, self.tmp, tables)] = "drop"

    def _put_stored(self, name: str, parts: Iterable[pd.DataFrame], revise: bool, *, label: str,
                    keep: bool = False) -> None:
        """Write (or revise) the stored table ``name`` from ``parts``; its steps timed as
        ``label``'s."""
        self._tables.append(name)
        if revise:
            self._revise(name, parts, label, keep)
            return
        schema = last = None
        for part in parts:  # each part is put once the next is taken: the last is checked
            if last is not None:
                schema = self._put_part(name, last, schema, more=True, label=label, keep=keep)
            last = part
            del part
        if last is None:
            raise ValueError(f"table {name!r} put without any part")
        self._put_part(name, last, schema, more=False, label=label, keep=keep)

    def _revise(self, name: str, parts: Iterable[pd.DataFrame], label: str, keep: bool) -> None:
        check = self._check_each
        if isinstance(self.steps, InlineSteps) and self.in_place:  # (compared in this process: written whole)
            self._put_stored(name, parts, False, label=label, keep=keep)
            self._revised[label] = None
            return
        if isinstance(self.steps, InlineSteps):
            taken = list(parts)
            if not taken:
                raise ValueError(f"table {name!r} put without any part")
            frame = taken[0] if len(taken) == 1 else pd.concat(taken, ignore_index=True)
            token = self.steps.submit(_revise, self.tmp, name, frame, check)
        else:  # each part converted on a thread of its own as the next is computed (Arrow's
            # conversion and file writes mostly let go of the GIL), one part at a time: no more
            # than two are held here; the writer compares them once all are there
            saved, schema, pending = [], None, None
            with ThreadPoolExecutor(1, thread_name_prefix="mujun-handover") as pool:
                for part in parts:
                    schema = schema if schema is not None else table_schema(part)
                    if pending is not None:  # (a part that could not be saved stops the put here)
                        saved.append(pending.result())
                    pending = pool.submit(self._saved, name, part, schema)
                    del part
                if pending is not None:
                    saved.append(pending.result())
            if not saved:
                raise ValueError(f"table {name!r} put without any part")
            files, crs = [f for f, _ in saved], saved[-1][1]
            token = self.steps.submit(_revise_saved, self.tmp, name, files, crs, check,
                                      kept_tables(self.ws.path), keep, self.ws.path if self.in_place else None)
        self._labels[token] = label
        self._revising[label] = token

    def _saved(self, name: str, frame: pd.DataFrame, schema: pa.Schema | None) -> tuple[Path, str | None]:
        """``frame`` converted into an Arrow file for the writer process (and its CRS)."""
        file = self.tmp.with_name(f"{self.tmp.name}.{len(self._files) + 1}.arrow")
        self._files.append(file)
        try:
            crs = save_table(frame, file, schema)  # the schema just taken: not worked out again
        except OSError as err:
            raise WorkspaceError(f"无法在 {file.parent} 写入临时文件（{err}）；请检查磁盘空间和写权限") from None
        return file, crs

    def _put_part(self, name: str, frame: pd.DataFrame, schema: pa.Schema | None, *, more: bool,
                  label: str, keep: bool = False) -> pa.Schema:
        """One part of table ``name``: the first (``schema`` ``None``) replaces the table, the
        others are appended, converted to its Arrow ``schema``; checked after the last (not
        ``more``). Returns the table's schema."""
        append, check = schema is not None, self._check_each and not more
        if schema is None:
            schema = table_schema(frame)
        if isinstance(self.steps, InlineSteps):
            self._labels[self.steps.submit(_write, self.tmp, name, frame, check, schema if append else None)] = label
            return schema
        # handed over as an Arrow file: converted here (quick), written by the writer process
        file, crs = self._saved(name, frame, schema)
        self._labels[self.steps.submit(_write_saved, self.tmp, name, file, crs, check, append, keep)] = label
        return schema

    def commit(
        self,
        *,
        meta: Mapping[str, str] | None = None,
        log: Mapping[str, object] | None = None,
        meta_defaults: Mapping[str, str] | None = None,
    ) -> None:
        """Finish the write and replace the workspace (see :meth:`Workspace.write` for
        ``meta``, ``log`` and ``meta_defaults``); waits for the writer process."""
        missing = [name for name in self.replaced if name not in self._put]
        if missing:  # their old rows are gone from the copy: it must not replace the workspace
            raise ValueError(f"tables {missing} were to be replaced but were not put")
        copied, kept = self.steps.result(self._begun)
        generation = uuid.uuid4().hex
        meta = {**(meta or {}), **kept, "generation": generation,
                **{LAYER_GENERATION + name: generation for name in self._put}}
        if self.in_place:
            token = self.steps.submit(_complete_in_place, self.ws.path, self.tmp, self._tables, meta, dict(log or {}),
                                      dict(meta_defaults or {}), self._dropped)
        else:
            token = self.steps.submit(_complete, self.ws.path, self.tmp, copied, self._check_each, meta,
                                      dict(log or {}), dict(meta_defaults or {}))
        self._labels[token] = "finish"
        self.steps.result(token)
        self._revised.update({name: self.steps.result(t) for name, t in self._revising.items()})
        self.steps.close()
        self.committed = True
        self._remove_files()

    def revised(self) -> dict[str, int | None]:
        """After :meth:`commit`, each table put with ``revise``: the number of rows updated in
        place, or ``None`` where it was written whole."""
        return dict(self._revised)

    def has(self, name: str) -> bool:
        """Whether table ``name`` has been put."""
        return name in self._put

    def seconds(self) -> dict[str, float]:
        """Seconds each step of the write took (where it ran): ``copy``, each table (written
        and checked), ``finish`` (metadata, views, check, sync and replace)."""
        out: dict[str, float] = {}
        for token, seconds in self.steps.seconds.items():
            if token in self._labels:  # a table put in parts: the sum of its parts
                out[self._labels[token]] = out.get(self._labels[token], 0.0) + seconds
        return out

    def abort(self) -> None:
        """Stop the writer, remove the scratch copy; the workspace is as it was."""
        self.steps.abort()
        self.tmp.unlink(missing_ok=True)
        _PARKED.pop(str(self.tmp), None)  # its counters, when the steps ran in this process
        _KEEP.pop(str(self.tmp), None)
        _DEFERRED.pop(str(self.tmp), None)
        self._remove_files()

    def _remove_files(self) -> None:
        for file in self._files:
            file.unlink(missing_ok=True)


def _begin(path: Path, tmp: Path, names: list[str], replaced: list[str] | None = None) -> tuple[bool, dict[str, str]]:
    """The scratch copy ``tmp`` of the workspace ``path``, ready for GDAL to write ``names``
    (the tables ``replaced`` dropped from it already): whether there was one to copy, and the
    metadata of the outlines kept (:func:`gpkg.keep_sources`) for results whose source layer
    is replaced."""
    kept: dict[str, str] = {}
    if not path.exists():
        return False, kept
    _copy(path, tmp)
    _remove_set_aside(path)
    _in_transaction(tmp, gpkg.prepare)  # GDAL then writes GeoPackage 1.2 into it
    _in_transaction(tmp, lambda con: kept.update(gpkg.keep_sources(con, names)))
    if replaced:
        _in_transaction(tmp, functools.partial(gpkg.drop_tables, tables=replaced))
    _park_sequences(tmp)  # GDAL's inserts then read no other table's counter
    return True, kept


@functools.cache
def _sqlite_rtree() -> bool:
    """Whether Python's SQLite has the R-tree module, which a layer brought in in place needs
    for its spatial index (GDAL's SQLite, which writes a copy, has its own)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as con:
        try:
            con.execute("CREATE VIRTUAL TABLE probe USING rtree(id, minx, maxx)")
        except sqlite3.OperationalError:
            return False
    return True


def _begin_scratch(tmp: Path, path: Path) -> tuple[bool, dict[str, str]]:
    """An in-place write's scratch file: GDAL makes it with the first table written. (The
    copies earlier writes kept for a revision and set aside are removed meanwhile.)"""
    tmp.unlink(missing_ok=True)
    _remove_set_aside(path)
    return False, {}


#: The folder, in a workspace's cache folder (:func:`~mujun.layers.columnar.cache_dir`), where
#: the tables a write was asked to keep (:meth:`StagedWrite.put` with ``keep``) are kept as
#: they were handed to the writer (Arrow IPC, ``<table>/<folder>/part-N.arrow``), each with
#: the stamp of the stored table it matches (its time of change and last feature id, which
#: any write of the table — mujun's, GDAL's, QGIS's — changes). The next revision of the table
#: compares with it, rather than reading the stored table through GDAL, while the stamps
#: agree. (A dot in its name: the column cache's sweep of other generations leaves it.)
KEPT_TABLES = "revised.tables"
#: The files of each write's copy (by its path) to keep once the write is in place, by table,
#: in the process that runs the write's steps.
_KEEP: dict[str, dict[str, list[Path]]] = {}


def kept_tables(path: Path) -> Path:
    """The folder of the tables kept for the next revision of the workspace ``path``."""
    return cache_dir(path) / KEPT_TABLES


def _stamp(con: sqlite3.Connection, table: str) -> str | None:
    """The stamp of a stored table (see :data:`KEPT_TABLES`), ``None`` if it has none."""
    try:
        change = con.execute("SELECT last_change FROM gpkg_contents WHERE table_name = ?", (table,)).fetchone()
        last = con.execute(f"SELECT max(fid) FROM {gpkg.sql_identifier(table)}").fetchone()
    except sqlite3.Error:
        return None
    return None if change is None or change[0] is None else f"{change[0]}|{last[0]}"


def _has_years(table: pa.Table, year: int | None) -> bool:
    """Whether rows of ``table`` can be picked by ``year`` (any table, without one)."""
    return year is None or ("year" in table.column_names and pa.types.is_integer(table.schema.field("year").type))


def _kept_table(kept: Path, stamp: str | None, name: str) -> pa.Table | None:
    """Table ``name`` as kept in ``kept`` for the stored table of stamp ``stamp`` (:func:`_stamp`;
    memory-mapped); ``None`` when none is kept, or not for the table as it is stored now."""
    folder = kept / name
    if stamp is None or not folder.is_dir():
        return None
    for entry in folder.iterdir():
        if entry.name.startswith("."):  # (an earlier copy, being removed)
            continue
        try:
            if (entry / "stamp").read_text() != stamp:
                continue
            files = sorted(entry.glob("part-*.arrow"), key=lambda f: int(f.stem.split("-")[1]))
            tables = [pa.ipc.open_file(pa.memory_map(str(f))).read_all() for f in files]
            return pa.concat_tables(tables) if len(tables) > 1 else tables[0] if tables else None
        except (OSError, ValueError, pa.ArrowException):
            continue  # (being replaced, or damaged: the stored table is read instead)
    return None


def _keep(path: Path, files: dict[str, list[Path]], stamps: dict[str, str | None]) -> None:
    """Keep ``files`` (by table) for the next revision of the workspace ``path``, under the
    stamps of the tables as they were moved into place; the files of earlier writes are set
    aside, for the next write to remove (:func:`_remove_set_aside`). A cache: what cannot be
    kept is not, and the stored table will be read."""
    for name, parts in files.items():
        folder = kept_tables(path) / name
        entry = folder / uuid.uuid4().hex
        try:
            if stamps.get(name) is None:
                raise OSError("no stamp")
            entry.mkdir(parents=True)
            for i, file in enumerate(parts):
                os.replace(file, entry / f"part-{i}.arrow")
            (entry / "stamp").write_text(stamps[name])
        except OSError:
            shutil.rmtree(entry, ignore_errors=True)
            for file in parts:
                file.unlink(missing_ok=True)
            entry = None
        # the earlier copies set aside at once; the next write removes them (_begin), while it
        # waits for its first table
        for old in (folder.iterdir() if folder.is_dir() else []):
            if old != entry and not old.name.startswith("."):
                with contextlib.suppress(OSError):
                    old.rename(folder / f".removed-{old.name}")


def _remove_set_aside(path: Path) -> None:
    """Remove the kept copies :func:`_keep` set aside for the workspace ``path``."""
    root = kept_tables(path)
    for old in (root.glob("*/.removed-*") if root.is_dir() else []):
        shutil.rmtree(old, ignore_errors=True)


#: The AUTOINCREMENT counters of each write's copy (by its path) while GDAL writes into it
#: (:func:`gpkg.park_sequences <mujun.layers.gpkg.park_sequences>`), in the process that runs
#: the write's steps; back in the copy before it is finished.
_PARKED: dict[str, dict[str, int]] = {}


def _drop(tmp: Path, tables: list[str]) -> None:
    """Drop ``tables`` from the copy ``tmp`` (see :meth:`StagedWrite._drop`)."""
    if not tmp.exists():  # a new workspace: GDAL makes the file with the first table
        return
    _in_transaction(tmp, functools.partial(gpkg.drop_tables, tables=tables, parts=False))


def _park_sequences(tmp: Path) -> None:
    if not tmp.exists():  # an in-place write's scratch file before GDAL has made it
        return
    _in_transaction(tmp, functools.partial(gpkg.park_sequences, parked=_PARKED.setdefault(str(tmp), {})))


def _write(tmp: Path, name: str, frame: pd.DataFrame, check: bool, like: pa.Schema | None = None) -> None:
    """Write ``frame`` as table ``name`` of ``tmp`` (with ``like``, the table's schema: append it)."""
    if like is None:
        write_table(tmp, name, frame)
    else:
        write_table(tmp, name, frame, append=True, like=like)
    _park_sequences(tmp)
    if check:
        _check_integrity(tmp, [name])


#: A stored table is revised in place (:meth:`StagedWrite.put` with ``revise``) while at most
#: this share of its rows changed; past it, writing it whole is quicker than updating the rows
#: one by one. (Measured on a province's 4.2 million compliance checks: read and compared in
#: 1.2 s, checked in 1.1 s, written whole in 6–8 s; updates run at about 0.25 million rows a
#: second.)
REVISE_SHARE = 0.2


def _revise(tmp: Path, name: str, frame: pd.DataFrame, check: bool) -> int | None:
    """Revise table ``name`` of ``tmp`` to hold ``frame`` (see :meth:`StagedWrite.put`): the
    rows updated, or ``None`` when it was written whole."""
    return _revised(tmp, name, arrow_table(frame), functools.partial(write_table, tmp, name, frame), check)


#: The revisions of each in-place write's tables (by its scratch file's path), found while the
#: tables were put and made by the commit's transaction (:func:`_complete_in_place`): table
#: -> (the stamp of the stored table compared with, the revision).
_DEFERRED: dict[str, dict[str, tuple[str, _Revision]]] = {}


def _revise_saved(tmp: Path, name: str, files: list[Path], crs: str | None, check: bool,
                  kept: Path | None = None, keep: bool = False, live: Path | None = None) -> int | None:
    """:func:`_revise` with the table :func:`save_table` saved in ``files`` (its parts, in
    order), compared with the table as kept in ``kept`` (:data:`KEPT_TABLES`) when it still
    holds; with ``keep``, ``files`` are kept for the next revision once the write is in place
    (:func:`_complete`).

    With ``live``, the workspace of an in-place write (``tmp`` its scratch file): the rows
    that differ are found here, by comparing with the kept copy (the workspace itself is read
    through this process's SQLite only, never GDAL's), and changed by the commit's transaction
    (:func:`_complete_in_place`); without a kept copy the table is written whole into the
    scratch file, and brought in."""

    def write() -> None:
        for i, file in enumerate(files):
            write_saved(tmp, name, file, crs, append=i > 0)

    try:
        with contextlib.ExitStack() as stack:
            table = _saved_table(stack, files)
            stored = stamp = None
            if kept is not None:
                source = _read_only(live) if live is not None else str(tmp)
                with contextlib.closing(sqlite3.connect(source, uri=live is not None, timeout=30)) as con:
                    stamp = _stamp(con, name)
                stored = _kept_table(kept, stamp, name)
            if live is None:
                updated = _revised(tmp, name, table, write, check, stored)
            else:
                revision = None if stored is None else _find_revision(live, name, table, stored, gdal=False)
                if revision is None:
                    write()
                    _park_sequences(tmp)
                    if check:
                        _check_integrity(tmp, [name])
                    updated = None
                else:
                    _DEFERRED.setdefault(str(tmp), {})[name] = (stamp, revision)
                    updated = revision.rows
            del stored
    except BaseException:
        for file in files:
            file.unlink(missing_ok=True)
        raise
    if keep:
        _KEEP.setdefault(str(tmp), {})[name] = list(files)
    else:
        for file in files:
            file.unlink(missing_ok=True)
    return updated


def _read_only(path: Path) -> str:
    """The SQLite URI opening ``path`` read-only (its name quoted: a '#' or '?' in it is a name)."""
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


def _saved_table(stack: contextlib.ExitStack, files: list[Path]) -> pa.Table:
    """The table :func:`save_table` saved in ``files`` (memory-mapped while ``stack`` is open)."""
    batches = [batch for file in files
               for reader in [pa.ipc.open_file(stack.enter_context(pa.memory_map(str(file))))]
               for batch in (reader.get_batch(i) for i in range(reader.num_record_batches))]
    if not batches:
        raise ValueError("a saved table without batches")
    return pa.Table.from_batches(batches)


#: The rows of one kind a revision writes: the columns set, the rows' feature ids, the values
#: column by column.
_Rows = tuple[list[str], list[int], list[list]]
_NO_ROWS: _Rows = ([], [], [])


class _Revision(NamedTuple):
    """What a revision changes in a stored table: the rows updated (their changed columns),
    the rows inserted (every column, the feature id among them) and the feature ids of the
    rows deleted."""

    updated: _Rows
    inserted: _Rows = _NO_ROWS
    gone: list[int] = []

    @property
    def rows(self) -> int:
        return len(self.updated[1]) + len(self.inserted[1]) + len(self.gone)

    def make(self, con: sqlite3.Connection, name: str) -> None:
        """Make the revision in table ``name`` (in the caller's transaction)."""
        if self.gone:
            gpkg.delete_rows(con, name, self.gone)
        columns, fids, values = self.updated
        if fids:
            gpkg.update_rows(con, name, columns, zip(*values, fids, strict=True))
        columns, fids, values = self.inserted
        if fids:
            gpkg.insert_rows(con, name, columns, zip(*values, strict=True))

    def check(self, con: sqlite3.Connection, name: str) -> None:
        """Read back what the revision wrote (:func:`_check_rows`)."""
        for columns, fids, values in (self.updated, self.inserted):
            if fids:
                _check_rows(con, name, columns, fids, values)
        if self.gone:
            _check_rows(con, name, [], self.gone, [], gone=True)


def _revised(tmp: Path, name: str, table: pa.Table, write: Callable[[], None], check: bool,
             stored: pa.Table | None = None) -> int | None:
    """Update the rows of the stored table ``name`` of ``tmp`` that differ from ``table``
    (compared with ``stored``, the table as kept, when given), or, where it cannot be revised,
    drop it and ``write`` it whole; then check what was written: a table written whole by
    ``PRAGMA quick_check``, the rows written by reading them back (:func:`_check_rows`)."""
    revision = _find_revision(tmp, name, table, stored)
    if revision is None:
        _in_transaction(tmp, functools.partial(gpkg.drop_tables, tables=[name]))
        write()
    elif revision.rows:  # (nothing changed: nothing written, nothing read back)
        _in_transaction(tmp, functools.partial(revision.make, name=name))
    _park_sequences(tmp)
    if check and revision is None:
        _check_integrity(tmp, [name])
    elif check and revision.rows:
        with contextlib.closing(sqlite3.connect(_read_only(tmp), uri=True)) as con:
            revision.check(con, name)
    return None if revision is None else revision.rows


def _find_revision(path: Path, name: str, table: pa.Table, kept: pa.Table | None = None, *,
                   gdal: bool = True) -> _Revision | None:
    """The rows of the stored table ``name`` of ``path`` that differ from ``table`` (compared
    with ``kept``, the stored table as kept, when given; else, with ``gdal``, with the table
    as GDAL reads it): ``None`` when it cannot be revised. A table whose rows carry feature
    ids of their own (column ``fid``) is compared by id (:func:`_revision_by_id`)."""
    if "fid" in table.column_names:
        return _revision_by_id(path, name, table, kept, gdal=gdal)
    with contextlib.closing(sqlite3.connect(_read_only(path), uri=True, timeout=30)) as con:
        stored = gpkg.revisable(con, name)
    if stored != table.num_rows:
        return None
    if not gdal and (kept is None or kept.column_names != table.column_names or kept.num_rows != table.num_rows):
        return None  # (not read through GDAL: compared with the kept copy only)
    found = changed_rows(path, name, table, limit=int(REVISE_SHARE * table.num_rows), stored=kept)
    if found is None:
        return None
    rows, columns = found
    if not len(rows):
        return _Revision(_NO_ROWS)
    picked = table.select(columns).take(pa.array(rows))
    values = [sqlite_values(picked.column(c)) for c in columns]
    if any(v is None for v in values):
        return None
    fids = (rows + 1).tolist()  # revisable: the ids run 1, 2, … in the table's order
    return _Revision((columns, fids, values))


def _revision_by_id(path: Path, name: str, table: pa.Table, kept: pa.Table | None, *,
                    gdal: bool = True) -> _Revision | None:
    """:func:`_find_revision` of a table whose rows carry feature ids of their own (column
    ``fid``, rising: the flags, whose rows come and go): compared with the table as kept (or,
    none kept, as GDAL reads it), by id (:func:`~mujun.layers.writer.changed_keyed_rows`), the
    rows gone are deleted, the new ones inserted and the changed ones updated."""
    if kept is None:
        kept = stored_with_ids(path, name) if gdal else None
        if kept is None:
            return None
    with contextlib.closing(sqlite3.connect(_read_only(path), uri=True, timeout=30)) as con:
        try:  # (the kept copy's stamp vouches for its time of change and last id: its rows too)
            stored = con.execute(f"SELECT count(*) FROM {gpkg.sql_identifier(name)}").fetchone()[0]
        except sqlite3.Error:
            return None
    if stored != kept.num_rows:
        return None
    found = changed_keyed_rows(kept, table, limit=int(REVISE_SHARE * table.num_rows))
    if found is None:
        return None
    gone, added, changed, columns = found
    ids = table.column("fid").to_numpy()
    rows = []
    for cols, at in ((columns, changed), (table.column_names, added)):
        picked = table.select(cols).take(pa.array(at))
        values = [sqlite_values(picked.column(c)) for c in cols]
        if any(v is None for v in values):
            return None
        rows.append((list(cols), ids[at].tolist(), values))
    return _Revision(rows[0], rows[1], gone.tolist())


#: Rows read back at a time by :func:`_check_rows`.
_CHECKED_ROWS = 10_000


def _check_rows(con: sqlite3.Connection, name: str, columns: list[str], fids: list[int], values: list[list], *,
                gone: bool = False) -> None:
    """Check what a revision wrote: the rows it updated or inserted (feature ids ``fids``),
    read back through ``con``, hold in ``columns`` the ``values`` bound (a NaN as NULL, as
    SQLite stores it); with ``gone``, the rows it deleted are not there. SQLite checks each
    page on their way as it reads them; the rest of the table is as the copy the write started
    from, which the workspace's last write checked. (A quick check of the whole table took
    0.9–1.1 s at a province's size, for a few hundred rows updated.)"""
    expected = {fid: [None if isinstance(v, float) and v != v else v for v in row]
                for fid, row in zip(fids, zip(*values, strict=True) if values else [()] * len(fids), strict=True)}
    picked = "".join(", " + gpkg.sql_identifier(c) for c in columns)
    for start in range(0, len(fids), _CHECKED_ROWS):
        chunk = fids[start:start + _CHECKED_ROWS]
        got = con.execute(f"SELECT fid{picked} FROM {gpkg.sql_identifier(name)} WHERE fid IN "
                          f"({', '.join('?' * len(chunk))})", chunk).fetchall()
        if gone:
            bad = got[0][0] if got else None
        else:
            bad = next((fid for fid, *row in got if row != expected[fid]), None)
        if bad is None and not gone and len(got) != len(chunk):
            found = {r[0] for r in got}
            bad = next(fid for fid in chunk if fid not in found)
        if bad is not None:
            raise WorkspaceError(f"写入后工作空间校验失败（{name} 的第 {bad} 行与写入的不同）；原文件未改动")


def _write_saved(tmp: Path, name: str, file: Path, crs: str | None, check: bool, append: bool = False,
                 keep: bool = False) -> None:
    """Write (or append) the part of table ``name`` saved in ``file``; with ``keep``, the file
    is kept for the next revision once the write is in place (:func:`_complete`)."""
    try:
        write_saved(tmp, name, file, crs, append=append)
    except BaseException:
        file.unlink(missing_ok=True)
        raise
    if keep:
        kept = _KEEP.setdefault(str(tmp), {})
        kept[name] = [*(kept.get(name, []) if append else []), file]
    else:
        file.unlink(missing_ok=True)
    _park_sequences(tmp)
    if check:
        _check_integrity(tmp, [name])


def _complete(path: Path, tmp: Path, copied: bool, check_each: bool, meta: dict[str, str], log: dict,
              meta_defaults: dict[str, str]) -> None:
    """The end of a write: metadata and log into ``tmp``, the GeoPackage finished, checked,
    synced, and moved over the workspace ``path`` with the review tables saved meanwhile."""
    snapshots = {name for key in meta if key.startswith(gpkg.GEOMETRY_OF)
                 for name in gpkg.geometry_sources(meta, key.removeprefix(gpkg.GEOMETRY_OF)).values()}
    parked = _PARKED.pop(str(tmp), {})
    if tmp.exists():
        _in_transaction(tmp, functools.partial(gpkg.restore_sequences, parked=parked))
    _write_meta_and_log(tmp, Workspace(tmp) if tmp.exists() else None, meta, log, meta_defaults)
    _in_transaction(tmp, gpkg.finish)  # per-year views, field titles, times
    # the rest of what was written (each table was checked as it was written): the metadata,
    # the log, the snapshots, the GeoPackage's registers (a new file: all of it)
    _check_integrity(tmp, None if not (copied and check_each) else [
        META_TABLE, LOG_TABLE, *snapshots, "gpkg_contents", "gpkg_geometry_columns", "gpkg_data_columns",
        "gpkg_extensions", "sqlite_sequence"])
    _sync(tmp)  # the bulk of it to disk now, not while reviewers' saves wait
    live = Workspace(path)
    # reviewers kept saving in place while the tables were written: bring their tables over
    # and replace, with their saves held for these few moments
    with live.store_lock(shared=False, timeout=120):
        if live.exists():
            _sync_in_place_tables(path, tmp)
        # again for the tables just brought over: metadata and their few rows only, quick
        # under the lock
        _in_transaction(tmp, functools.partial(gpkg.finish, times_of=IN_PLACE_TABLES))
        kept = _KEEP.pop(str(tmp), {})
        with contextlib.closing(sqlite3.connect(tmp)) as con:
            stamps = {name: _stamp(con, name) for name in kept}
        old = _durable_replace(tmp, path)
    try:  # (a cache: the workspace is in place whatever happens to it)
        _keep(path, kept, stamps)
    except Exception as err:  # noqa: BLE001 - logged, the next revision reads the stored tables
        _logger.warning("tables not kept for the next revision (%s): %s", kept_tables(path), err)
    if old is not None:
        _remove_old(old)


def _write_meta_and_log(tmp: Path, stored: Workspace | None, meta: dict[str, str], log: dict,
                        meta_defaults: dict[str, str]) -> None:
    """Write into ``tmp`` the metadata of ``stored`` (the copy, or the workspace; none for a new
    file) with ``meta`` merged in and ``meta_defaults`` under it, and its import log with the
    row ``log`` appended (when given)."""
    merged = {**meta_defaults, **(stored.meta() if stored is not None else {}), **meta}
    write_table(tmp, META_TABLE, pd.DataFrame({"key": list(merged), "value": list(merged.values())}))
    if log:
        old = stored.read_optional(LOG_TABLE) if stored is not None else None
        row = pd.DataFrame([{"time": datetime.now().isoformat(timespec="seconds"), **log}]).astype("string")
        write_table(tmp, LOG_TABLE, row if old is None else pd.concat([old.astype("string"), row]))


def _complete_in_place(path: Path, tmp: Path, put: list[str], meta: dict[str, str], log: dict,
                       meta_defaults: dict[str, str], dropped: list[str] | None = None) -> None:
    """The end of an in-place write: the metadata and the log into the scratch file ``tmp``
    beside the tables ``put``, checked; then, in one transaction on the workspace ``path``,
    the tables ``dropped`` dropped, those put brought in, the GeoPackage finished and what
    changed checked (see :meth:`Workspace.staged`)."""
    live = Workspace(path)
    _write_meta_and_log(tmp, live, meta, log, meta_defaults)
    brought = [META_TABLE, *([LOG_TABLE] if log else [])]
    _check_integrity(tmp, brought)
    with contextlib.closing(sqlite3.connect(tmp)) as con:
        written = {n for (n,) in con.execute("SELECT table_name FROM gpkg_contents")}
    tables = [name for name in put if name in written] + brought
    revisions = _DEFERRED.pop(str(tmp), {})
    kept = _KEEP.pop(str(tmp), {})
    try:
        with live.store_lock(shared=True, timeout=120), \
                contextlib.closing(sqlite3.connect(path, timeout=120, isolation_level=None)) as con:
            con.execute("ATTACH DATABASE ? AS scratch", (str(tmp),))
            with immediate_transaction(con, f"工作空间 {path.name}", 120):
                gpkg.drop_tables(con, dropped or [], parts=False)
                gpkg.replace_from(con, "scratch", tables)
                # the tables revised: the rows found changed against the table as it still is
                for name, (stamp, revision) in revisions.items():
                    if _stamp(con, name) != stamp:
                        raise WorkspaceError(f"工作空间的 {name} 在评价期间被改动；工作空间未改动，请重新运行")
                    revision.make(con, name)
                gpkg.finish(con)  # (times in every table, as a copied write's finish looks for them)
                # what this transaction wrote: the tables brought in (each was checked in the
                # scratch file as GDAL wrote it) with their indexes, the registers, and the
                # rows revised, read back
                bad = _quick_checks(con, ["sqlite_master", "gpkg_contents", "gpkg_geometry_columns",
                                          "gpkg_data_columns", "gpkg_extensions", *tables])
                if bad:
                    raise WorkspaceError(f"写入后工作空间校验失败（{bad}）；原文件未改动")
                for name, (_, revision) in revisions.items():
                    revision.check(con, name)
                stamps = {name: _stamp(con, name) for name in kept}  # (as committed)
    except sqlite3.Error as err:  # rolled back: the disk full, the file read-only …
        for files in kept.values():
            for file in files:
                file.unlink(missing_ok=True)
        raise WorkspaceError(f"无法把新写的表保存进工作空间 {path.name}（{err}）；工作空间未改动，"
                             "请检查磁盘空间和写权限后重试") from None
    except BaseException:
        for files in kept.values():
            for file in files:
                file.unlink(missing_ok=True)
        raise
    tmp.unlink(missing_ok=True)
    try:  # (a cache: the workspace is in place whatever happens to it)
        _keep(path, kept, stamps)
    except Exception as err:  # noqa: BLE001 - logged, the next revision reads the stored tables
        _logger.warning("tables not kept for the next revision (%s): %s", kept_tables(path), err)


def _quick_checks(con: sqlite3.Connection, tables: Iterable[str]) -> str | None:
    """``PRAGMA quick_check`` of each of ``tables`` that exists (with its indexes and R-trees),
    on ``con``: the first failure, or ``None``."""
    present = {n for (n,) in con.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    names = [t for t in tables if t in present or t == "sqlite_master"]
    names += [f"rtree_{t}_{c}{suffix}" for t, c in con.execute(
        "SELECT table_name, column_name FROM main.gpkg_geometry_columns").fetchall() if t in names
        for suffix in ("_node", "_rowid", "_parent") if f"rtree_{t}_{c}{suffix}" in present]
    for name in names:
        result = con.execute(f"PRAGMA main.quick_check({sql_literal(name)})").fetchone()[0]
        if result != "ok":
            return str(result)
    return None


def _read_parts(path: Path, sqls: list[str]) -> tuple[dict, pa.Table]:
    """The rows the SQL ``sqls`` read, one after the other, as one Arrow table."""
    parts = [read_arrow(path, None, sql=sql) for sql in sqls]
    header = next((h for h, t in parts if h.get("geometry_name")), parts[0][0])
    tables = [t for _, t in parts]
    if len(tables) == 1:
        return header, tables[0]
    return header, pa.concat_tables(tables, promote_options="permissive")


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy of the workspace ``src``: its file copied whole while a read
    transaction holds SQLite's shared lock, so that no save is written into it meanwhile (a
    save a crash left half done, a hot journal, is rolled back first, as the transaction
    begins). A file in WAL mode, whose last saves may be in its ``-wal`` file, is copied
    through SQLite's backup API instead.

    The bytes are copied by a child process: closing a file descriptor of the workspace in
    this process would release every POSIX lock the process holds on it, the SQLite
    connections' included. (Copying a province's 3.5 GB through the backup API took 7–8 s
    of a processor; the file copy, 1.1 s.)"""
    try:
        with contextlib.closing(sqlite3.connect(src, timeout=30, isolation_level=None)) as con:
            wal = con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
            if wal:
                with contextlib.closing(sqlite3.connect(dst)) as out:
                    out.execute("PRAGMA synchronous = OFF")  # synced once, before it replaces the workspace
                    con.backup(out)
                return
            con.execute("BEGIN")
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the shared lock, held to COMMIT
            _copy_file(src, dst)
            con.execute("COMMIT")
    except sqlite3.Error as err:
        raise WorkspaceError(f"无法复制工作空间 {src.name}（{err}）；请用 QGIS 或 sqlite3 检查该文件") from None


def _copy_file(src: Path, dst: Path) -> None:
    """Copy the file ``src`` to ``dst`` in a child process (see :func:`_copy`)."""
    done = subprocess.run([sys.executable, "-c", "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])",
                           str(src), str(dst)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        dst.unlink(missing_ok=True)
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise WorkspaceError(f"无法复制工作空间 {src.name} 到 {dst.parent}（{why}）；请检查磁盘空间和写权限")


def _sync(path: Path) -> None:
    """Flush the file ``path`` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _durable_replace(tmp: Path, path: Path) -> Path | None:
    """Move the finished copy ``tmp`` over ``path``: its contents on disk first, then the
    rename, then the folder's entry, so that after a crash the file is either the old
    workspace or the new one, whole.

    The old file is given a second name first, which is returned, so that the rename does not
    free it (:func:`_remove_old` does). ``None`` where there was no old file, or the file
    system has no hard links."""
    _sync(tmp)
    old: Path | None = tmp.with_name(tmp.name.removesuffix(".tmp.gpkg") + ".old.tmp.gpkg")
    try:
        os.link(path, old)
    except OSError:
        old = None
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # not every file system lets a folder be synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return old


#: A replaced workspace file at least this large is removed by a process of its own, which the
#: write does not wait for (see :func:`_remove_old`).
REMOVED_APART_BYTES = 256 * 2**20


def _remove_old(old: Path) -> None:
    """Remove the replaced workspace's file ``old``: at once if it is small, else by a
    process of its own, in the background. Freeing a province's 3.5 GB (its pages dropped from
    the cache) took 0.8–0.9 s, after the new workspace was in place. Should that process not
    run to its end, the next write removes the file (:meth:`Workspace._remove_stale_copies`)."""
    try:
        apart = old.stat().st_size >= REMOVED_APART_BYTES
    except FileNotFoundError:
        return
    if apart:
        with contextlib.suppress(OSError):
            remover = subprocess.Popen([sys.executable, "-c", "import os, sys; os.unlink(sys.argv[1])", str(old)],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            # reaped by a thread a server keeps; a command ends without waiting for it
            threading.Thread(target=remover.wait, name="mujun-remove-old", daemon=True).start()
            return
    old.unlink(missing_ok=True)


def _in_transaction(path: Path, step) -> None:
    """Run ``step(connection)`` on the scratch copy ``path`` in one committed transaction.

    Not synced to disk: the copy is synced once, whole, before it replaces the workspace
    (:func:`_durable_replace`); a crash before that leaves the workspace as it was. Nor
    journalled: a write whose step fails throws its copy away, and the rollback journal of a
    province's tables dropped from it alone took 7 of the 8 seconds the drop took."""
    with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as con:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("BEGIN IMMEDIATE")
        try:
            step(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


#: The schema's date fields: read as datetime64[ms] by Arrow (:func:`~mujun.layers.reader.arrow_frame`),
#: which :func:`_restore_types` makes of them anyway.
_DATES = frozenset(name for name, f in FIELDS_BY_NAME.items() if f.dtype == "date")


def _restore_types(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        f = FIELDS_BY_NAME.get(col)
        if f is None:
            continue
        if f.dtype == "date":
            frame[col] = _calendar_dates(frame[col])
        elif f.dtype == "bool" and not pd.api.types.is_bool_dtype(frame[col]):
            frame[col] = frame[col].astype("boolean")
        elif f.dtype == "int" and pd.api.types.is_float_dtype(frame[col]):
            frame[col] = frame[col].astype("Int64")
        elif f.dtype == "str" and col in frame.columns:
            frame[col] = frame[col].astype("string")
    return frame


def _calendar_dates(values: pd.Series) -> pd.Series:
    """A date field as naive datetime64[ms], however it is stored: GeoPackage DATE (read as
    dates) or DATETIME (read with or without UTC)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ms")
    if values.dtype == object:
        parsed = pd.to_datetime(values, errors="coerce")
        if parsed.notna().sum() == values.notna().sum():  # dates only: otherwise left as read
            return parsed.dt.as_unit("ms") if parsed.dtype.kind == "M" else parsed
    return values


def _sync_in_place_tables(live: Path, tmp: Path) -> None:
    """Make ``tmp``'s in-place tables (review decisions and log) those of ``live``,
    with their triggers and GeoPackage registration, in one committed transaction."""
    with contextlib.closing(sqlite3.connect(tmp, timeout=30, isolation_level=None)) as con:
        con.execute("ATTACH DATABASE ? AS live", (str(live),))
        con.execute("BEGIN IMMEDIATE")
        try:
            for name in IN_PLACE_TABLES:
                con.execute(f'DROP TABLE IF EXISTS main."{name}"')  # its triggers go with it
                ddl = con.execute("SELECT sql FROM live.sqlite_master WHERE type = 'table' AND name = ?",
                                  (name,)).fetchone()
                if ddl is None:
                    continue
                con.execute(ddl[0])
                con.execute(f'INSERT INTO main."{name}" SELECT * FROM live."{name}"')
                for (trigger,) in con.execute("SELECT sql FROM live.sqlite_master WHERE type = 'trigger' "
                                              "AND tbl_name = ?", (name,)).fetchall():
                    con.execute(trigger)
                registered = con.execute("SELECT count(*) FROM live.sqlite_master WHERE name = 'gpkg_contents'")
                if registered.fetchone()[0]:
                    con.execute("INSERT OR IGNORE INTO main.gpkg_contents SELECT * FROM live.gpkg_contents "
                                "WHERE table_name = ?", (name,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("DETACH DATABASE live")


def _check_integrity(path: Path, tables: Iterable[str] | None = None) -> None:
    """``PRAGMA quick_check`` of the tables written (with their indexes and R-trees), or of
    the whole file: every page and record well-formed (``integrity_check`` also cross-checks
    each index against its table, 30 times slower on a province). The rest of the file is
    the consistent copy the write started from."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        if tables is None:
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            bad = None if check == "ok" else str(check)
        else:
            bad = _quick_checks(con, [*tables, "sqlite_master"])
    if bad:
        raise WorkspaceError(f"写入后工作空间校验失败（{bad}）；原文件未改动")
