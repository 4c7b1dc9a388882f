"""`branes deploy run` / `branes deploy list`: build a validated artifact for a target runtime.

The command only builds a :class:`DeployRequest` and calls ``deploy_model`` — the same function
the LLM tools and the MCP server call. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
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
    QuietOption,
    RequestConfigOption,
    SaveConfigOption,
    ThreadsOption,
    TrustPickleOption,
    add_command_group,
    invalid_request,
    loader_options,
    parse_input_shapes,
    read_request,
    save_request,
)

if TYPE_CHECKING:
    from rich.console import Console

    from embodied_ai_architect.agents.deployment.targets.base import TargetStatus
    from embodied_ai_architect.schemas.deployment import DeploymentResult, DeployRequest


def register(app: typer.Typer) -> None:
    add_command_group(
        app,
        "deploy",
        "Deploy a model to an edge runtime and validate it against ONNX Runtime FP32.",
        {"run": run, "list": list_command},
    )


def _floats(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        from embodied_ai_architect.errors import InputError

        raise InputError(
            f"{text!r} is not a comma-separated list of numbers", hint="e.g. 0.485,0.456,0.406"
        ) from None


def run(
    model: Annotated[Path, typer.Argument(help="Model file: PyTorch, ONNX, TensorFlow/Keras, ...")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="See `branes deploy list`.")
    ] = "onnxruntime",
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            "-p",
            help="fp32, fp16, int8, or bf16 (FP32 weights computed in BF16: the openvino "
            "target on CPUs with native BF16).",
        ),
    ] = "fp32",
    int8_mode: Annotated[
        str, typer.Option("--int8-mode", help="static (calibrated) or dynamic (where supported).")
    ] = "static",
    calibration_data: CalibrationDataOption = None,
    num_calibration: Annotated[
        int, typer.Option("--num-calibration", help="Calibration samples.")
    ] = 128,
    calibration_batch: Annotated[
        int, typer.Option("--calibration-batch", help="Calibration batch.")
    ] = 1,
    input_shape: InputShapeOption = None,
    input_: InputOption = None,
    arch: ArchOption = None,
    arch_kwargs: ArchKwargsOption = None,
    trust_pickle: TrustPickleOption = False,
    test_data: Annotated[
        Path | None,
        typer.Option("--test-data", help="Folder of images or .npy/.npz to validate on."),
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Validate against ORT FP32.")
    ] = False,
    num_test: Annotated[int, typer.Option("--num-test", help="Test samples to compare.")] = 32,
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", help="Allowed relative output error in percent (default 1 %)."),
    ] = 1.0,
    min_top1: Annotated[
        float | None,
        typer.Option("--min-top1", help="Required top-1 agreement (0–1) for classifier outputs."),
    ] = None,
    allow_random: Annotated[
        bool,
        typer.Option("--allow-random-inputs", help="Validate on random inputs when no test data."),
    ] = False,
    layout: Annotated[str, typer.Option("--layout", help="Image layout: NCHW or NHWC.")] = "NCHW",
    mean: Annotated[
        str | None, typer.Option("--mean", help="Per-channel mean, e.g. 0.485,0.456,0.406")
    ] = None,
    std: Annotated[
        str | None, typer.Option("--std", help="Per-channel std, e.g. 0.229,0.224,0.225")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory.")] = None,
    threads: ThreadsOption = None,
    config: RequestConfigOption = None,
    save_config: SaveConfigOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build the artifact for TARGET and optionally validate it against ONNX Runtime FP32."""
    from pydantic import ValidationError

    from embodied_ai_architect.data.calibration import Preprocessing
    from embodied_ai_architect.schemas.deployment import (
        CalibrationConfig,
        DeployRequest,
        ValidationConfig,
    )

    try:
        if config is not None:
            request = read_request(DeployRequest, config)
        else:
            pre: dict[str, Any] = {"layout": layout}
            if (parsed_mean := _floats(mean)) is not None:
                pre["mean"] = parsed_mean
            if (parsed_std := _floats(std)) is not None:
                pre["std"] = parsed_std
            preprocessing = Preprocessing(**pre)
            calibration = (
                CalibrationConfig(
                    data_path=calibration_data,
                    num_samples=num_calibration,
                    batch_size=calibration_batch,
                    preprocessing=preprocessing,
                )
                if calibration_data is not None
                else None
            )
            validation = None
            if validate or test_data is not None:
                validation = ValidationConfig(
                    test_data_path=test_data,
                    tolerance_percent=tolerance,
                    num_samples=num_test,
                    min_top1_agreement=min_top1,
                    allow_random_inputs=allow_random,
                    preprocessing=preprocessing,
                )
            request = DeployRequest(
                model_path=model,
                target=target,
                precision=precision,  # type: ignore[arg-type]  # validated by pydantic
                int8_mode=int8_mode,  # type: ignore[arg-type]
                input_shapes=parse_input_shapes(input_shape),
                load_options=loader_options(input_shape, input_, arch, arch_kwargs, trust_pickle),
                calibration=calibration,
                validation=validation,
                out_dir=out,
                threads=threads,
            )
    except ValidationError as exc:
        raise invalid_request(exc, "deploy run") from exc
    if save_request(request, save_config):
        return
    from embodied_ai_architect.cli.console import console, print_result

    result = execute(request, quiet=quiet or as_json)
    print_result(
        result,
        as_json=as_json,
        render=lambda shown: render_result(shown, console()),
        succeeded=result.success,
    )


