"""`branes optimize`: make a model fit the user's limits (size, p95 latency, accuracy, target).

Builds an OptimizeRequest and calls ``run_optimize``; renders the typed report. Heavy imports
happen inside the command so that building the CLI stays lean.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embodied_ai_architect.cli.options import (
    ArchKwargsOption,
    ArchOption,
    CalibrationDataOption,
    InputOption,
    InputShapeOption,
    JsonOption,
    RequestConfigOption,
    SaveConfigOption,
    TrustPickleOption,
    invalid_request,
    loader_options,
    read_request,
    save_request,
)
from embodied_ai_architect.errors import EAAError, InputError

if TYPE_CHECKING:
    from embodied_ai_architect.schemas.deployment import DeploymentResult
    from embodied_ai_architect.schemas.results import OptimizeReport


def optimize(
    model: Annotated[Path, typer.Argument(help="Model file (format detected from its bytes).")],
    max_size: Annotated[
        float | None, typer.Option("--max-size", help="Largest model size on disk (MB).")
    ] = None,
    max_latency_ms: Annotated[
        float | None, typer.Option("--max-latency-ms", help="Largest p95 latency (ms, batch 1).")
    ] = None,
    max_accuracy_drop: Annotated[
        float | None,
        typer.Option("--max-accuracy-drop", help="Largest accuracy loss (percentage points)."),
    ] = None,
    relative_drop: Annotated[
        bool,
        typer.Option("--relative-drop", help="Read --max-accuracy-drop as % of the original."),
    ] = False,
    fidelity: Annotated[
        str | None,
        typer.Option(
            "--fidelity",
            help="Explicit fidelity bound vs the original (no labels needed): metric:minimum, "
            "e.g. cosine:0.995, top1:0.99, map50:0.98 (also class_agreement, iou, neighbour, "
            "action).",
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Your metric 'module:function' (fn(model, data) -> float in [0, 1]); the "
            "accuracy limits then apply to it. Modules import from the installed packages or "
            "the current folder.",
        ),
    ] = None,
    min_accuracy: Annotated[
        float | None,
        typer.Option("--min-accuracy", help="Smallest accuracy, fraction in (0, 1], e.g. 0.95."),
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="Where the model runs: cpu (this host; the CPU runtimes compete), a target "
            "(onnxruntime, openvino, tflite, jetson) or a device profile (jetson:orin-nano); "
            "see `branes deploy list`.",
        ),
    ] = "cpu",
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            help="What to minimise within the limits: latency (p50, then size), size (then "
            "p50) or balanced (p50 × size).",
        ),
    ] = "latency",
    eval_data: Annotated[
        Path | None,
        typer.Option("--eval-data", help="Labelled data: .npz x/y, CSV, or image class folders."),
    ] = None,
    calibration_data: CalibrationDataOption = None,
    train_data: Annotated[
        Path | None, typer.Option("--train-data", help="Training data (.npz x/y) for fine-tuning.")
    ] = None,
    eval_sim: Annotated[
        str | None, typer.Option("--eval-sim", help="Simulation suite, e.g. reach-v0/smoke.")
    ] = None,
    max_success_drop: Annotated[
        float | None,
        typer.Option(
            "--max-success-drop", help="With --eval-sim: largest success-rate loss (points)."
        ),
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="Wall-clock budget for the job.")
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option("--max-attempts", help="Most technique applications to try.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for artifacts/reports.")] = None,
    input_shape: InputShapeOption = None,
    input_: InputOption = None,
    arch: ArchOption = None,
    arch_kwargs: ArchKwargsOption = None,
    trust_pickle: TrustPickleOption = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for plans, calibration, search.")] = 0,
    max_eval_samples: Annotated[
        int, typer.Option("--max-eval-samples", help="Cap on evaluation samples.", min=1)
    ] = 2000,
    latency_runs: Annotated[
        int, typer.Option("--latency-runs", help="Timed runs per latency figure.", min=5)
    ] = 60,
    search_workers: Annotated[
        int | None,
        typer.Option(
            "--search-workers",
            help="Candidates applied and fidelity-checked in parallel (default: "
            "EAA_SEARCH_WORKERS, else 1); timing stays one at a time; same result.",
            min=1,
        ),
    ] = None,
    config: RequestConfigOption = None,
    save_config: SaveConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Analyze, plan, optimize and evaluate MODEL under your limits; writes report.json/html."""
    from pydantic import ValidationError

    from embodied_ai_architect.schemas.constraints import parse_constraints
    from embodied_ai_architect.schemas.results import OptimizeRequest

    if metric is not None or config is not None:
        import sys

        # A metric module beside the user's data is importable as on `python -c` (CLI only:
        # the API imports installed packages only). Before the request is built: its
        # validator imports the metric (a --config file may name one too).
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
    if config is not None:
        try:
            request = read_request(OptimizeRequest, config)
        except ValidationError as exc:
            raise invalid_request(exc, "optimize") from exc
    else:
        if max_success_drop is not None:
            if eval_sim is None:
                raise InputError(
                    "--max-success-drop needs --eval-sim", hint="name a simulation suite"
                )
            if max_accuracy_drop is not None:
                raise InputError(
                    "give --max-success-drop or --max-accuracy-drop, not both",
                    hint="with --eval-sim, the task accuracy is the success rate",
                )
            max_accuracy_drop = max_success_drop
        constraints = parse_constraints(
            {
                "max_size_mb": max_size,
                "max_latency_ms": max_latency_ms,
                "max_accuracy_drop": max_accuracy_drop,
                "drop_unit": "percent" if relative_drop else "points",
                "min_accuracy": min_accuracy,
                "fidelity": fidelity,
                "target": target,
                "objective": objective,
                "budget": {"max_wall_seconds": max_seconds, "max_attempts": max_attempts},
            }
        )
        request = OptimizeRequest(
            model_path=model,
            load_options=loader_options(input_shape, input_, arch, arch_kwargs, trust_pickle),
            constraints=constraints,
            eval_data=eval_data,
            calibration_data=calibration_data,
            train_data=train_data,
            eval_sim=eval_sim,
            metric=metric,
            out_dir=out,
            seed=seed,
            max_eval_samples=max_eval_samples,
            latency_runs=latency_runs,
            search_workers=search_workers,
        )
    if save_request(request, save_config):
        return
    from embodied_ai_architect.cli.console import print_result

    report = execute(request, quiet=as_json)
    print_result(
        report, as_json=as_json, render=render, succeeded=report.status.value == "succeeded"
    )


