"""`branes runs list/show/compare`: past runs (optimize, and deploy as one-step runs), through the
application layer.

The tables are rendered from the same typed results REST returns and the LLM ``get_run`` tool
gives (:mod:`embodied_ai_architect.schemas.runs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from embodied_ai_architect.schemas.runs import RunView, VersionView
    from embodied_ai_architect.store import Database

runs_app = typer.Typer(
    help="Past runs (optimize, and `deploy run`): list, show, compare.",
    no_args_is_help=True,
)


@contextmanager
def _database() -> Iterator[Database]:
    from embodied_ai_architect.settings import get_settings
    from embodied_ai_architect.store import Database

    db = Database.from_settings(get_settings())
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()


def _figure(metrics: dict[str, Any], name: str, fmt: str) -> str:
    value = metrics.get(name)
    if name == "size_bytes" and isinstance(value, int | float):
        value = value / 1e6
    return fmt.format(value) if isinstance(value, int | float) else "–"


_METRIC_ROWS = (
    ("accuracy", "accuracy", "{:.2%}"),
    ("size (MB)", "size_bytes", "{:.3f}"),
    ("p50 (ms)", "p50_ms", "{:.3f}"),
    ("p95 (ms)", "p95_ms", "{:.3f}"),
)


@runs_app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs to show.")] = 20,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only runs of this kind: optimize or deploy (default: both)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent runs (optimize, and `deploy run` with its target and precision), newest
    first."""
    import json

    from rich.table import Table

    from embodied_ai_architect.application.runs import list_runs
    from embodied_ai_architect.cli.console import console

    with _database() as db:
        runs = list_runs(db, limit=limit, kind=kind)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
        return
    table = Table(title=f"{kind} runs" if kind else "runs")
    for column in ("run id", "kind", "target", "precision", "status", "created (UTC)", "summary"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.run_id[:12],
            run.kind.value,
            run.target or "–",
            run.precision or "–",
            run.status,
            run.created_at,
            run.summary[:90],
        )
    console().print(table)


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Show a run's before/after table, stored verdicts, attempts and versions."""
    from embodied_ai_architect.application.runs import get_run

    with _database() as db:
        view = get_run(db, run_id)
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    render_run(view)


def render_run(view: RunView) -> None:
    from rich.table import Table

    from embodied_ai_architect.cli.console import console

    out = console()
    chosen = view.version(view.chosen)
    base = view.baseline.final_metrics if view.baseline else {}
    table = Table(title=f"before / after — {view.outcome or view.status.value}")
    table.add_column("metric")
    table.add_column("original (v0)", justify="right")
    table.add_column(f"chosen ({view.chosen})" if view.chosen else "chosen", justify="right")
    for label, name, fmt in _METRIC_ROWS:
        table.add_row(
            label,
            _figure(base, name, fmt),
            _figure(chosen.final_metrics, name, fmt) if chosen else "–",
        )
    for row in _held_out_and_memory(view):
        table.add_row(*row)
    out.print(table)
    for note in _missing_figures(view):
        out.print(f"  [dim]{note}[/dim]", highlight=False)
    if view.verdicts is None:
        out.print(f"  verdicts {view.verdicts_note}", highlight=False)
    for verdict in view.verdicts or []:
        mark = "[green]pass[/green]" if verdict.passed else "[red]fail[/red]"
        out.print(f"  {mark} {verdict.reason}", highlight=False)
    if view.summary:
        out.print(view.summary, highlight=False)
    if view.error:
        out.print(f"[red]error:[/red] {view.error.get('message', '')}", highlight=False)
    if view.deployment is not None:
        from embodied_ai_architect.cli.commands.optimize import render_deployment
        from embodied_ai_architect.schemas.deployment import DeploymentResult

        render_deployment(DeploymentResult.model_validate(view.deployment))
    attempts = Table(title="attempts")
    for column in ("#", "technique", "passed", "p95 ms", "MB", "accuracy", "error"):
        attempts.add_column(column)
    for a in view.attempts:
        attempts.add_row(
            str(a.step),
            a.technique,
            "–" if a.passed is None else ("yes" if a.passed else "no"),
            _figure(a.metrics, "p95_ms", "{:.3f}"),
            _figure(a.metrics, "size_bytes", "{:.3f}"),
            _figure(a.metrics, "accuracy", "{:.4f}"),
            (a.error or "")[:80],
        )
    out.print(attempts)
    out.print(_versions_table(view.versions))


