"""Trade-off scatter plots as inline SVG: self-contained, crisp, and milliseconds to draw.

(matplotlib cost ~1 s per job just to import, a measurable share of a short job's wall time.)
"""

from __future__ import annotations

from html import escape

from embodied_ai_architect.schemas.results import ParetoPoint

WIDTH, HEIGHT = 560, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + step * index for index in range(count)]


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def scatter_svg(points: list[ParetoPoint], x: str, y: str, xlabel: str, ylabel: str) -> str:
    """Feasible points as filled circles, violating ones as grey crosses, members of the Pareto
    set (over size, latency and accuracy together) ringed in red, every point labelled.

    No line joins the Pareto set: it is three-dimensional, and a line through its 2-D projection
    would suggest a front that does not exist in this plane."""
    usable = [p for p in points if getattr(p, x) is not None and getattr(p, y) is not None]
    xs = [float(getattr(p, x)) for p in usable] or [0.0, 1.0]
    ys = [float(getattr(p, y)) for p in usable] or [0.0, 1.0]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    # Pad so single points and flat series still get an axis.
    x_pad = (x_high - x_low) * 0.08 or abs(x_high) * 0.1 or 1.0
    y_pad = (y_high - y_low) * 0.08 or abs(y_high) * 0.1 or 1.0
    # Sizes and latencies cannot be negative: padding must not invent negative ticks.
    x_floor = 0.0 if min(xs) >= 0 else float("-inf")
    y_floor = 0.0 if min(ys) >= 0 else float("-inf")
    x_low, x_high = max(x_floor, x_low - x_pad), x_high + x_pad
    y_low, y_high = max(y_floor, y_low - y_pad), y_high + y_pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(value: float) -> float:
        return LEFT + (value - x_low) / (x_high - x_low) * plot_w

    def sy(value: float) -> float:
        return TOP + plot_h - (value - y_low) / (y_high - y_low) * plot_h

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#444"/>',
    ]
    for tick in _ticks(x_low, x_high):
        px = sx(tick)
        parts.append(
            f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{TOP + plot_h}" stroke="#ddd"/>'
            f'<text x="{px:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">{_fmt(tick)}</text>'
        )
    for tick in _ticks(y_low, y_high):
        py = sy(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + plot_w}" y2="{py:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{py + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{escape(xlabel)}</text>"
        f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(ylabel)}</text>"
    )
    for point in usable:
        px, py = sx(getattr(point, x)), sy(getattr(point, y))
        if point.feasible:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="#1f77b4"/>')
        else:
            parts.append(
                f'<path d="M{px - 4:.1f},{py - 4:.1f}L{px + 4:.1f},{py + 4:.1f}'
                f'M{px - 4:.1f},{py + 4:.1f}L{px + 4:.1f},{py - 4:.1f}" stroke="#999"/>'
            )
        if point.on_front:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="8" fill="none" stroke="#d62728"/>'
            )
        parts.append(
            f'<text x="{px + 6:.1f}" y="{py - 6:.1f}" font-size="9">{escape(point.label)}</text>'
        )
    legend = [
        ("#1f77b4", "meets constraints"),
        ("#999", "violates a constraint"),
        ("#d62728", "Pareto set (size, latency, accuracy)"),
    ]
    for index, (colour, text) in enumerate(legend):
        ly = TOP + 14 + index * 14
        parts.append(
            f'<rect x="{LEFT + plot_w - 190}" y="{ly - 8}" width="8" height="8" fill="{colour}"/>'
            f'<text x="{LEFT + plot_w - 178}" y="{ly}">{text}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
