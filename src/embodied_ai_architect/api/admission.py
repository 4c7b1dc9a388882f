"""Admission checks of a job at submit: everything that can be known before a worker starts.

``POST /api/v1/jobs`` runs these after the request schema and the library request built, so a
job that is queued fails only for reasons nobody could know at submit time (the model's
numerics, a technique that does not help, the host running out of memory mid-way). Each
refusal is a 422 whose ``details.field`` names the request field to fix.

Checked: the deployment target exists and runs on this host, supports the precision and INT8
mode, and static INT8 has calibration data (``calibration_data_id``); the simulation suite
exists, and for a rollout its scene exists and an MP4 can be written here; the input shapes match the model's inputs in count, rank and fixed dimensions
(ONNX, read from the graph header), and dynamic dimensions are given; the input tensors and
the model fit ``EAA_JOB_MAX_INPUT_MB`` and ``EAA_JOB_MEMORY_MB``; an optimize job's
``search_workers`` fit the server's CPUs (local executor).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.job_requests import (
    AnyJobRequest,
    DeployJobRequest,
    OptimizeJobRequest,
    RolloutJobRequest,
)
from embodied_ai_architect.settings import Settings

JobRequestModel = AnyJobRequest

# Rough working set of a job relative to its inputs and model file: the runtime holds the
# weights at least twice (file + session), and activations, outputs and baselines several
# copies of the inputs. An estimate only needs to catch what can never fit.
_MODEL_COPIES = 2
_INPUT_COPIES = 4


def refuse(field: str, message: str, hint: str) -> InputError:
    return InputError(f"{field}: {message}", hint=hint, details={"field": field}, field=field)


@functools.cache
def _targets() -> dict[str, tuple[bool, str, Any]]:
    # Availability is a fact of the host and its installed packages: read once per process.
    from embodied_ai_architect.agents.deployment.targets.base import list_targets

    return {s.name: (s.available, s.reason, s.capabilities) for s in list_targets()}


@functools.cache
def _suites() -> tuple[str, ...]:
    from embodied_ai_architect.sim.suites import list_suites

    return tuple(list_suites())


def _check_suite(field: str, suite: str) -> None:
    suites = _suites()
    if suite not in suites:
        raise refuse(
            field, f"unknown simulation suite {suite!r}", f"available: {', '.join(suites)}"
        )


def _check_rollout(request: RolloutJobRequest) -> None:
    import importlib.util

    from embodied_ai_architect.sim.suites import load_suite

    _check_suite("suite", request.suite)
    scenes = len(load_suite(request.suite).seeds)
    if request.scene >= scenes:
        raise refuse(
            "scene",
            f"suite {request.suite} has {scenes} scenes; scene {request.scene} does not exist",
            f"pick a scene from 0 to {scenes - 1}",
        )
    if request.format == "mp4" and not all(
        importlib.util.find_spec(name) for name in ("imageio", "imageio_ffmpeg")
    ):
        raise refuse(
            "format",
            "MP4 needs imageio and imageio-ffmpeg, which this server lacks",
            "use format 'gif', or install the server with the video extra: "
            "pip install 'embodied-ai-architect[video]'",
        )


def admit(
    request: JobRequestModel,
    *,
    model_path: Path | None,
    model_format: str | None,
    settings: Settings,
) -> None:
    """Raise a 422-mapped InputError naming the field when the job cannot succeed."""
    if isinstance(request, DeployJobRequest):
        _check_target(request)
    if isinstance(request, OptimizeJobRequest):
        _check_optimize_target(request)
        _check_search_workers(request, settings)
    if isinstance(request, OptimizeJobRequest) and request.eval_sim is not None:
        _check_suite("eval_sim", request.eval_sim)
    if isinstance(request, RolloutJobRequest):
        _check_rollout(request)
    if model_path is not None and model_format == "onnx":
        _check_onnx_inputs(request.input_shapes, model_path)
    _check_resources(request.input_shapes, model_path, settings)


def _check_optimize_target(request: OptimizeJobRequest) -> None:
    """The same refusal as the CLI's: a target that cannot run here never queues."""
    from embodied_ai_architect.errors import TargetUnavailableError
    from embodied_ai_architect.pipeline.deployment import check_target

    try:
        check_target(request.constraints)
    except TargetUnavailableError as exc:
        raise refuse("constraints.target", exc.message, exc.hint) from exc


def _check_search_workers(request: OptimizeJobRequest, settings: Settings) -> None:
    """Locally, each search worker is a process on this host: more than its CPUs only adds
    memory and contention (Ray spreads them over the cluster; the schema caps those)."""
    cpus = os.cpu_count() or 1
    wanted = request.search_workers
    if settings.executor == "local" and wanted is not None and wanted > cpus:
        raise refuse(
            "search_workers",
            f"{wanted} search workers asked for, this server has {cpus} CPU(s)",
            f"pass at most {cpus}, or omit it for the server's default",
        )


