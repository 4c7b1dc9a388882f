"""DeploymentAgent: check → load → convert (a registered technique) → package → validate → report.

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
from embodied_ai_architect.agents.deployment.convert import (
    check_conversion,
    conversion_spec,
    to_target,
)
from embodied_ai_architect.agents.deployment.targets.base import (
    Conversion,
    DeployContext,
    DeploymentTarget,
    get_target,
)
from embodied_ai_architect.errors import ConfigError, EAAError, InputError
from embodied_ai_architect.schemas.deployment import (
    DeploymentPrecision,
    DeploymentResult,
    DeployRequest,
)
from embodied_ai_architect.schemas.progress import EventKind

if TYPE_CHECKING:
    from embodied_ai_architect.agents.optimization.base import TechniqueContext
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import ModelHandle

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
        conversion = check_conversion_for(request, target, handle)
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
        conversion = with_sample_count(conversion, calibration)
        out_dir = resolve_out_dir(request, handle.name, self.ctx)
        dctx = DeployContext(
            out_dir=out_dir,
            threads=threads,
            seed=self.ctx.seed,
            sink=self.ctx.sink,
            span=(self.ctx.overall(15), self.ctx.overall(55)),
        )
        try:
            what = conversion.technique or "no conversion (runs as it is)"
            self.emit_progress(12, f"converting for {target.name}: {what}", step="convert")
            converted = to_target(
                handle,
                target,
                request.precision,
                conversion,
                technique_context(out_dir / "work", dctx, calibration),
            )
            dctx.logs.extend(converted.changes)
            dctx.span = (self.ctx.overall(55), self.ctx.overall(70))
            self.emit_progress(55, f"packaging the {target.name} artifact", step="deploy")
            artifact = target.package(converted.handle, request.precision, dctx)
            artifact.details.update(converted.details)
            self.emit_progress(
                70,
                f"built {artifact.path.name} ({artifact.size_bytes / 1e6:.2f} MB)",
                step="deploy",
            )
            validation = None
            if request.validation is not None:
                dctx.span = (self.ctx.overall(70), self.ctx.overall(97))
                validation = target.validate(
                    artifact,
                    reference_handle(converted.reference, threads),
                    request.validation,
                    dctx,
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
    """Stop before any work when the target (or its conversion) cannot do what is asked."""
    target.check_available()
    caps = target.get_capabilities()
    if request.precision not in caps.precisions:
        raise ConfigError(
            f"target {target.name!r} does not support {request.precision.value}",
            hint=f"choose one of {[p.value for p in caps.precisions]}",
        )
    if request.precision is DeploymentPrecision.INT8 and request.int8_mode not in caps.int8_modes:
        raise ConfigError(
            f"target {target.name!r} does not support {request.int8_mode} INT8",
            hint=f"supported INT8 modes: {caps.int8_modes}",
        )
    if request.precision is not DeploymentPrecision.INT8 and request.calibration is not None:
        raise InputError(
            f"calibration data is only used for INT8, not {request.precision.value}",
            hint="drop `calibration.data_path` or use `precision` int8",
            field="calibration.data_path",
        )


def check_conversion_for(
    request: DeployRequest, target: DeploymentTarget, handle: ModelHandle
) -> Conversion:
    """The conversion for this model, refused before any work when it cannot run here."""
    conversion = target.conversion(request.precision, request.int8_mode, handle.framework)
    try:
        check_conversion(target, conversion, has_calibration=request.calibration is not None)
    except InputError as exc:
        alternative = (
            " or `int8_mode` dynamic" if "dynamic" in target.get_capabilities().int8_modes else ""
        )
        raise InputError(
            f"INT8 on {target.name!r} needs calibration data",
            hint=f"give `calibration.data_path`: a folder of 100–500 representative images or an "
            f".npy/.npz file{alternative}; `precision` fp16 needs none",
            field="calibration.data_path",
        ) from exc
    return conversion


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
            hint="give the shape the model was trained for in `input_shapes`, e.g. 1,3,224,224",
            field="input_shapes",
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


def with_sample_count(
    conversion: Conversion, calibration: CalibrationProvider | None
) -> Conversion:
    """Calibrate on as many samples as the request gives (the technique's own default otherwise)."""
    spec = conversion_spec(conversion)
    if spec is None or calibration is None:
        return conversion
    fields = [f for f in ("num_samples", "subset_size") if f in spec.config_type.model_fields]
    return Conversion(
        conversion.technique,
        {**conversion.config, **dict.fromkeys(fields, calibration.num_samples)},
    )


def technique_context(
    workdir: Path, dctx: DeployContext, calibration: CalibrationProvider | None
) -> TechniqueContext:
    """The conversion technique's context: same progress span, threads, seed and data."""
    from embodied_ai_architect.agents.optimization.base import TechniqueContext

    return TechniqueContext(
        workdir=workdir,
        sink=dctx.sink,
        seed=dctx.seed,
        threads=dctx.threads,
        calibration=calibration,
        span=dctx.span,
    )


def reference_handle(reference: ModelHandle, threads: int) -> ModelHandle:
    """A fresh FP32 session of an ONNX reference with the measured thread count (the baseline)."""
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

    if not isinstance(reference, OnnxModelHandle):
        return reference
    return reference.with_threads(threads)


def write_report(result: DeploymentResult, request: DeployRequest) -> None:
    if result.report_path is None:
        return
    payload = {
        "request": json.loads(request.model_dump_json()),
        **json.loads(result.model_dump_json()),
    }
    result.report_path.write_text(json.dumps(payload, indent=2))