def _held_out_and_memory(view: RunView) -> list[tuple[str, str, str]]:
    """The figures to trust beside the selection ones: the score on held-out samples and the
    model's own memory, each for the original and the chosen version."""
    rows = []
    held = view.held_out
    if held is not None:
        rows.append(
            (
                f"held-out {held.metric} ({held.samples} samples)",
                f"{held.baseline:.2%}",
                f"{held.best:.2%}" + ("" if held.passed else " (below the bound)"),
            )
        )
    memory = view.memory
    if memory is not None and (memory.baseline_mb is not None or memory.best_mb is not None):
        rows.append(
            (
                "own memory (MB)",
                "–" if memory.baseline_mb is None else f"{memory.baseline_mb:.1f}",
                "–" if memory.best_mb is None else f"{memory.best_mb:.1f}",
            )
        )
    return rows


def _missing_figures(view: RunView) -> list[str]:
    """Why a held-out or memory figure is absent (said, not left blank)."""
    if view.outcome is None:
        return []  # the run has no report (still running, or failed before writing one)
    notes = []
    if view.held_out is None:
        notes.append(
            "held-out: none (the run's evaluator set no samples aside: too little evaluation "
            "data, or a simulation suite)"
        )
    if view.memory is None:
        notes.append("own memory: not measured (the run had model_memory off)")
    elif view.memory.error:
        notes.append(f"own memory: {view.memory.error}")
    elif view.memory.baseline_mb is not None:
        notes.append(f"own memory: {view.memory.method}")
    return notes


def _versions_table(versions: list[VersionView]) -> Any:
    from rich.table import Table

    table = Table(title="versions (verdicts as stored when the run ended)")
    for column in ("version", "technique", "p95 ms", "MB", "verdicts"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            v.label,
            v.technique or "original",
            _figure(v.final_metrics, "p95_ms", "{:.3f}"),
            _figure(v.final_metrics, "size_bytes", "{:.3f}"),
            v.verdict_status,
        )
    return table


@runs_app.command("compare")
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or prefixes).")],
) -> None:
    """Compare the chosen versions of several runs side by side."""
    from rich.table import Table

    from embodied_ai_architect.application.runs import summarize_runs
    from embodied_ai_architect.cli.console import console

    with _database() as db:
        summaries = summarize_runs(db, run_ids)
    table = Table(title="runs compared (the version each run chose)")
    table.add_column("metric")
    for s in summaries:
        table.add_column(f"{s.job_id[:8]} ({s.chosen.label if s.chosen else '–'})")
    rows: list[tuple[str, list[str]]] = [
        ("model", [s.model for s in summaries]),
        ("status", [s.status.value for s in summaries]),
        ("constraints", [_constraints(s.constraints) for s in summaries]),
    ]
    for label, name, fmt in _METRIC_ROWS:
        rows.append(
            (
                label,
                [
                    _figure(s.chosen.final_metrics, name, fmt) if s.chosen else "–"
                    for s in summaries
                ],
            )
        )
    rows.append(("verdicts", [s.chosen.verdict_status if s.chosen else "–" for s in summaries]))
    rows.append(("techniques", [" → ".join(s.techniques) or "–" for s in summaries]))
    for label, values in rows:
        table.add_row(label, *values)
    console().print(table)


def _constraints(constraints: dict[str, Any]) -> str:
    from embodied_ai_architect.schemas.constraints import parse_constraints

    return parse_constraints(constraints).describe() if constraints else "–"


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