def execute(request: Any, *, quiet: bool) -> OptimizeReport:
    """Run the job with a live progress bar; an unreachable goal prints its evidence."""
    import contextlib
    import sys

    from embodied_ai_architect.cli.console import progress_bar
    from embodied_ai_architect.pipeline import run_optimize

    # With --json, stdout carries only the report: libraries that print progress while a
    # technique runs (NNCF's bars during openvino_int8) are sent to stderr instead.
    stdout_guard = contextlib.redirect_stdout(sys.stderr) if quiet else contextlib.nullcontext()
    with progress_bar("optimize", quiet=quiet) as sink, stdout_guard:
        try:
            return run_optimize(request, sink=sink)
        except EAAError as exc:
            evidence = exc.details.get("evidence") if exc.details else None
            if evidence:
                from embodied_ai_architect.cli.console import error_console

                console = error_console()
                console.print("[bold red]constraints unreachable[/bold red] — evidence:")
                for line in evidence:
                    console.print(f"  • {line}", highlight=False)
                if exc.details.get("report"):
                    console.print(f"report: {exc.details['report']}", highlight=False)
            raise


def render(report: OptimizeReport) -> None:
    from rich.table import Table

    from embodied_ai_architect.cli.console import console

    out = console()
    base = report.baseline.metrics
    best = report.best.metrics if report.best else None
    table = Table(title=f"before / after — {report.status.value}")
    table.add_column("metric")
    table.add_column("original (v0)", justify="right")
    table.add_column(f"best ({report.best.id})" if report.best else "best", justify="right")
    table.add_column("change", justify="right")

    def row(name: str, a: float | None, b: float | None, fmt: str, ratio: bool) -> None:
        change = ""
        if a is not None and b is not None:
            if not ratio:
                change = f"{(b - a) * 100:+.2f} pts"
            elif b > 0 and a >= b:
                change = f"{a / b:.2f}× less"
            elif a > 0:
                change = f"{b / a:.2f}× more"
        table.add_row(
            name,
            fmt.format(a) if a is not None else "–",
            fmt.format(b) if b is not None else "–",
            change,
        )

    row("accuracy", base.accuracy, best.accuracy if best else None, "{:.2%}", False)
    row("size (MB)", base.size_mb, best.size_mb if best else None, "{:.3f}", True)
    row("p50 latency (ms)", base.p50_ms, best.p50_ms if best else None, "{:.3f}", True)
    row("p95 latency (ms)", base.p95_ms, best.p95_ms if best else None, "{:.3f}", True)
    if report.memory is not None and report.memory.error is None:
        # The model's own footprint (fresh process), not this optimizer process's RSS.
        row("model memory (MB)", report.memory.baseline_mb, report.memory.best_mb, "{:.1f}", True)
    out.print(table)
    if report.memory is not None and report.memory.error is not None:
        out.print(f"  model memory not measured: {report.memory.error}", highlight=False)
    for verdict in report.best_verdicts:
        mark = "[green]pass[/green]" if verdict.passed else "[red]fail[/red]"
        out.print(f"  {mark} {verdict.reason}", highlight=False)
    out.print(report.summary, highlight=False)
    if report.held_out is not None:
        h = report.held_out
        out.print(
            f"  held-out {h.metric} ({h.samples} samples, used by neither calibration nor "
            f"selection): {h.baseline:.2%} → {h.best:.2%}"
            + ("" if h.passed else " — below the bound"),
            highlight=False,
        )
    if report.resolution is not None and not report.resolution.resolves:
        out.print(
            f"  [yellow]bound resolution:[/yellow] {report.resolution.message}", highlight=False
        )
    if report.decision:
        out.print(report.decision, highlight=False)
    if report.headroom is not None and report.headroom.explanation:
        out.print(f"  headroom: {report.headroom.explanation}", highlight=False)
    if report.deployment is not None:
        render_deployment(report.deployment)
    for name, path in report.artifacts.items():
        out.print(f"  {name}: {path}", highlight=False)
    out.print(f"  run id: {report.run_id}  (branes runs show {report.run_id})", highlight=False)


