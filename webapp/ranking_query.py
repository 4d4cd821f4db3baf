"""What a ranking is asked for: the filters of the 排名 page, the JSON API's /api/rankings and
``mujun rank``, read from a query string and answered by :func:`mujun.service.ranking`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mujun import service
from mujun.geo.errors import InputError
from mujun.webapp.data import results

__all__ = ["DEFAULT_BY", "RankingQuery", "int_arg"]

#: Default ranking field of each level.
DEFAULT_BY = {"enterprise": "score", "parcel": "tax_per_mu", "park": "tax_per_mu", "platform": "output_yi",
              "district": "tax_per_mu"}


def int_arg(args: Mapping[str, str], name: str, what: str) -> int | None:
    """The integer ``args[name]`` (``None`` if empty); ``what`` names it in the error."""
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{what}应为整数，收到 '{text}'") from None


@dataclass(frozen=True)
class RankingQuery:
    """The filters of a ranking, as given in a query string.

    ``level``, ``by``, ``year``, ``district`` (name or code), ``industry`` (code prefix),
    ``class`` (A–D, repeatable) and ``asc`` (0/1), as in ``mujun rank``.
    """

    level: str = "enterprise"
    by: str = "score"
    year: int | None = None
    district: str | None = None
    industry: str | None = None
    classes: tuple[str, ...] = ()
    ascending: bool = False

    @classmethod
    def from_args(cls, args) -> RankingQuery:
        """The query of a request's ``args`` (a ``MultiDict``); bad values raise InputError."""
        level = (args.get("level") or "enterprise").strip()
        if level not in service.LEVEL_VIEWS:
            raise InputError(f"未知的排名层级 '{level}'；可用：{'、'.join(service.LEVEL_VIEWS)}"
                             f"（{'、'.join(v.label for v in service.LEVEL_VIEWS.values())}）")
        asc = (args.get("asc") or "0").strip()
        if asc not in ("0", "1"):
            raise InputError(f"asc 应为 0（从高到低）或 1（从低到高），收到 '{asc}'")
        classes = tuple(dict.fromkeys(c.strip().upper() for c in args.getlist("class") if c.strip()))
        return cls(
            level=level,
            by=(args.get("by") or DEFAULT_BY[level]).strip(),
            year=int_arg(args, "year", "年度"),
            district=(args.get("district") or "").strip() or None,
            industry=(args.get("industry") or "").strip() or None,
            classes=classes,
            ascending=asc == "1",
        )

    def ranking(self) -> tuple[pd.DataFrame, int]:
        """(ranked frame, year) from :func:`mujun.service.ranking`."""
        return service.ranking(results().ws, self.level, self.by, year=self.year, ascending=self.ascending,
                               classes=self.classes, district=self.district, industry=self.industry)

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string values of this query with ``changes``, for ``url_for``."""
        values: dict[str, Any] = {"level": self.level, "by": self.by, "year": self.year, "district": self.district,
                                  "industry": self.industry, "class": list(self.classes) or None,
                                  "asc": 1 if self.ascending else None}
        values.update(changes)
        return {k: v for k, v in values.items() if v is not None and v != "" and v is not False}
