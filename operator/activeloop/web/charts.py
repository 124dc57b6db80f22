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


def _padded_frame(xs: list[float], ys: list[float], x_label: str, y_label: str,
                  title: str) -> tuple[list[str], Callable[[float], float], Callable[[float], float]]:
    """:func:`_frame` around points ``xs, ys`` with 6% of their range to spare on each side."""
    px = (max(xs) - min(xs)) * 0.06 or 1.0
    py = (max(ys) - min(ys)) * 0.06 or 1.0
    return _frame(min(xs) - px, max(xs) + px, min(ys) - py, max(ys) + py, x_label, y_label, title)


def scatter(points: Sequence[tuple[float, float, str]], *, x_label: str, y_label: str, title: str,
            empty: str) -> Markup:
    """Points ``(x, y, label)``, or ``empty`` when there are fewer than two."""
    pts = [(float(x), float(y), lbl) for x, y, lbl in points if math.isfinite(x) and math.isfinite(y)]
    if len(pts) < 2:
        return missing(empty)
    parts, sx, sy = _padded_frame([p[0] for p in pts], [p[1] for p in pts], x_label, y_label, title)
    for x, y, lbl in pts:
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#d1242f" fill-opacity="0.7">'
                     f"<title>{escape(lbl)}: predicted {_fmt(x)}, measured {_fmt(y)}</title></circle>")
    parts.append("</svg>")
    return Markup("".join(parts))


VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
"""Anchors of the viridis colour map (perceptually even, readable in grey and by most colour-blind eyes)."""


def front_chart(points: Sequence[tuple[float, float, str, bool]], *, x_label: str, y_label: str, title: str,
                empty: str) -> Markup:
    """Measured variants ``(x, y, label, on_front)`` of two objectives: the front in red and joined
    by a dashed line, the others grey; ``empty`` when there are fewer than two."""
    pts = [(float(x), float(y), lbl, f) for x, y, lbl, f in points if math.isfinite(x) and math.isfinite(y)]
    if len(pts) < 2:
        return missing(empty)
    parts, sx, sy = _padded_frame([p[0] for p in pts], [p[1] for p in pts], x_label, y_label, title)
    front = sorted((x, y) for x, y, _, f in pts if f)
    if len(front) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(front))
        parts.append(f'<path d="{path}" fill="none" stroke="#d1242f" stroke-width="1.5" stroke-dasharray="4 3"/>')
    for x, y, lbl, on_front in sorted(pts, key=lambda p: p[3]):  # the front drawn last, on top
        colour, r = ("#d1242f", 4) if on_front else ("#8c959f", 2.5)
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{r}" fill="{colour}" fill-opacity="0.8">'
                     f"<title>{escape(lbl)}: {escape(x_label)} {_fmt(x)}, {escape(y_label)} {_fmt(y)}"
                     f"{' (on the front)' if on_front else ''}</title></circle>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _colour(t: float) -> str:
    t = min(1.0, max(0.0, t)) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(VIRIDIS[i], VIRIDIS[i + 1]))
    return f"#{r:02x}{g:02x}{b:02x}"


def plate_heatmap(wells: Sequence[tuple[str, float | None, bool, str, str]], size: int, *, title: str,
                  unit: str = "") -> Markup:
    """A 96- or 384-well plate: each well ``(well, value, failed, control, label)`` coloured by its
    value (viridis, lowest to highest on the plate), a failed well crossed out, a control well
    ringed and lettered (P parent, B blank, R reference), an empty well left pale."""
    rows, cols = (16, 24) if size == 384 else (8, 12)
    cell = 22 if size == 384 else 38
    left, top = 26, 20
    w, h = left + cols * cell + 8, top + rows * cell + 60
    values = [v for _, v, f, c, _ in wells if v is not None and not f and not c and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" class="chart plate" role="img" '
             f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>"]
    for c in range(cols):
        parts.append(f'<text x="{left + c * cell + cell / 2:.1f}" y="{top - 6}" text-anchor="middle" '
                     f'font-size="10">{c + 1}</text>')
    for r in range(rows):
        parts.append(f'<text x="{left - 8}" y="{top + r * cell + cell / 2 + 4:.1f}" text-anchor="middle" '
                     f'font-size="10">{chr(65 + r)}</text>')
    placed = {wl: (v, f, c, lbl) for wl, v, f, c, lbl in wells if wl}
    for r in range(rows):
        for c in range(cols):
            name = f"{chr(65 + r)}{c + 1}"
            cx, cy = left + c * cell + cell / 2, top + r * cell + cell / 2
            rad = cell / 2 - 2
            if name not in placed:
                parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{rad:.1f}" fill="#f6f8fa" stroke="#d0d7de">'
                             f"<title>{name}: empty</title></circle>")
                continue
            v, failed, control, label = placed[name]
            if failed:
                tip = f"{name}: {label}, failed"
                parts.append(f'<g><title>{escape(tip)}</title><circle cx="{cx:.1f}" cy="{cy:.1f}" r="{rad:.1f}" '
                             f'fill="#eaeef2" stroke="#d1242f"/><path d="M{cx - rad / 2:.1f},{cy - rad / 2:.1f} '
                             f'L{cx + rad / 2:.1f},{cy + rad / 2:.1f} M{cx + rad / 2:.1f},{cy - rad / 2:.1f} '
                             f'L{cx - rad / 2:.1f},{cy + rad / 2:.1f}" stroke="#d1242f" stroke-width="2"/></g>')
                continue
            shown = "" if v is None else f" {_fmt(v)}{(' ' + unit) if unit else ''}"
            fill = _colour((v - lo) / (hi - lo)) if v is not None and hi > lo else ("#21918c" if v is not None else
                                                                                      "#f6f8fa")
            if control:
                letter = {"parent": "P", "blank": "B", "reference": "R"}.get(control, "C")
                tip = f"{name}: {control} control {label}{shown}"
                parts.append(f'<g><title>{escape(tip)}</title><circle cx="{cx:.1f}" cy="{cy:.1f}" r="{rad:.1f}" '
                             f'fill="#fff" stroke="#24292f" stroke-width="2.5"/><text x="{cx:.1f}" y="{cy + 4:.1f}" '
                             f'text-anchor="middle" font-size="11" font-weight="700">{letter}</text></g>')
                continue
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{rad:.1f}" fill="{fill}">'
                         f"<title>{escape(f'{name}: {label}{shown}')}</title></circle>")
    # the scale
    y = top + rows * cell + 14
    for k in range(50):
        parts.append(f'<rect x="{left + k * 4}" y="{y}" width="4" height="10" fill="{_colour(k / 49)}"/>')
    parts.append(f'<text x="{left}" y="{y + 24}" font-size="10">{escape(_fmt(lo))}</text>')
    parts.append(f'<text x="{left + 200}" y="{y + 24}" font-size="10" text-anchor="end">{escape(_fmt(hi))}</text>')
    parts.append(f'<text x="{left + 210}" y="{y + 9}" font-size="10">{escape(unit or "value")}</text>')
    parts.append(f'<text x="{left}" y="{y + 40}" font-size="10">'
                 "ringed: controls (P parent, B blank, R reference) · crossed: failed</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["line_chart", "missing", "plate_heatmap", "scatter"]