def render_deployment(deployment: DeploymentResult) -> None:
    """The Deployment stage's record: what was packaged for the target, and its validation."""
    from rich.table import Table

    from embodied_ai_architect.cli.console import console

    table = Table(title=f"deployment — {deployment.target}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    artifact, check = deployment.artifact, deployment.validation
    if artifact is not None:
        table.add_row("artifact", str(artifact.path))
        table.add_row(
            "format / runtime", f"{artifact.format} / {artifact.runtime} {artifact.runtime_version}"
        )
        table.add_row("precision", deployment.precision.value)
        table.add_row("size (MB)", f"{artifact.size_bytes / 1e6:.3f}")
    if check is not None:
        verdict = (
            "[green]passed[/green]"
            if check.passed
            else "[red]FAILED[/red] " + "; ".join(check.reasons)
        )
        table.add_row(
            "validation", f"{verdict} on {check.num_samples} samples ({check.data_source})"
        )
        table.add_row("max relative error", f"{check.max_relative_diff * 100:.3g} %")
        table.add_row("p50 (ms) packaged", f"{check.deployed_latency.p50_ms:.3f}")
    if deployment.error:
        table.add_row("error", f"[red]{deployment.error.get('message', '')}[/red]")
        table.add_row("hint", deployment.error.get("hint", ""))
    if deployment.report_path is not None:
        table.add_row("record", str(deployment.report_path))
    console().print(table)


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
