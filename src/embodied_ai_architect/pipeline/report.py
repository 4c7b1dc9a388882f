"""report.html: a self-contained page (Jinja2 template, plots as inline SVG)."""

from __future__ import annotations

from importlib import resources

from embodied_ai_architect.pipeline.svgplot import scatter_svg
from embodied_ai_architect.schemas.results import OptimizeReport


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
                scatter_svg(points, "p95_ms", "size_mb", "p95 latency (ms)", "size (MB)"),
            )
        )
        if any(p.accuracy is not None for p in points):
            plots.append(
                (
                    "Accuracy vs p95 latency",
                    scatter_svg(
                        points, "p95_ms", "accuracy", "p95 latency (ms)", "accuracy / fidelity"
                    ),
                )
            )
    return env.from_string(template_text).render(report=report, plots=plots)
