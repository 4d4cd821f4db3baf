"""Read access to a workspace's layers and results for the web app, cached in memory.

A table is read once per workspace generation (a token :meth:`Workspace.write` renews), so
an evaluation run while the server is up is picked up on the next request, while review
decisions saved in place do not empty the cache.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import pandas as pd

from mujun.geo.errors import WorkspaceError
from mujun.geo.review import queue
from mujun.layers.workspace import Workspace, result_table

__all__ = ["Results"]

_LOCK = threading.Lock()


@lru_cache(maxsize=64)
def _read(path: str, stamp: str, name: str, where: str | None) -> pd.DataFrame:
    return Workspace(path).read(name, where=where)


@lru_cache(maxsize=8)
def _queue(path: str, stamp: str, year: int) -> pd.DataFrame:
    return queue(_read(path, stamp, result_table("parcel"), f"year = {int(year)}"))


class Results:
    """The layers and results of one workspace, read through a shared cache.

    Frames returned are shared: callers must not change them in place.
    """

    def __init__(self, path: str | Path):
        self.ws = Workspace(path)

    def _stamp(self) -> str:
        if not self.ws.exists():
            raise WorkspaceError(f"工作空间 {self.ws.path} 不存在；请先运行 mujun demo 或导入数据后 mujun evaluate")
        return self.ws.generation()

    def table(self, name: str, year: int | None = None) -> pd.DataFrame:
        stamp = self._stamp()
        with _LOCK:
            return _read(str(self.ws.path), stamp, name, None if year is None else f"year = {int(year)}")

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
            raise WorkspaceError("工作空间还没有评价结果；请先运行 mujun evaluate")
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
            return _queue(str(self.ws.path), stamp, int(year))

    def is_sample(self) -> bool:
        return self.ws.meta().get("sample") == "1"
