"""排名 /rankings: filtered, paged and sortable rankings with XLSX/CSV/GeoPackage exports."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("rankings", __name__)
