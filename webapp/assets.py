"""Browser assets served from installed XStatic packages (no CDN, no copies in the repo)."""

from __future__ import annotations

import importlib

from flask import Blueprint, abort, send_from_directory, url_for

__all__ = ["PACKAGES", "asset_url", "bp"]

bp = Blueprint("assets", __name__)

#: URL name -> XStatic module
PACKAGES = {
    "leaflet": "xstatic.pkg.leaflet",
    "jquery": "xstatic.pkg.jquery",
    "bootstrap": "xstatic.pkg.bootstrap",
    "font-awesome": "xstatic.pkg.font_awesome",
}


def _base_dir(name: str) -> str:
    if name not in PACKAGES:
        abort(404)
    return importlib.import_module(PACKAGES[name]).BASE_DIR


@bp.route("/vendor/<name>/<path:filename>")
def vendor(name: str, filename: str):
    """A file of an installed XStatic package, cached by the browser for a day."""
    return send_from_directory(_base_dir(name), filename, max_age=86400)


def asset_url(name: str, filename: str) -> str:
    """URL of a vendored asset, e.g. ``asset_url("leaflet", "leaflet.js")``."""
    return url_for("assets.vendor", name=name, filename=filename)
