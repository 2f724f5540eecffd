"""Small charts as inline SVG text: vertical bars (single, grouped or stacked), horizontal bars, lines.

No plotting library and no JavaScript: each function returns one ``<svg>`` element (a ``viewBox`` that
scales to the page) with an accessible name (``<title>``), axes with tick values, axis labels, a legend
when there are several series, value labels where they fit, and a ``<title>`` tooltip on every bar and
point. Every text that comes from data goes through :func:`esc`. Text widths are estimated (about 0.6 em
a character in a sans-serif font), which is enough to keep labels apart.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FONT = 12  # px, tick labels and value labels
CHAR_EM = 0.58  # average character width of a sans-serif font, in em
AXIS = "#444"
GRID = "#e3e3e3"
TEXT = "#222"
# Okabe & Ito's palette: tells colours apart for the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#6E6E6E")

_ids = itertools.count(1)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def text_width(text: str, size: float = FONT) -> float:
    return len(text) * size * CHAR_EM


def count_label(value: float) -> str:
    """A tick or value label: ``12,345``; compact above a million (``1.2M``)."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str


def nice_scale(maximum: float, ticks: int = 5) -> tuple[float, float]:
    """(top, step) of an axis from 0 that holds ``maximum`` in about ``ticks`` whole steps of 1, 2 or 5 × 10ⁿ."""
    if maximum <= 0:
        return 1.0, 1.0
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1.0)  # counts: whole numbers only
    return math.ceil(maximum / step) * step, step


def _luminance(color: str) -> float:
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ink_on(color: str) -> str:
    """Dark or white text, whichever reads better on ``color``."""
    return "#111" if _luminance(color) > 0.3 else "#fff"


def _text(x: float, y: float, content: str, anchor: str = "middle", size: float = FONT, fill: str = TEXT,
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{extra}>'
            f"{esc(content)}</text>")


def _frame(width: float, height: float, title: str, desc: str, body: list[str]) -> str:
    n = next(_ids)
    return (
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-labelledby="chart{n}-title chart{n}-desc" '
        'font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, \'DejaVu Sans\', sans-serif">'
        f'<title id="chart{n}-title">{esc(title)}</title><desc id="chart{n}-desc">{esc(desc)}</desc>'
        + "".join(body) + "</svg>"
    )


def _legend(series: Sequence[Series], left: float, top: float, width: float) -> tuple[list[str], float]:
    """Legend items in rows from (left, top) within ``width``; returns the elements and the height used."""
    out: list[str] = []
    x, y = left, top
    for s in series:
        item = 18 + text_width(s.name) + 18
        if x > left and x + item > left + width:
            x, y = left, y + 20
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" rx="2" fill="{s.color}"/>')
        out.append(_text(x + 17, y + 10.5, s.name, anchor="start"))
        x += item
    return out, (y - top) + 20


def _category_labels(categories: Sequence[str], centers: Sequence[float], band: float, y: float) -> list[str]:
    """One label under each band; when they would touch, every k-th (always the last)."""
    widest = max((text_width(c) for c in categories), default=0)
    every = max(1, math.ceil((widest + 10) / band)) if band > 0 else 1
    last = len(categories) - 1
    shown = [i for i in range(len(categories)) if i % every == 0]
    if last not in shown:
        if shown and (centers[last] - centers[shown[-1]]) < widest + 10:
            shown.pop()
        shown.append(last)
    return [_text(centers[i], y, categories[i]) for i in shown]


def _y_axis(top: float, step: float, left: float, right: float, y_of: Callable[[float], float]) -> list[str]:
    out: list[str] = []
    ticks = round(top / step)
    for i in range(ticks + 1):
        value = i * step
        y = y_of(value)
        if i:
            out.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(_text(left - 6, y + 4, count_label(value), anchor="end"))
    return out


def _axis_titles(x_label: str, y_label: str, width: float, height: float, left: float, right: float,
                 plot_top: float, plot_bottom: float) -> list[str]:
    x_mid = (left + width - right) / 2
    y_mid = (plot_top + plot_bottom) / 2
    return [
        _text(x_mid, height - 8, x_label, size=FONT + 1, fill=AXIS),
        _text(14, y_mid, y_label, size=FONT + 1, fill=AXIS, extra=f' transform="rotate(-90 14 {y_mid:.1f})"'),
    ]


