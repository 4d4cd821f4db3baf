"""mujun web app: ``create_app`` builds it; ``mujun serve`` runs it on waitress."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app

__all__ = ["create_app", "results"]

NAV = (
    ("dashboard.index", "总览"),
    ("mapview.map_page", "地图"),
    ("rankings.index", "排名"),
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask application.

    Parameters
    ----------
    config : mapping, optional
        Settings overriding the defaults and the ``MUJUN_*`` environment variables (see
        :mod:`webapp.settings`), e.g. ``{"WORKSPACE": "mujun.gpkg", "TESTING": True}``.
    """
    from webapp import api, assets, dashboard, details, errors, mapview, rankings, settings, tiles
    from webapp.data import Results

    app = Flask(__name__)
    app.config.from_mapping(settings.DEFAULTS)
    app.config.update(settings.from_env())
    if config:
        app.config.update(config)
    settings.finish(app.config)
    app.extensions["mujun_results"] = Results(app.config["WORKSPACE"])
    app.json.ensure_ascii = False

    for module in (assets, dashboard, mapview, details, rankings, api, tiles):
        app.register_blueprint(module.bp)
    errors.init_app(app)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        res = results()
        try:
            sample = res.is_sample()
        except Exception:  # a missing workspace is reported by the page itself
            sample = False
        return {
            "asset_url": assets.asset_url,
            "nav_items": NAV,
            "workspace_name": Path(app.config["WORKSPACE"]).name,
            "is_sample": sample,
            "basemap_gcj02": bool(app.config.get("BASEMAP_GCJ02")) and app.config.get("BASEMAP") != "none",
        }

    return app


def results():
    """The :class:`webapp.data.Results` of the current app."""
    return current_app.extensions["mujun_results"]
