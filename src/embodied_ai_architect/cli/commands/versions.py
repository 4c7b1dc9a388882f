"""`branes versions list/restore`: the immutable model versions of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

versions_app = typer.Typer(help="Model versions of a run: list, restore.", no_args_is_help=True)


@versions_app.command("list")
def list_(run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")]) -> None:
    """List every version of a run with its parent, technique, metrics and hash."""
    from rich.table import Table

    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.pipeline.history import load_report
    from embodied_ai_architect.settings import get_settings

    report = load_report(get_settings(), run_id)
    table = Table(title=f"versions of run {report.run_id[:12]}")
    for column in ("id", "parent", "technique", "MB", "p95 ms", "accuracy", "sha256"):
        table.add_column(column)
    for v in report.versions:
        m = v.metrics
        best = " ★" if report.best and report.best.id == v.id else ""
        table.add_row(
            v.id + best,
            v.parent or "–",
            v.technique or "original",
            f"{m.size_mb:.3f}",
            f"{m.p95_ms:.3f}",
            f"{m.accuracy:.4f}" if m.accuracy is not None else "–",
            v.sha256[:16],
        )
    console().print(table)


@versions_app.command("restore")
def restore(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    version: Annotated[str, typer.Argument(help="Version id, e.g. v0 or v2.")],
    out: Annotated[Path | None, typer.Option("--out", help="File or folder to write to.")] = None,
) -> None:
    """Write a stored version's artifact (hash-verified) and record the restore."""
    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.pipeline.history import restore_version
    from embodied_ai_architect.settings import get_settings

    restored = restore_version(get_settings(), run_id, version, out=out)
    console().print(
        f"restored {restored.version} of run {restored.run_id[:12]} to {restored.path} "
        f"(sha256 {restored.sha256[:16]}…, recorded as store version {restored.store_version})",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(versions_app, name="versions")
