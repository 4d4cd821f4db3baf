"""Security headers on every response: a Content-Security-Policy as strict as the pages
allow, no framing by other sites, no MIME sniffing, no referrer to other sites.

The pages load scripts only from the app (``/static``, ``/vendor``); the few inline scripts
(a Folium map's set-up) carry the request's nonce (:func:`csp_nonce`). Styles stay
``'unsafe-inline'``: templates, Folium and the inline SVG charts use ``style`` attributes,
which a nonce cannot cover, and a style cannot run script.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g

__all__ = ["content_security_policy", "csp_nonce", "init_app", "tile_sources"]

TIANDITU_SOURCE = "https://*.tianditu.gov.cn"


def csp_nonce() -> str:
    """The nonce of this response's inline scripts (made on first use, one per request)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def tile_sources(config: Mapping[str, Any]) -> list[str]:
    """Hosts the configured basemap's tiles come from, as CSP sources (none offline).

    Examples
    --------
    >>> tile_sources({"BASEMAP": "xyz", "BASEMAP_URL": "https://webrd0{s}.is.autonavi.com/t?x={x}"})
    ['https://*.is.autonavi.com']
    >>> tile_sources({"BASEMAP": "none"})
    []
    """
    kind = config.get("BASEMAP", "none")
    if kind == "tianditu" and config.get("TIANDITU_TOKEN"):
        return [TIANDITU_SOURCE]
    if kind != "xyz" or not config.get("BASEMAP_URL"):
        return []
    parts = urlsplit(str(config["BASEMAP_URL"]))
    if not parts.netloc:  # a path on this server
        return []
    labels = parts.netloc.split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label]
    if templated:  # {s} subdomains: a wildcard for every label up to the last templated one
        labels = ["*", *labels[templated[-1] + 1:]]
    return [f"{parts.scheme}://{'.'.join(labels)}" if parts.scheme else ".".join(labels)]


def content_security_policy(config: Mapping[str, Any], nonce: str | None = None) -> str:
    """The Content-Security-Policy of a response (``nonce``: its inline scripts' nonce)."""
    scripts = ["'self'"] + ([f"'nonce-{nonce}'"] if nonce else [])
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", *tile_sources(config)],  # data: Bootstrap's icons, the favicon
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _secure(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy",
                       content_security_policy(current_app.config, g.get("csp_nonce")))
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response and ``csp_nonce()`` to the templates."""
    app.after_request(_secure)
    app.add_template_global(csp_nonce)
