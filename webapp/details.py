"""Pages of single things: 平台 /platforms/<id>, 园区 /parks/<id>, 地块 /parcels/<id>,
企业 /enterprises/<code>, 行政区 /districts/<id>."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("details", __name__)
