"""Charts drawn on the server with matplotlib, returned as inline SVG markup.

Pure: numbers in, markup out; no pyplot state, no files. matplotlib is imported on the
first chart, not with the app (a second of a server's start). Text stays text in the SVG
(``svg.fonttype = "none"``) so the browser draws Chinese labels with its own fonts even
when the server has no CJK font; a CJK font found by matplotlib is named first.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from markupsafe import Markup

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["line_chart", "parcel_sketch", "stacked_bars"]

#: Fonts able to draw Chinese, in order of preference (whichever matplotlib finds).
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Microsoft YaHei",
    "PingFang SC", "Hiragino Sans GB", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "SimHei", "Heiti SC",
    "Sarasa Gothic SC", "Droid Sans Fallback", "AR PL UMing CN",
)
PALETTE = ("#1f78b4", "#e6550d", "#31a354", "#756bb1", "#636363")


@lru_cache(maxsize=1)
def cjk_fonts() -> tuple[str, ...]:
    """The fonts of :data:`CJK_FONTS` that matplotlib can use here (possibly none)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FONTS if name in installed)


def _rc() -> dict:
    return {
        "svg.fonttype": "none",
        "svg.hashsalt": "mujun",
        "font.family": "sans-serif",
        "font.sans-serif": [*cjk_fonts(), "DejaVu Sans"],
        "font.size": 9,
        # labels come from data (parcel ids, names): a "$" is text, never TeX or mathtext
        "text.parse_math": False,
        "text.usetex": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def _svg(fig: Figure, title: str) -> Markup:
    """The figure as an ``<svg>`` element for an HTML page (no XML prolog, no metadata)."""
    buf = io.StringIO()
    with warnings.catch_warnings():
        # without a CJK font matplotlib measures Chinese with DejaVu and says so; the
        # browser draws the text with its own fonts, so the warning is noise here
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and doctype
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    end = text.index(">")
    # inline SVG needs no namespace declarations; the size follows the page's width
    attrs = re.sub(r'\s(?:xmlns(?::\w+)?|width|height)="[^"]*"', "", text[len("<svg"):end])
    view = re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) [\d.]+"', attrs)
    max_width = f' style="max-width: {float(view.group(1)) * 1.6:.0f}px; height: auto;"' if view else ""
    head = f'<svg class="mujun-chart" role="img" width="100%"{max_width} aria-label="{_attr(title)}"{attrs}>'
    body = text[end + 1:].replace("<style type=\"text/css\">*{", "<style type=\"text/css\">.mujun-chart *{")
    # ids unique on a page that holds several charts
    prefix = "c" + hashlib.sha1(body.encode()).hexdigest()[:8] + "-"
    body = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', body)
    body = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", body)
    body = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}\1"', body)
    return Markup(head + body)


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def line_chart(x: Sequence, series: Mapping[str, Sequence[float]], *, title: str, unit: str = "",
               target: float | None = None, target_label: str = "目标", size: tuple[float, float] = (4.6, 2.6)
               ) -> Markup:
    """Lines of ``series`` (label -> values, one per ``x``) with an optional target line.

    Missing values (NaN) leave gaps. Returns an inline ``<svg>`` element.

    Examples
    --------
    >>> svg = line_chart([2024, 2025], {"规上": [30.5, 33.0]}, title="亩均税收", unit="万元/亩", target=37)
    >>> svg.startswith("<svg") and "亩均税收" in svg and "http://" not in svg
    True
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=size)
        ax = fig.add_subplot()
        labels = [str(v) for v in x]
        for i, (name, values) in enumerate(series.items()):
            ys = [float("nan") if v is None else float(v) for v in values]
            ax.plot(labels, ys, marker="o", color=PALETTE[i % len(PALETTE)], label=name, linewidth=2)
            for xi, yi in zip(labels, ys, strict=True):
                if yi == yi:  # not NaN
                    ax.annotate(f"{yi:,.1f}", (xi, yi), textcoords="offset points", xytext=(0, 6),
                                ha="center", fontsize=8, color=PALETTE[i % len(PALETTE)])
        if target is not None:
            ax.axhline(target, color="#d73027", linestyle="--", linewidth=1.2, label=f"{target_label} {target:g}")
        ax.set_title(title + (f"（{unit}）" if unit else ""), fontsize=10)
        top = max([v for vals in series.values() for v in vals if v is not None and v == v] + [target or 0.0])
        ax.set_ylim(0, top * 1.2 if top > 0 else None)  # room for the value labels under the title
        ax.margins(x=0.12)
        ax.grid(axis="y", color="#e0e0e0", linewidth=0.6)
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        return _svg(fig, title)


def stacked_bars(rows: Mapping[str, Mapping[str, float]], colors: Mapping[str, str], *, title: str,
                 unit: str = "", percent: bool = False, size: tuple[float, float] | None = None) -> Markup:
    """Horizontal stacked bars: one bar per row (label -> {part: value}), parts in ``colors`` order.

    With ``percent`` the values are shares (0–1) and are labelled as percentages.

    Examples
    --------
    >>> svg = stacked_bars({"规上": {"A": 0.1, "B": 0.9}}, {"A": "#1a9850", "B": "#91cf60"},
    ...                    title="分类占比", percent=True)
    >>> svg.startswith("<svg") and "10%" in svg
    True
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=size or (4.6, 0.9 + 0.4 * len(rows)))
        ax = fig.add_subplot()
        names = list(rows)[::-1]
        total = max([sum(v for v in r.values() if v == v) for r in rows.values()] or [1.0]) or 1.0
        parts = list(colors)
        for k, (part, color) in enumerate(colors.items()):
            lefts = [sum(rows[n].get(p, 0.0) for p in parts[:k]) for n in names]
            widths = [rows[n].get(part, 0.0) for n in names]
            label = part if percent or len(rows) > 1 else f"{part} {widths[0]:,.0f}"
            ax.barh(names, widths, left=lefts, color=color, label=label, edgecolor="white", height=0.6)
            for y, (left, w) in enumerate(zip(lefts, widths, strict=True)):
                if w > 0.06 * total:
                    text = f"{w:.0%}" if percent else f"{w:,.0f}"
                    ax.text(left + w / 2, y, text, ha="center", va="center", fontsize=8)
        ax.set_title(title + (f"（{unit}）" if unit else ""), fontsize=10)
        ax.set_xlim(0, 1 if percent else total)
        ax.xaxis.set_visible(False)  # the bars carry their values
        ax.spines["bottom"].set_visible(False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(colors), fontsize=8, frameon=False)
        return _svg(fig, title)


