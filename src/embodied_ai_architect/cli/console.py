"""Rich consoles, the progress-bar sink shared by every long-running command, and the way a
command prints its typed result."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from embodied_ai_architect.schemas.progress import EventKind, ProgressEvent, ProgressSink

ResultT = TypeVar("ResultT", bound=BaseModel)


def console() -> Console:
    return Console()


def error_console() -> Console:
    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, *, quiet: bool = False) -> Iterator[ProgressSink]:
    """A sink that drives a Rich progress bar (on stderr, so --json output stays clean)."""
    if quiet:

        def drop(event: ProgressEvent) -> None:
            del event

        yield drop
        return
    progress = Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
        console=error_console(),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=100, message="")

        def sink(event: ProgressEvent) -> None:
            progress.update(task, completed=event.percent, message=event.message[:70])
            if event.kind in (EventKind.WARNING, EventKind.ERROR):
                colour = "yellow" if event.kind is EventKind.WARNING else "red"
                progress.console.print(f"[{colour}]{event.kind.value}:[/{colour}] {event.message}")

        yield sink


def print_result(
    result: ResultT, *, as_json: bool, render: Callable[[ResultT], None], succeeded: bool
) -> None:
    """Show a command's typed result: as JSON on stdout with ``--json``, else through
    ``render``. A result that did not succeed is shown in full first, then exits 1 (user
    errors exit 2 from ``main``), so scripts can tell the two apart."""
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render(result)
    if not succeeded:
        raise typer.Exit(1)