def _layout(series: Sequence[Series], peak: float, width: float, height: float) -> dict[str, float]:
    top_value, step = nice_scale(peak)
    left = 30 + max(text_width(count_label(top_value)), text_width("0")) + 8
    right = 16.0
    legend_height = 0.0
    if len(series) > 1:
        _, legend_height = _legend(series, left, 10, width - left - right)
    plot_top = 12 + legend_height + 14  # room for value labels over the tallest bar
    plot_bottom = height - 46
    return {"top_value": top_value, "step": step, "left": left, "right": right, "plot_top": plot_top,
            "plot_bottom": plot_bottom, "legend_height": legend_height}


def bar_chart(*, title: str, desc: str, categories: Sequence[str], series: Sequence[Series], x_label: str,
              y_label: str, stacked: bool = False, width: float = 960, height: float = 340) -> str:
    """Vertical bars per category: one series, several side by side, or ``stacked`` (total over each bar)."""
    n = len(categories)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    peak = max(totals if stacked else [v for s in series for v in s.values], default=0)
    g = _layout(series, peak, width, height)
    left, right, plot_top, plot_bottom = g["left"], g["right"], g["plot_top"], g["plot_bottom"]
    plot_w = width - left - right
    band = plot_w / max(n, 1)

    def y_of(value: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * value / g["top_value"]

    body = _y_axis(g["top_value"], g["step"], left, width - right, y_of)
    if len(series) > 1:
        body += _legend(series, left, 10, plot_w)[0]
    lanes = 1 if stacked else len(series)
    group_w = min(band * 0.72, 56.0 * lanes)
    bar_w = group_w / lanes
    centers = [left + band * (i + 0.5) for i in range(n)]
    for i, category in enumerate(categories):
        x0 = centers[i] - group_w / 2
        base = 0.0
        for lane, s in enumerate(series):
            value = s.values[i]
            if stacked:
                y_top, y_bottom, x = y_of(base + value), y_of(base), x0
                base += value
            else:
                y_top, y_bottom, x = y_of(value), y_of(0), x0 + lane * bar_w
            h = max(y_bottom - y_top, 0.0)
            if value:
                tip = f"{category} · {s.name}: {value:,.0f}" if len(series) > 1 else f"{category}: {value:,.0f}"
                body.append(f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" '
                            f'fill="{s.color}"><title>{esc(tip)}</title></rect>')
            label = count_label(value)
            if stacked:
                if value and h >= FONT + 4 and text_width(label) <= bar_w - 4:
                    body.append(_text(x + bar_w / 2, y_top + h / 2 + 4, label, fill=ink_on(s.color)))
            elif text_width(label) <= bar_w + band * 0.28 / lanes:
                body.append(_text(x + bar_w / 2, y_top - 4, label))
        if stacked and text_width(count_label(totals[i])) <= band - 2:
            body.append(_text(centers[i], y_of(totals[i]) - 4, count_label(totals[i]), extra=' font-weight="600"'))
    body.append(f'<line x1="{left:.1f}" y1="{plot_bottom:.1f}" x2="{width - right:.1f}" y2="{plot_bottom:.1f}" '
                f'stroke="{AXIS}"/>')
    body += _category_labels(categories, centers, band, plot_bottom + 16)
    body += _axis_titles(x_label, y_label, width, height, left, right, plot_top, plot_bottom)
    return _frame(width, height, title, desc, body)


def line_chart(*, title: str, desc: str, categories: Sequence[str], series: Sequence[Series], x_label: str,
               y_label: str, width: float = 960, height: float = 340) -> str:
    """A line per series over the categories, with a marker and (up to 24 points) a value at each point:
    the higher series' value above its point, the lower's below, so two close lines keep their labels apart."""
    n = len(categories)
    peak = max((v for s in series for v in s.values), default=0)
    g = _layout(series, peak, width, height)
    left, right, plot_top, plot_bottom = g["left"], g["right"], g["plot_top"], g["plot_bottom"]
    plot_w = width - left - right
    band = plot_w / max(n, 1)

    def y_of(value: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * value / g["top_value"]

    centers = [left + band * (i + 0.5) for i in range(n)]
    body = _y_axis(g["top_value"], g["step"], left, width - right, y_of)
    if len(series) > 1:
        body += _legend(series, left, 10, plot_w)[0]
    for s in series:
        points = " ".join(f"{centers[i]:.1f},{y_of(v):.1f}" for i, v in enumerate(s.values))
        if n > 1:
            body.append(f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2.5" '
                        'stroke-linejoin="round"/>')
        for i, v in enumerate(s.values):
            body.append(f'<circle cx="{centers[i]:.1f}" cy="{y_of(v):.1f}" r="4" fill="{s.color}">'
                        f"<title>{esc(f'{categories[i]} · {s.name}: {v:,.0f}')}</title></circle>")
    if n <= 24:
        for i in range(n):
            body += _point_labels(series, i, centers[i], band, y_of, plot_bottom)
    body.append(f'<line x1="{left:.1f}" y1="{plot_bottom:.1f}" x2="{width - right:.1f}" y2="{plot_bottom:.1f}" '
                f'stroke="{AXIS}"/>')
    body += _category_labels(categories, centers, band, plot_bottom + 16)
    body += _axis_titles(x_label, y_label, width, height, left, right, plot_top, plot_bottom)
    return _frame(width, height, title, desc, body)


def _point_labels(series: Sequence[Series], i: int, x: float, band: float, y_of: Callable[[float], float],
                  plot_bottom: float) -> list[str]:
    """The values at one x, in the colour of their line: the lowest under its point when there is room above
    the axis, every other one above its point and above the label before it (labels never overlap); a value
    equal to the one before it is not repeated."""
    ranked = sorted(series, key=lambda s: s.values[i])  # lowest first
    out: list[str] = []
    ceiling = math.inf  # the top of the label placed last
    last: float | None = None
    for rank, s in enumerate(ranked):
        value = s.values[i]
        label = count_label(value)
        if value == last or text_width(label) > band - 4:
            continue
        y_point = y_of(value)
        if rank == 0 and len(ranked) > 1 and y_point + 18 <= plot_bottom - 2:
            y = y_point + 18
        else:
            y = min(y_point - 9, ceiling - 3)
        out.append(_text(x, y, label, fill=s.color if _luminance(s.color) < 0.3 else TEXT, extra=' font-weight="600"'))
        ceiling, last = y - FONT, value
    return out


def hbar_chart(*, title: str, desc: str, categories: Sequence[str], values: Sequence[float], x_label: str,
               color: str = PALETTE[0], width: float = 960) -> str:
    """Horizontal bars, one per category (long category names read better on the left), value at the end."""
    n = len(categories)
    bar_h, gap = 24.0, 12.0
    top_value, step = nice_scale(max(values, default=0))
    left = max((text_width(c) for c in categories), default=0) + 20
    right = max((text_width(count_label(v)) for v in values), default=0) + 24
    plot_top = 12.0
    plot_bottom = plot_top + n * (bar_h + gap)
    height = plot_bottom + 50
    plot_w = width - left - right

    def x_of(value: float) -> float:
        return left + plot_w * value / top_value

    body: list[str] = []
    for i in range(round(top_value / step) + 1):
        x = x_of(i * step)
        if i:
            body.append(f'<line x1="{x:.1f}" y1="{plot_top:.1f}" x2="{x:.1f}" y2="{plot_bottom:.1f}" stroke="{GRID}"/>')
        body.append(_text(x, plot_bottom + 16, count_label(i * step)))
    for i, (category, value) in enumerate(zip(categories, values, strict=True)):
        y = plot_top + gap / 2 + i * (bar_h + gap)
        w = x_of(value) - left
        body.append(_text(left - 8, y + bar_h / 2 + 4, category, anchor="end"))
        if value:
            body.append(f'<rect x="{left:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h:.1f}" fill="{color}">'
                        f"<title>{esc(f'{category}: {value:,.0f}')}</title></rect>")
        body.append(_text(left + w + 6, y + bar_h / 2 + 4, count_label(value), anchor="start",
                          extra=' font-weight="600"'))
    body.append(f'<line x1="{left:.1f}" y1="{plot_top:.1f}" x2="{left:.1f}" y2="{plot_bottom:.1f}" stroke="{AXIS}"/>')
    body.append(_text(left + plot_w / 2, height - 8, x_label, size=FONT + 1, fill=AXIS))
    return _frame(width, height, title, desc, body)
