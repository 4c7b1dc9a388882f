"""report.html: a self-contained page (Jinja2 template, plots embedded as base64 PNG)."""

from __future__ import annotations

import base64
import io
from importlib import resources

from embodied_ai_architect.schemas.results import OptimizeReport, ParetoPoint


def _plot(points: list[ParetoPoint], x: str, y: str, xlabel: str, ylabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")  # no display; also keeps the choice local to report rendering
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        for feasible, marker in ((False, "x"), (True, "o")):
            group = [p for p in points if p.feasible is feasible and getattr(p, y) is not None]
            axis.scatter(
                [getattr(p, x) for p in group],
                [getattr(p, y) for p in group],
                marker=marker,
                c="#999999" if not feasible else "#1f77b4",
                label="meets constraints" if feasible else "violates a constraint",
            )
        front = sorted(
            (p for p in points if p.on_front and getattr(p, y) is not None),
            key=lambda p: getattr(p, x),
        )
        if front:
            axis.plot(
                [getattr(p, x) for p in front],
                [getattr(p, y) for p in front],
                "-",
                color="#d62728",
                linewidth=1.5,
                label="Pareto front",
            )
            axis.scatter(
                [getattr(p, x) for p in front],
                [getattr(p, y) for p in front],
                s=90,
                facecolors="none",
                edgecolors="#d62728",
            )
        for p in points:
            value = getattr(p, y)
            if value is not None:
                axis.annotate(
                    p.label,
                    (getattr(p, x), value),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        buffer = io.BytesIO()
        figure.tight_layout()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(report: OptimizeReport) -> str:
    from jinja2 import Environment, select_autoescape

    template_text = (
        resources.files("embodied_ai_architect.pipeline")
        .joinpath("templates/report.html.j2")
        .read_text(encoding="utf-8")
    )
    env = Environment(autoescape=select_autoescape(default=True))
    points = report.points
    plots = []
    if points:
        plots.append(
            (
                "Size vs p95 latency",
                _plot(points, "p95_ms", "size_mb", "p95 latency (ms)", "size (MB)"),
            )
        )
        if any(p.accuracy is not None for p in points):
            plots.append(
                (
                    "Accuracy vs p95 latency",
                    _plot(points, "p95_ms", "accuracy", "p95 latency (ms)", "accuracy / fidelity"),
                )
            )
    return env.from_string(template_text).render(report=report, plots=plots)
