"""`branes demo`: train a small real model, optimize it under default constraints, show results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the demo (default: workspace/demo).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for training and optimization.")] = 0,
) -> None:
    """Train a digits CNN (~10 s), optimize it (accuracy drop ≤ 1 point, ≥ 3× smaller and
    faster), and print the before/after table and where the reports are."""
    from embodied_ai_architect.cli.commands.optimize import execute, render
    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.pipeline.demo import demo_request, prepare_demo
    from embodied_ai_architect.settings import get_settings

    folder = out or get_settings().ensure_workspace() / "demo"
    console().print("training the digits CNN (8×8 digits, width 16) ...")
    inputs = prepare_demo(folder / "data", seed=seed)
    console().print(
        f"trained in {inputs.train_seconds:.1f} s: test accuracy {inputs.baseline_accuracy:.2%}"
    )
    report = execute(demo_request(inputs, out_dir=folder / "run", seed=seed), quiet=False)
    render(report)
    if report.status.value != "succeeded":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
