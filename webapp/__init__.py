"""mujun web app: ``create_app`` builds it; ``mujun serve`` runs it on waitress."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_login import current_user

__all__ = ["create_app"]

#: (endpoint, label, role needed to see the link)
NAV = (
    ("dashboard.index", "总览", None),
    ("mapview.map_page", "地图", None),
    ("rankings.index", "排名", None),
    ("measures.index", "措施", None),
    ("redline.index", "红线", None),
    ("review.queue", "审核", "viewer"),
    ("ledger.index", "腾笼换鸟", "viewer"),
    ("account.index", "令牌", "viewer"),
    ("admin.users", "用户", "admin"),
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask application.

    Parameters
    ----------
    config : mapping, optional
        Settings overriding the defaults and the ``MUJUN_*`` environment variables (see
        :mod:`mujun.webapp.settings`), e.g. ``{"WORKSPACE": "mujun.gpkg", "TESTING": True}``.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    from mujun.webapp import (
        access,
        account,
        admin,
        api,
        assets,
        auth,
        dashboard,
        data,
        details,
        errors,
        formatting,
        headers,
        ledger,
        mapview,
        measures,
        ogc,
        rankings,
        redline,
        review,
        settings,
        tiles,
        tileservice,
    )

    app = Flask(__name__)
    app.config.from_mapping(settings.DEFAULTS)
    app.config.update(settings.from_env())
    if config:
        app.config.update(config)
    settings.finish(app.config)
    data.init_app(app)
    tileservice.init_app(app)
    formatting.init_app(app)
    app.json.ensure_ascii = False

    if app.config["PROXIES"]:  # behind a reverse proxy: trust its X-Forwarded-For/-Proto
        n = int(app.config["PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    access.init_app(app)
    for module in (auth, assets, dashboard, mapview, details, rankings, measures, redline, api, ogc, tiles, review,
                   ledger, admin, account):
        app.register_blueprint(module.bp)
    errors.init_app(app)
    headers.init_app(app)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        res = data.results()
        try:
            sample = res.is_sample()
        except Exception:  # a missing workspace is reported by the page itself
            sample = False
        return {
            "asset_url": assets.asset_url,
            "nav_items": [(endpoint, label) for endpoint, label, role in NAV
                          if role is None or (current_user.is_authenticated and current_user.can(role))],
            "workspace_name": Path(app.config["WORKSPACE"]).name,
            "is_sample": sample,
            "basemap_gcj02": bool(app.config.get("BASEMAP_GCJ02")) and app.config.get("BASEMAP") != "none",
        }

    return app

