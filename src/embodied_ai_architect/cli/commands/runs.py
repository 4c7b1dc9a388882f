"""`branes runs list/show/compare`: past optimize runs from the store."""

from __future__ import annotations

from typing import Annotated

import typer

runs_app = typer.Typer(help="Past optimize runs: list, show, compare.", no_args_is_help=True)


@runs_app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", help="How many runs to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent optimize runs, newest first."""
    import json

    from rich.table import Table

    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.pipeline.history import list_runs
    from embodied_ai_architect.settings import get_settings

    runs = list_runs(get_settings(), limit=limit)
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in runs], indent=2))
        return
    table = Table(title="optimize runs")
    for column in ("run id", "status", "created (UTC)", "summary"):
        table.add_column(column)
    for run in runs:
        table.add_row(run.run_id[:12], run.status, run.created_at, run.summary[:90])
    console().print(table)


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Show a run's before/after table, verdicts, attempts and artifacts."""
    from rich.table import Table

    from embodied_ai_architect.cli.commands.optimize import render
    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.pipeline.history import load_report
    from embodied_ai_architect.settings import get_settings

    report = load_report(get_settings(), run_id)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    render(report)
    table = Table(title="attempts")
    for column in ("#", "step", "technique", "status", "p95 ms", "MB", "accuracy", "reason"):
        table.add_column(column)
    for a in report.attempts:
        m = a.metrics
        table.add_row(
            str(a.index),
            a.step_id,
            a.technique,
            a.status.value + (f" → {a.version}" if a.version else ""),
            f"{m.p95_ms:.3f}" if m else "–",
            f"{m.size_mb:.3f}" if m else "–",
            f"{m.accuracy:.4f}" if m and m.accuracy is not None else "–",
            a.reason[:80],
        )
    console().print(table)


@runs_app.command("compare")
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or prefixes).")],
) -> None:
    """Compare the best versions of several runs side by side."""
    from rich.table import Table

    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.errors import InputError
    from embodied_ai_architect.pipeline.history import load_report
    from embodied_ai_architect.settings import get_settings

    if len(run_ids) < 2:
        raise InputError("compare needs at least two run ids", hint="branes runs compare A B")
    settings = get_settings()
    reports = [load_report(settings, run_id) for run_id in run_ids]
    table = Table(title="runs compared (best version of each)")
    table.add_column("metric")
    for report in reports:
        table.add_column(f"{report.run_id[:8]} ({report.best.id if report.best else '–'})")
    rows: list[tuple[str, list[str]]] = [
        ("model", [r.request.model_path.name for r in reports]),
        ("status", [r.status.value for r in reports]),
        ("constraints", [r.request.constraints.describe() for r in reports]),
    ]
    for label, attr, fmt in (
        ("accuracy", "accuracy", "{:.2%}"),
        ("size (MB)", "size_mb", "{:.3f}"),
        ("p50 (ms)", "p50_ms", "{:.3f}"),
        ("p95 (ms)", "p95_ms", "{:.3f}"),
    ):
        values = []
        for r in reports:
            value = getattr(r.best.metrics, attr) if r.best else None
            values.append(fmt.format(value) if value is not None else "–")
        rows.append((label, values))
    rows.append(
        ("techniques", [" → ".join(v.technique or "original" for v in r.versions) for r in reports])
    )
    for label, values in rows:
        table.add_row(label, *values)
    console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
