"""Small SVG charts drawn on the server: no JavaScript library, nothing to download, and a chart
with no data says what is missing instead of staying blank."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

W, H = 560, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 40


def _ticks(lo: float, hi: float, n: int = 5, whole: bool = False) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    if whole:
        step = max(1.0, round(step))
    start = math.ceil(lo / step) * step
    return [start + k * step for k in range(int((hi - start) / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _frame(x_lo: float, x_hi: float, y_lo: float, y_hi: float, x_label: str, y_label: str,
           title: str, whole_x: bool = False) -> tuple[list[str], Callable[[float], float], Callable[[float], float]]:
    def sx(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo or 1) * (W - LEFT - RIGHT)

    def sy(y: float) -> float:
        return H - BOTTOM - (y - y_lo) / (y_hi - y_lo or 1) * (H - TOP - BOTTOM)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="chart" role="img" '
             f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>",
             f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
             'fill="none" stroke="#ccc"/>']
    for t in _ticks(y_lo, y_hi):
        y = sy(t)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_fmt(t)}</text>')
    for t in _ticks(x_lo, x_hi, whole=whole_x):
        x = sx(t)
        parts.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" font-size="11">{_fmt(t)}</text>')
    parts.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle" font-size="12">'
                 f"{escape(x_label)}</text>")
    parts.append(f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" font-size="12" '
                 f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">{escape(y_label)}</text>')
    return parts, sx, sy


def missing(message: str) -> Markup:
    """What a chart shows when it has nothing to draw."""
    return Markup('<p class="chart-missing">{}</p>').format(message)


def line_chart(points: Sequence[tuple[float, float | None]], *, x_label: str, y_label: str, title: str,
               empty: str) -> Markup:
    """A line through ``points`` (``None`` values are gaps), or ``empty`` when none has a value."""
    pts = [(float(x), float(y)) for x, y in points if y is not None and math.isfinite(y)]
    if not pts:
        return missing(empty)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    pad = (max(ys) - min(ys)) * 0.08 or abs(ys[0]) * 0.1 or 1.0
    parts, sx, sy = _frame(min(xs) - 0.3, max(xs) + 0.3, min(ys) - pad, max(ys) + pad, x_label, y_label, title,
                           whole_x=all(float(x).is_integer() for x in xs))
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(pts))
    parts.append(f'<path d="{path}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    for x, y in pts:
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="#1f6feb">'
                     f"<title>{escape(x_label)} {_fmt(x)}: {_fmt(y)}</title></circle>")
    parts.append("</svg>")
    return Markup("".join(parts))


def scatter(points: Sequence[tuple[float, float, str]], *, x_label: str, y_label: str, title: str,
            empty: str) -> Markup:
    """Points ``(x, y, label)``, or ``empty`` when there are fewer than two."""
    pts = [(float(x), float(y), lbl) for x, y, lbl in points if math.isfinite(x) and math.isfinite(y)]
    if len(pts) < 2:
        return missing(empty)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    px = (max(xs) - min(xs)) * 0.06 or 1.0
    py = (max(ys) - min(ys)) * 0.06 or 1.0
    parts, sx, sy = _frame(min(xs) - px, max(xs) + px, min(ys) - py, max(ys) + py, x_label, y_label, title)
    for x, y, lbl in pts:
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#d1242f" fill-opacity="0.7">'
                     f"<title>{escape(lbl)}: predicted {_fmt(x)}, measured {_fmt(y)}</title></circle>")
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["line_chart", "missing", "scatter"]
