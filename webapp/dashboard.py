"""总览 / : headline figures, class shares, rankings and trends."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("dashboard", __name__)