def execute(request: DeployRequest, *, quiet: bool) -> DeploymentResult:
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.agents.deployment.agent import deploy_model
    from embodied_ai_architect.cli.console import progress_bar
    from embodied_ai_architect.settings import get_settings

    settings = get_settings()
    with progress_bar(f"deploy → {request.target}", quiet=quiet) as sink:
        return deploy_model(request, AgentContext.from_settings(settings, sink))


def render_result(result: DeploymentResult, out: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    artifact = result.artifact
    if artifact is not None:
        out.print(
            f"[bold]artifact[/bold] {escape(str(artifact.path))}  ({artifact.size_bytes / 1e6:.2f} MB, "
            f"{artifact.precision.value}, {artifact.runtime} {artifact.runtime_version})"
        )
    validation = result.validation
    if validation is not None:
        table = Table(title=f"validation vs ONNX Runtime FP32 ({validation.num_samples} samples)")
        table.add_column("metric")
        table.add_column("baseline", justify="right")
        table.add_column(result.target, justify="right")
        base, dep = validation.baseline_latency, validation.deployed_latency
        table.add_row("latency p50 (ms)", f"{base.p50_ms:.3f}", f"{dep.p50_ms:.3f}")
        table.add_row("latency p95 (ms)", f"{base.p95_ms:.3f}", f"{dep.p95_ms:.3f}")
        table.add_row("speedup", "1.00x", f"{validation.speedup:.2f}x")
        table.add_row("max abs diff", "", f"{validation.max_abs_diff:.4g}")
        table.add_row(
            "max relative diff",
            f"≤ {validation.tolerance_percent:g} %",
            f"{validation.max_relative_diff * 100:.3g} %",
        )
        if validation.top1_agreement is not None:
            table.add_row("top-1 agreement", "", f"{validation.top1_agreement * 100:.1f} %")
        out.print(table)
        verdict = "[green]PASSED[/green]" if validation.passed else "[red]FAILED[/red]"
        out.print(f"validation {verdict}")
        for reason in validation.reasons:
            out.print(f"  [red]•[/red] {escape(reason)}")
    if result.report_path is not None:
        out.print(f"[dim]report: {escape(str(result.report_path))}[/dim]")
        if result.report_path.is_file():
            run_id = json.loads(result.report_path.read_text()).get("run_id")
            # The deploy ran as a one-step plan through the pipeline: its record is a run.
            out.print(f"[dim]run: {run_id} (branes runs show {run_id})[/dim]")


def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the targets as JSON.")] = False,
) -> None:
    """Show every deployment target, whether it runs on this host, and why not."""
    from embodied_ai_architect.agents.deployment.targets.base import list_targets

    statuses = list_targets()
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in statuses], indent=2))
        return
    from embodied_ai_architect.cli.console import console

    render_targets(statuses, console())


def render_targets(statuses: list[TargetStatus], out: Console) -> None:
    from rich.table import Table

    table = Table(title="deployment targets on this host")
    table.add_column("target", style="bold", no_wrap=True)
    table.add_column("available", no_wrap=True)
    table.add_column("precisions", no_wrap=True)
    table.add_column("format", no_wrap=True)
    table.add_column("devices")
    for status in statuses:
        caps = status.capabilities
        table.add_row(
            status.name,
            "[green]yes[/green]" if status.available else "[red]no[/red]",
            ", ".join(p.value for p in caps.precisions),
            ", ".join(caps.formats),
            ", ".join(caps.devices),
        )
    out.print(table)
    from rich.markup import escape

    # Reasons and verification notes are sentences: print them in full, not squeezed into cells.
    for status in statuses:
        colour = "green" if status.available else "red"
        out.print(f"[bold]{status.name}[/bold]: [{colour}]{escape(status.reason)}[/{colour}]")
        out.print(f"  [dim]verified: {escape(status.capabilities.verified)}[/dim]")
