"""How the web app writes values and names: numbers, shares, and the Chinese label and unit
of a canonical field, taken from the schema (:mod:`mujun.layers.schema`), never typed again.

``init_app`` installs them as Jinja filters: ``{{ p.tax_per_mu|number }}``,
``{{ p.admin_share|percent }}``, ``{{ "tax_per_mu"|label }}`` (亩均税收) and
``{{ "tax_per_mu"|unit }}`` (万元/亩) and ``{{ "tax_per_mu"|heading }}`` (亩均税收（万元/亩）);
``{{ d.decided_at|local_time }}`` writes a stored UTC time in the server's time zone.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from flask import Flask

from mujun.layers.gpkg import local_time
from mujun.layers.schema import FIELDS_BY_NAME

__all__ = ["field_label", "heading", "init_app", "local_time", "num", "number", "percent", "unit"]

#: How a stored unit is written for people.
_UNIT_TEXT = {"m2": "平方米"}


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value: Any, digits: int = 2) -> str:
    """``1,234.57`` (thousands separators), "—" where missing."""
    if _missing(value):
        return "—"
    v = float(value)
    return "—" if math.isinf(v) else f"{v:,.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    """A share (0–1) as ``12.3%``, "—" where missing."""
    if _missing(value):
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def num(values: pd.Series, digits: int = 2) -> pd.Series:
    """:func:`number` of a column, vectorised."""
    v = pd.to_numeric(values, errors="coerce")
    text = v.map(lambda x: f"{x:,.{digits}f}", na_action="ignore")
    return text.astype("string").fillna("—")


def field_label(name: str) -> str:
    """The schema's Chinese label of a canonical field, without its unit; the name if unknown.

    Examples
    --------
    >>> field_label("tax_per_mu"), field_label("plot_ratio")
    ('亩均税收', '容积率')
    """
    f = FIELDS_BY_NAME.get(name)
    return f.label if f else name


def unit(name: str) -> str:
    """The unit of a canonical field as people write it ("" if it has none).

    Examples
    --------
    >>> unit("tax_per_mu"), unit("footprint_m2"), unit("plot_ratio")
    ('万元/亩', '平方米', '')
    """
    f = FIELDS_BY_NAME.get(name)
    text = (f.unit if f else None) or ""
    return _UNIT_TEXT.get(text, text)


def heading(name: str) -> str:
    """A column heading: the field's label with its unit in brackets.

    Examples
    --------
    >>> heading("tax_per_mu"), heading("plot_ratio")
    ('亩均税收（万元/亩）', '容积率')
    """
    text = unit(name)
    return field_label(name) + (f"（{text}）" if text else "")


def init_app(app: Flask) -> None:
    """Install the filters ``number``, ``percent``, ``label``, ``unit``, ``heading`` and
    ``local_time``."""
    app.add_template_filter(heading, "heading")
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(number, "number")
    app.add_template_filter(percent, "percent")
    app.add_template_filter(field_label, "label")
    app.add_template_filter(unit, "unit")