def parcel_sketch(parcel, neighbours, buildings, *, title: str, size: tuple[float, float] = (4.2, 3.4)) -> Markup:
    """A printable sketch map: the parcel (red outline), its buildings (grey) and the parcels
    around it, in the local CGCS2000 Gauss-Krüger zone with a scale bar and a north arrow.

    ``parcel``, ``neighbours`` and ``buildings`` are GeoDataFrames (any CRS; ``buildings``
    may be ``None``).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> p = gpd.GeoDataFrame(geometry=[shapely.box(120.50, 30.00, 120.502, 30.002)], crs=4490)
    >>> svg = parcel_sketch(p, p.iloc[:0], None, title="地块示意图")
    >>> svg.startswith("<svg") and "100 米" in svg
    True
    """
    from mujun.geo.area import local_gk_crs

    crs = local_gk_crs(parcel)
    this = parcel.to_crs(crs)
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=size)
        ax = fig.add_subplot()
        if len(neighbours):
            neighbours.to_crs(crs).plot(ax=ax, facecolor="#f0f0f0", edgecolor="#969696", linewidth=0.6)
        if buildings is not None and len(buildings):
            buildings.to_crs(crs).plot(ax=ax, facecolor="#bdbdbd", edgecolor="#636363", linewidth=0.4)
        this.plot(ax=ax, facecolor="none", edgecolor="#e31a1c", linewidth=2.2)
        x0, y0, x1, y1 = this.total_bounds
        pad = max(x1 - x0, y1 - y0) * 0.35 + 30
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
        ax.set_aspect("equal")
        ax.set_axis_off()
        span = (x1 - x0) + 2 * pad
        bar = next(b for b in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if b >= span / 5)
        bx, by = x0 - pad * 0.85, y0 - pad * 0.8
        ax.plot([bx, bx + bar], [by, by], color="black", linewidth=2)
        ax.text(bx + bar / 2, by + span * 0.015, f"{bar:,} 米", ha="center", va="bottom", fontsize=8)
        ax.annotate("N", xy=(x1 + pad * 0.8, y1 + pad * 0.85), xytext=(x1 + pad * 0.8, y1 + pad * 0.55),
                    ha="center", va="center", fontsize=9, arrowprops={"arrowstyle": "-|>", "color": "black"})
        ax.set_title(title, fontsize=10)
        return _svg(fig, title)
