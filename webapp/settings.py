"""Settings of the web app: defaults, overridden by ``MUJUN_*`` environment variables, then
by the mapping given to :func:`webapp.create_app`. Read only in the factory."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
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
    # parcel tiles (/tiles/) are cached on disk, by default in .<workspace name>.tiles beside
    # the workspace; TILE_CACHE_DIR chooses another folder, TILE_CACHE = False renders each time
    "TILE_CACHE": True,
    "TILE_CACHE_DIR": "",
    "SECRET_KEY": None,
}

_ENV = {
    "WORKSPACE": str, "BASEMAP": str, "BASEMAP_URL": str, "BASEMAP_ATTRIBUTION": str,
    "BASEMAP_GCJ02": lambda v: v.strip().lower() in ("1", "true", "yes", "是"), "TIANDITU_TOKEN": str,
    "MAX_EMBED_FEATURES": int, "PARCEL_MIN_ZOOM": int, "RANKING_PAGE_SIZE": int, "SECRET_KEY": str,
    "TILE_CACHE": lambda v: v.strip().lower() in ("1", "true", "yes", "是"), "TILE_CACHE_DIR": str,
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
        config["SECRET_KEY"] = secrets.token_hex(32)
