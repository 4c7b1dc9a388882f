"""DeploymentAgent: validate inputs → export to ONNX → build for the target → validate → report.

:func:`deploy_model` is the one function every surface (CLI, REST, LLM tools, MCP) calls.

Example:
    >>> from embodied_ai_architect.agents.base import AgentContext
    >>> from embodied_ai_architect.settings import get_settings
    >>> request = DeployRequest(model_path=Path("cnn.onnx"), precision="fp16")  # doctest: +SKIP
    >>> result = deploy_model(request, AgentContext(settings=get_settings()))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.base import Agent, AgentContext
from embodied_ai_architect.agents.deployment.models import (
    DeploymentPrecision,
    DeploymentResult,
    DeployRequest,
)
from embodied_ai_architect.agents.deployment.targets.base import (
    DeployContext,
    DeploymentTarget,
    get_target,
)
from embodied_ai_architect.errors import ConfigError, EAAError, InputError
from embodied_ai_architect.schemas.progress import EventKind

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle

DEPLOYMENT_REPORT = "deployment.json"
VALIDATION_REPORT = "validation.json"


class DeploymentAgent(Agent[DeployRequest, DeploymentResult]):
    """Builds and validates a deployment artifact for one target."""

    name = "deployment"
    stage = "deployment"

    def run(self, request: DeployRequest) -> DeploymentResult:
        started = time.perf_counter()
        threads = request.threads or self.ctx.settings.num_threads
        self.emit_progress(2, f"checking target {request.target!r}", step="validate")
        target = get_target(request.target)
        check_request_against_target(request, target)
        self.emit_progress(5, f"loading {request.model_path.name}", step="validate")
        handle = load_checked_model(request, threads)
        calibration = build_calibration(request, handle)
        if calibration is not None and request.calibration is not None:
            available = calibration.num_samples
            if available < request.calibration.num_samples:
                self.emit_progress(
                    8,
                    f"calibrating on {available} sample(s): only that many were found "
                    f"(asked for {request.calibration.num_samples})",
                    kind=EventKind.WARNING,
                    step="validate",
                )
        out_dir = resolve_out_dir(request, handle.name, self.ctx)
        dctx = DeployContext(
            out_dir=out_dir,
            threads=threads,
            seed=self.ctx.seed,
            sink=self.ctx.sink,
            span=(self.ctx.overall(25), self.ctx.overall(70)),
        )
        try:
            self.emit_progress(15, "exporting to ONNX", step="export")
            onnx_model = export_for_deployment(handle, out_dir, threads)
            dctx.log(f"ONNX graph: {onnx_model.onnx_path}")
            self.emit_progress(25, f"building the {target.name} artifact", step="deploy")
            artifact = target.deploy(
                onnx_model,
                request.precision,
                dctx,
                calibration=calibration,
                int8_mode=request.int8_mode,
                source=handle,
            )
            self.emit_progress(
                70,
                f"built {artifact.path.name} ({artifact.size_bytes / 1e6:.2f} MB)",
                step="deploy",
            )
            validation = None
            if request.validation is not None:
                dctx.span = (self.ctx.overall(70), self.ctx.overall(97))
                validation = target.validate(
                    artifact, baseline_handle(onnx_model, threads), request.validation, dctx
                )
                (out_dir / VALIDATION_REPORT).write_text(validation.model_dump_json(indent=2))
                verdict = (
                    "passed" if validation.passed else "FAILED: " + "; ".join(validation.reasons)
                )
                self.emit_progress(
                    97,
                    f"validation {verdict} (speedup {validation.speedup:.2f}x)",
                    {
                        "speedup": validation.speedup,
                        "max_relative_diff": validation.max_relative_diff,
                    },
                    kind=EventKind.METRIC if validation.passed else EventKind.WARNING,
                    step="validate",
                )
        except EAAError as exc:
            failed = DeploymentResult(
                success=False,
                target=target.name,
                precision=request.precision,
                logs=dctx.logs,
                error={"code": exc.code, "message": exc.message, "hint": exc.hint},
                seconds=time.perf_counter() - started,
                report_path=out_dir / DEPLOYMENT_REPORT,
            )
            write_report(failed, request)
            raise
        result = DeploymentResult(
            success=validation is None or validation.passed,
            target=target.name,
            precision=request.precision,
            artifact=artifact,
            validation=validation,
            logs=dctx.logs,
            seconds=time.perf_counter() - started,
            report_path=out_dir / DEPLOYMENT_REPORT,
        )
        write_report(result, request)
        return result


def deploy_model(request: DeployRequest, ctx: AgentContext) -> DeploymentResult:
    """Deploy ``request.model_path`` to ``request.target``; raises EAAError on bad input.

    A failed validation is not an exception: the result says ``success=False`` with reasons.
    """
    return DeploymentAgent(ctx).execute(request)


def check_request_against_target(request: DeployRequest, target: DeploymentTarget) -> None:
    """Stop before any work when the target cannot do what is asked."""
    target.check_available()
    caps = target.get_capabilities()
    if request.precision not in caps.precisions:
        raise ConfigError(
            f"target {target.name!r} does not support {request.precision.value}",
            hint=f"choose one of {[p.value for p in caps.precisions]}",
        )
    if request.precision is DeploymentPrecision.INT8:
        if request.int8_mode not in caps.int8_modes:
            raise ConfigError(
                f"target {target.name!r} does not support {request.int8_mode} INT8",
                hint=f"supported INT8 modes: {caps.int8_modes}",
            )
        if request.int8_mode == "static" and request.calibration is None:
            alternative = " or --int8-mode dynamic" if "dynamic" in caps.int8_modes else ""
            raise InputError(
                f"INT8 on {target.name!r} needs calibration data",
                hint=f"pass --calibration-data DIR with 100–500 representative images or an "
                f".npy/.npz file{alternative}; --precision fp16 needs none",
            )
    elif request.calibration is not None:
        raise InputError(
            f"calibration data is only used for INT8, not {request.precision.value}",
            hint="drop --calibration-data or use --precision int8",
        )


def load_checked_model(request: DeployRequest, threads: int) -> ModelHandle:
    """Load the model and prove it runs on the requested input shape."""
    from embodied_ai_architect.modelio.loader import load_model

    if not request.model_path.exists():
        raise InputError(
            f"model file {str(request.model_path)!r} does not exist", hint="check the path"
        )
    handle = load_model(request.model_path, request.effective_load_options(), threads=threads)
    for spec in handle.inputs:
        spec.concrete_shape(1)  # raises InputError naming the dynamic dimension
    try:
        handle.run(handle.example_inputs(batch=1, seed=0))
    except EAAError:
        raise
    except Exception as exc:  # frameworks raise arbitrary types on shape mismatches
        shapes = {spec.name: list(spec.shape) for spec in handle.inputs}
        raise InputError(
            f"the model does not run on input shape(s) {shapes}: {str(exc).splitlines()[0]}",
            hint="pass the shape the model was trained for, e.g. --input-shape 1,3,224,224",
        ) from exc
    return handle


def build_calibration(request: DeployRequest, handle: ModelHandle) -> CalibrationProvider | None:
    """Open the calibration data and read every sample once, so bad files fail before export."""
    if request.calibration is None or request.precision is not DeploymentPrecision.INT8:
        return None
    from embodied_ai_architect.data.calibration import provider_from_path

    config = request.calibration
    provider = provider_from_path(
        config.data_path,
        handle.inputs,
        num_samples=config.num_samples,
        batch_size=config.batch_size,
        preprocessing=config.preprocessing,
    )
    count = sum(1 for _ in provider.samples())
    if count == 0:
        raise InputError(
            f"calibration data {str(config.data_path)!r} yielded no samples", hint="add samples"
        )
    # Record what will really be used (the folder / file may hold fewer than asked for).
    provider.num_samples = count
    return provider


def resolve_out_dir(request: DeployRequest, model_name: str, ctx: AgentContext) -> Path:
    if request.out_dir is not None:
        out = request.out_dir
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = (
            ctx.settings.workspace
            / "deployments"
            / f"{model_name}-{request.target}-{request.precision.value}-{stamp}"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def export_for_deployment(handle: ModelHandle, out_dir: Path, threads: int) -> OnnxModelHandle:
    from embodied_ai_architect.modelio.export import export_onnx

    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    return export_onnx(handle, work / f"{handle.name}.onnx", threads=threads)


def baseline_handle(onnx_model: OnnxModelHandle, threads: int) -> OnnxModelHandle:
    """A fresh FP32 ORT session with the measured thread count (the reference for validation)."""
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

    return OnnxModelHandle(
        onnx_model.onnx_path,
        threads=threads,
        name=onnx_model.name,
        source_format=onnx_model.source_format,
        inputs=onnx_model.inputs,
        outputs=onnx_model.outputs,
    )


def write_report(result: DeploymentResult, request: DeployRequest) -> None:
    if result.report_path is None:
        return
    payload = {
        "request": json.loads(request.model_dump_json()),
        **json.loads(result.model_dump_json()),
    }
    result.report_path.write_text(json.dumps(payload, indent=2))