def _check_target(request: DeployJobRequest) -> None:
    targets = _targets()
    if request.target not in targets:
        raise refuse(
            "target",
            f"unknown deployment target {request.target!r}",
            f"available: {', '.join(sorted(targets))}",
        )
    available, reason, caps = targets[request.target]
    if not available:
        raise refuse(
            "target",
            f"target {request.target!r} is not available on this host: {reason}",
            f"available here: {', '.join(sorted(n for n, t in targets.items() if t[0]))}",
        )
    precisions = [p.value for p in caps.precisions]
    if request.precision not in precisions:
        raise refuse(
            "precision",
            f"target {request.target!r} does not support {request.precision}",
            f"choose one of {', '.join(precisions)}",
        )
    if request.precision == "int8":
        if request.int8_mode not in caps.int8_modes:
            raise refuse(
                "int8_mode",
                f"target {request.target!r} does not support {request.int8_mode} INT8",
                f"supported INT8 modes: {', '.join(caps.int8_modes)}",
            )
        if request.int8_mode == "static" and request.calibration_data_id is None:
            raise refuse(
                "calibration_data_id",
                f"static INT8 on {request.target!r} needs calibration data",
                "upload representative inputs (POST /api/v1/datasets) and pass their id as "
                "calibration_data_id, or use int8_mode 'dynamic' / precision fp16",
            )


def _check_onnx_inputs(shapes: list[list[int]] | None, model_path: Path) -> None:
    from embodied_ai_architect.errors import ModelFormatError
    from embodied_ai_architect.modelio.formats import read_onnx_header

    try:
        inputs = read_onnx_header(model_path).inputs
    except ModelFormatError as exc:
        raise refuse("model_id", exc.message, exc.hint) from exc
    if shapes is None:
        for spec in inputs:
            dynamic = [
                i for i, d in enumerate(spec.dims) if i > 0 and not (isinstance(d, int) and d > 0)
            ]
            if dynamic:
                raise refuse(
                    "input_shapes",
                    f"model input {spec.name!r} has dynamic dimension(s) at position(s) "
                    f"{dynamic} ({list(spec.dims)})",
                    "pass input_shapes with one concrete shape per model input",
                )
        return
    if len(shapes) != len(inputs):
        raise refuse(
            "input_shapes",
            f"{len(shapes)} shape(s) given, the model has {len(inputs)} input(s) "
            f"({', '.join(s.name for s in inputs)})",
            "pass one shape per model input, in the model's input order",
        )
    for index, (shape, spec) in enumerate(zip(shapes, inputs, strict=True)):
        if len(shape) != len(spec.dims):
            raise refuse(
                "input_shapes",
                f"shape {index} {shape} has rank {len(shape)}, model input {spec.name!r} has "
                f"rank {len(spec.dims)} ({list(spec.dims)})",
                f"give input {spec.name!r} a shape of rank {len(spec.dims)}",
            )
        for position, (given, fixed) in enumerate(zip(shape, spec.dims, strict=True)):
            if isinstance(fixed, int) and fixed > 0 and given != fixed:
                raise refuse(
                    "input_shapes",
                    f"shape {index} {shape}: dimension {position} is fixed to {fixed} by model "
                    f"input {spec.name!r}",
                    f"use {fixed} at position {position} (only dynamic dimensions may change)",
                )


def _check_resources(
    shapes: list[list[int]] | None, model_path: Path | None, settings: Settings
) -> None:
    input_mb = (
        sum(math.prod(shape) for shape in shapes) * 4 / 1024**2 if shapes is not None else 0.0
    )
    if input_mb > settings.job_max_input_mb:
        raise refuse(
            "input_shapes",
            f"the input tensors would take {input_mb:,.0f} MiB, over the limit of "
            f"{settings.job_max_input_mb} MiB",
            "pass the shapes the model runs on (batch 1); EAA_JOB_MAX_INPUT_MB sets the limit",
        )
    if settings.job_memory_mb is None:
        return
    model_mb = model_path.stat().st_size / 1024**2 if model_path is not None else 0.0
    estimate = model_mb * _MODEL_COPIES + input_mb * _INPUT_COPIES
    if estimate > settings.job_memory_mb:
        field = (
            "input_shapes" if input_mb * _INPUT_COPIES > model_mb * _MODEL_COPIES else "model_id"
        )
        raise refuse(
            field,
            f"the job would need about {estimate:,.0f} MiB, over the per-job memory limit of "
            f"{settings.job_memory_mb} MiB (model {model_mb:,.0f} MiB, inputs {input_mb:,.0f} MiB)",
            "use smaller input shapes or model, or raise EAA_JOB_MEMORY_MB",
        )
