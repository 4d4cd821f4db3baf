"""Read access to a workspace's layers and results for the web app, cached in memory.

A table is read once per workspace generation (a token :meth:`Workspace.write` renews), so
an evaluation run while the server is up is picked up on the next request, while review
decisions saved in place do not empty the cache.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Flask, abort, current_app

from mujun.geo.review import queue
from mujun.layers.columnar import ColumnCache, cache_dir
from mujun.layers.workspace import Workspace, missing_workspace, not_evaluated, result_table

__all__ = ["Results", "init_app", "only", "record", "records", "results", "where", "zone_districts"]

_LOCK = threading.Lock()


@lru_cache(maxsize=64)
def _read(path: str, stamp: str, name: str, where: str | None, cache: ColumnCache | None) -> pd.DataFrame:
    return Workspace(path, cache=cache).read(name, where=where)


def _where(year: int | None) -> str | None:
    return None if year is None else f"year = {int(year)}"


@lru_cache(maxsize=16)
def _count(path: str, stamp: str, name: str, year: int | None, cache: ColumnCache | None) -> int:
    n = None if cache is None else cache.rows(stamp, name, _where(year))
    if n is None and cache is not None:  # not cached yet: the copy the evaluation kept, if any
        n = Workspace(path).kept_rows(name, year)
    if n is None:  # SQLite counts (a scan of the table: seconds at a million parcels)
        sql = f'SELECT count(*) FROM "{name}"' + (f" WHERE {_where(year)}" if year is not None else "")
        n = int(Workspace(path).query(sql)[0][0])
    return n


@lru_cache(maxsize=16)
def _column(path: str, stamp: str, name: str, column: str, year: int | None, cache: ColumnCache | None) -> pd.Series:
    part = None if cache is None else cache.columns(stamp, name, _where(year), [column])
    if part is not None:
        return pd.to_numeric(part[column], errors="coerce")
    # not cached yet: the copy the evaluation kept (memory-mapped, the one column), if any,
    # else SQLite reads the one column, not the table
    ws = Workspace(path)
    values = None if cache is None else ws.kept_numbers(name, column, year)
    if values is None:
        values = ws.numbers(name, column, _where(year))
    return pd.Series(values, name=column)


@lru_cache(maxsize=8)
def _zones(path: str, stamp: str, level: str, cache: ColumnCache | None) -> pd.DataFrame:
    from mujun.service import zone_evaluation

    return zone_evaluation(Workspace(path, cache=cache), level)


@lru_cache(maxsize=8)
def _redline(path: str, stamp: str, year: int | None, rules: str, cache: ColumnCache | None):
    from mujun.service import redline

    return redline(Workspace(path, cache=cache), year, rules=rules)


@lru_cache(maxsize=8)
def _queue(path: str, stamp: str, year: int, cache: ColumnCache | None) -> pd.DataFrame:
    return queue(_read(path, stamp, result_table("parcel"), f"year = {int(year)}", cache))


class Results:
    """The layers and results of one workspace, read through a shared cache.

    Frames returned are shared: callers must not change them in place.
    """

    def __init__(self, path: str | Path, cache: str | Path | None = None):
        self.cache = None if cache is None else ColumnCache(cache)
        self.ws = Workspace(path, cache=self.cache)

    def _stamp(self) -> str:
        if not self.ws.exists():
            raise missing_workspace(self.ws.path)
        return self.ws.generation()

    def table(self, name: str, year: int | None = None) -> pd.DataFrame:
        stamp = self._stamp()
        with _LOCK:
            return _read(str(self.ws.path), stamp, name, None if year is None else f"year = {int(year)}", self.cache)

    def count(self, name: str, year: int | None = None) -> int:
        """Rows of table ``name`` (of ``year``), from the column cache when it holds the table,
        else from the copy of it the evaluation kept (:meth:`Workspace.kept_rows`), else
        counted by SQLite: no table is read."""
        stamp = self._stamp()
        with _LOCK:
            return _count(str(self.ws.path), stamp, name, None if year is None else int(year), self.cache)

    def column(self, name: str, column: str, year: int | None = None) -> pd.Series:
        """One numeric column of table ``name`` (of ``year``) in table order, from the column
        cache when it holds the table, else from the copy of it the evaluation kept
        (:meth:`Workspace.kept_numbers`, memory-mapped), else read by SQLite alone: the class
        breaks of /map's legend need no more. With the column cache off, only SQLite."""
        stamp = self._stamp()
        with _LOCK:
            return _column(str(self.ws.path), stamp, name, column, None if year is None else int(year), self.cache)

    def has(self, name: str) -> bool:
        self._stamp()
        return self.ws.has(name)

    def optional(self, name: str, year: int | None = None) -> pd.DataFrame | None:
        return self.table(name, year) if self.has(name) else None

    def years(self) -> list[int]:
        self._stamp()  # a missing workspace says so
        text = self.ws.meta().get("evaluated_years", "")
        years = [int(y) for y in text.split(",") if y.strip()]
        if not years:
            raise not_evaluated(self.ws.path)
        return years

    def year(self, requested: int | None) -> int:
        """``requested`` if it was evaluated, else the latest evaluated year."""
        years = self.years()
        return requested if requested in years else years[-1]

    def results(self, level: str, year: int) -> pd.DataFrame:
        return self.table(result_table(level), year)

    def queue(self, year: int) -> pd.DataFrame:
        """The year's review queue without decisions (:func:`mujun.geo.review.queue`): worked out
        once per generation, not on every click through a province's queue."""
        stamp = self._stamp()
        with _LOCK:
            return _queue(str(self.ws.path), stamp, int(year), self.cache)

    def zones(self, level: str) -> pd.DataFrame:
        """The composite evaluation of a zone level, every year (:func:`mujun.service.zone_evaluation`),
        worked out once per generation."""
        stamp = self._stamp()
        with _LOCK:
            return _zones(str(self.ws.path), stamp, level, self.cache)

    def redline(self, year: int | None, rules: str):
        """The industrial-land red line (:func:`mujun.service.redline`) of ``year`` under the shipped
        rules ``rules``, worked out once per generation."""
        stamp = self._stamp()
        with _LOCK:
            return _redline(str(self.ws.path), stamp, year, rules, self.cache)

    def is_sample(self) -> bool:
        return self.ws.meta().get("sample") == "1"


