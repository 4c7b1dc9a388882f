"""`branes analyze`: profile a model (size, MACs, family, latency, sensitivity, opportunities).

Only builds an AnalysisRequest and calls ``analyze_model``; heavy imports happen inside the
command so that building the CLI stays lean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embodied_ai_architect.cli.options import (
    ArchKwargsOption,
    ArchOption,
    InputOption,
    InputShapeOption,
    JsonOption,
    ThreadsOption,
    TrustPickleOption,
    loader_options,
)
from embodied_ai_architect.errors import InputError

EXAMPLE_NAMES = "cnn, resnet18, vit, mlp_policy, transformer_policy, detector, vla"


def analyze(
    model: Annotated[
        Path | None,
        typer.Argument(help="Model file or directory (format detected from its bytes)."),
    ] = None,
    example: Annotated[
        str | None,
        typer.Option("--example", help=f"Analyze a built-in model instead: {EXAMPLE_NAMES}."),
    ] = None,
    input_shape: InputShapeOption = None,
    input_: InputOption = None,
    as_json: JsonOption = False,
    arch: ArchOption = None,
    arch_kwargs: ArchKwargsOption = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Hugging Face config.json for the weights.")
    ] = None,
    trust_pickle: TrustPickleOption = False,
    no_latency: Annotated[
        bool, typer.Option("--no-latency", help="Skip latency measurement.")
    ] = False,
    sensitivity: Annotated[
        int,
        typer.Option("--sensitivity", help="INT8 sensitivity of the K largest layers (0: off)."),
    ] = 5,
    threads: ThreadsOption = None,
    runs: Annotated[int, typer.Option("--runs", help="Timed runs per runtime.")] = 30,
) -> None:
    """Profile a model: parameters and bytes by dtype, MACs, layer census, architecture family,
    latency p50/p95, per-layer INT8 sensitivity, host capabilities and ranked opportunities."""
    from pydantic import ValidationError

    from embodied_ai_architect.agents.analysis.agent import analyze_model
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.cli.console import console, progress_bar
    from embodied_ai_architect.schemas.analysis import AnalysisRequest
    from embodied_ai_architect.settings import get_settings

    if model is None and example is None:
        raise InputError(
            "no model given",
            hint=f"pass a model path (branes analyze model.onnx) or --example NAME ({EXAMPLE_NAMES})",
        )
    try:
        request = AnalysisRequest(
            model_path=model,
            example=example,
            load=loader_options(input_shape, input_, arch, arch_kwargs, trust_pickle, config),
            measure_latency=not no_latency,
            sensitivity_top_k=sensitivity,
            threads=threads,
            runs=runs,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        raise InputError(
            f"invalid option {where}: {first['msg']}", hint="see `branes analyze --help`"
        ) from None
    settings = get_settings()
    with progress_bar("analyze", quiet=False) as sink:
        profile = analyze_model(request, AgentContext.from_settings(settings, sink))
    if as_json:
        # Plain print, not Rich: the JSON must stay byte-exact for parsers.
        typer.echo(profile.model_dump_json(indent=2))
        return
    from embodied_ai_architect.cli.render_profile import render_profile

    render_profile(profile, console())


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
