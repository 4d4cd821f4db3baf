"""Settings of the web app: defaults, overridden by ``MUJUN_*`` environment variables, then
by the mapping given to :func:`mujun.webapp.create_app`. Read only in the factory."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULTS", "from_env"]

DEFAULTS: dict[str, Any] = {
    # the workspace GeoPackage
    "WORKSPACE": "mujun.gpkg",
    # basemap: "none" (default, offline), "tianditu" (needs TIANDITU_TOKEN) or "xyz" (BASEMAP_URL)
    "BASEMAP": "none",
    "BASEMAP_URL": "",
    "BASEMAP_ATTRIBUTION": "",
    "BASEMAP_GCJ02": False,  # the tiles are GCJ-02 (Amap): cadastral data will look offset
    "TIANDITU_TOKEN": "",
    # a page never embeds more parcels than this; larger layers load by bounding box
    "MAX_EMBED_FEATURES": 2000,
    # parcels are drawn from this zoom level on (/map)
    "PARCEL_MIN_ZOOM": 14,
    "RANKING_PAGE_SIZE": 50,
    # price index (TOML) deflating the dashboard's figures to 2019 prices; "" = the shipped one
    "DEFLATOR": "",
    # parcel tiles (/tiles/) are cached on disk, by default in .<workspace name>.tiles beside
    # the workspace; TILE_CACHE_DIR chooses another folder, TILE_CACHE = False renders each time
    "TILE_CACHE": True,
    "TILE_CACHE_DIR": "",
    # the cache never holds more than this many MiB of tiles: the least recently used go first
    "TILE_CACHE_MAX_MB": 1024,
    # tiles are cached only below PARCEL_MIN_ZOOM (what /map asks for) and up to this zoom;
    # deeper ones are rendered for each request
    "TILE_CACHE_MAX_ZOOM": 20,
    # what the pages read from the workspace is kept as memory-mapped Arrow files, per workspace
    # generation, by default in .<workspace name>.cache beside the workspace, so that a server
    # started again reads no table through GDAL; COLUMN_CACHE = False reads the workspace each time
    "COLUMN_CACHE": True,
    "COLUMN_CACHE_DIR": "",
    "SECRET_KEY": None,
    # reading pages (map, rankings, details, API) open to anonymous users; review and admin
    # pages always need a login
    "PUBLIC_READ": False,
    # a login lasts this many hours
    "SESSION_HOURS": 8,
    # shortest password accepted when one is set (admin page, mujun user add/password)
    "PASSWORD_MIN_LENGTH": 10,
    # session cookie Secure flag: "auto" (when the request came over HTTPS), True or False
    "SESSION_COOKIE_SECURE": "auto",
    # number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted
    "PROXIES": 0,
}


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on", "是")


_ENV = {
    "WORKSPACE": str, "BASEMAP": str, "BASEMAP_URL": str, "BASEMAP_ATTRIBUTION": str,
    "BASEMAP_GCJ02": _flag, "TIANDITU_TOKEN": str,
    "MAX_EMBED_FEATURES": int, "PARCEL_MIN_ZOOM": int, "RANKING_PAGE_SIZE": int, "DEFLATOR": str, "SECRET_KEY": str,
    "PUBLIC_READ": _flag, "SESSION_HOURS": float, "PASSWORD_MIN_LENGTH": int, "PROXIES": int,
    "SESSION_COOKIE_SECURE": lambda v: "auto" if v.strip().lower() == "auto" else _flag(v),
    "TILE_CACHE": _flag, "TILE_CACHE_DIR": str, "TILE_CACHE_MAX_MB": float, "TILE_CACHE_MAX_ZOOM": int,
    "COLUMN_CACHE": _flag, "COLUMN_CACHE_DIR": str,
}


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings given as ``MUJUN_<NAME>`` environment variables."""
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, cast in _ENV.items():
        value = environ.get(f"MUJUN_{name}")
        if value is not None:
            out[name] = cast(value)
    return out


def finish(config: dict[str, Any]) -> None:
    """Fill in what can only be decided once everything is known."""
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _stored_secret(Path(config["WORKSPACE"]))


def _stored_secret(workspace: Path) -> str:
    """The key signing sessions and CSRF tokens, kept beside the workspace (owner-only file)
    so logins survive a restart; a fresh random key when that folder is not writable."""
    path = workspace.with_name(f".{workspace.name}.secret")
    try:
        if path.is_file():
            key = path.read_text().strip()
            if len(key) >= 32:
                return key
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key
    except OSError:
        return secrets.token_hex(32)