def init_app(app: Flask) -> None:
    """Give ``app`` the :class:`Results` of its ``WORKSPACE``, with a column cache
    (:mod:`mujun.layers.columnar`) in ``COLUMN_CACHE_DIR`` unless ``COLUMN_CACHE`` is off."""
    cfg = app.config
    cache = None
    if cfg.get("COLUMN_CACHE", True):
        cache = cfg.get("COLUMN_CACHE_DIR") or cache_dir(cfg["WORKSPACE"])
    app.extensions["mujun_results"] = Results(cfg["WORKSPACE"], cache)


def results() -> Results:
    """The :class:`Results` of the current app."""
    return current_app.extensions["mujun_results"]


def zone_districts(parcels: pd.DataFrame, id_field: str) -> pd.DataFrame:
    """District of each park or platform: the one holding most of its parcels (as the
    platform assessment decides it), with ``district_id`` and ``district_name``."""
    p = parcels[parcels[id_field].notna() & parcels["district_id"].notna()]
    counts = p.groupby([id_field, "district_id", "district_name"], dropna=True).size().rename("n").reset_index()
    counts = counts.sort_values(["n", "district_id"], ascending=[False, True]).drop_duplicates(id_field)
    return counts.drop(columns="n").set_index(id_field)


# -- rows for templates ----------------------------------------------------------------------

def only(frame: pd.DataFrame | None, field: str, value: str) -> pd.DataFrame:
    """Rows of ``frame`` whose ``field`` is ``value`` (compared as text); 404 if none."""
    if frame is None or field not in frame.columns:
        abort(404)
    rows = frame[(frame[field].astype("string") == value).fillna(False).astype(bool)]
    if rows.empty:
        abort(404)
    return rows


def where(frame: pd.DataFrame | None, field: str, value: str) -> pd.DataFrame | None:
    """Rows of ``frame`` whose ``field`` is ``value`` (compared as text); ``None`` without the field."""
    if frame is None or field not in frame.columns:
        return None
    return frame[(frame[field].astype("string") == value).fillna(False).astype(bool)]


def record(row: pd.Series) -> dict[str, Any]:
    """A row as a dict for a template, without its geometry, missing values ``None``."""
    return {k: (None if _na(v) else v) for k, v in row.items() if k != "geometry"}


def records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows (of ``columns``, those present) as dicts for a template, missing values ``None``."""
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns and c != "geometry"]
    part = frame[cols]
    return part.astype(object).where(part.notna(), None).to_dict("records")


def _na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
