"""Bring a model onto a target's runtime with the registered conversion technique.

Every conversion is a registered technique (the code the optimizer measures). ``branes deploy
run`` applies it as the one step of its plan (``agents/deployment/agent.py``); the Deployment
stage comes here when the chosen version still needs its FP32 conversion onto the target.
:func:`check_conversion` refuses, before any work, a conversion that cannot run here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.deployment.targets.base import Conversion, DeploymentTarget
from embodied_ai_architect.errors import ConfigError, InputError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle, OnnxModelHandle
from embodied_ai_architect.schemas.deployment import DeploymentPrecision

if TYPE_CHECKING:
    from embodied_ai_architect.agents.optimization.base import TechniqueContext, TechniqueSpec


@dataclass
class Converted:
    """The model on the target's runtime, and the FP32 model it must be compared with."""

    handle: ModelHandle
    reference: ModelHandle
    technique: str | None
    changes: list[str]
    details: dict[str, str | int | float | bool | None] = field(default_factory=dict)


def conversion_spec(conversion: Conversion) -> TechniqueSpec | None:
    if conversion.technique is None:
        return None
    from embodied_ai_architect.agents.optimization.base import get_technique

    return get_technique(conversion.technique)


def check_conversion(
    target: DeploymentTarget, conversion: Conversion, *, has_calibration: bool
) -> None:
    """Stop before any work when the conversion cannot run here or lacks its data."""
    spec = conversion_spec(conversion)
    if spec is None:
        return
    from embodied_ai_architect.agents.optimization.base import check_available

    check_available(spec)
    if spec.manifest.needs_data == "calibration" and not has_calibration:
        raise InputError(
            f"{spec.name} (the {target.name} conversion) needs calibration data",
            hint="give calibration data (100–500 representative images, or an .npy/.npz file "
            "of inputs)",
        )


def to_target(
    handle: ModelHandle,
    target: DeploymentTarget,
    conversion: Conversion,
    ctx: TechniqueContext,
) -> Converted:
    """Convert ``handle`` for ``target`` at FP32 (no conversion: it runs there as it is, or
    its ONNX export does); ONNX-taking conversions get the checked ONNX export.

    The reference is the FP32 model the conversion started from: ONNX Runtime on the export
    where the path goes through ONNX, else the source model itself (a Keras file, a .tflite).
    """
    from embodied_ai_architect.agents.optimization.base import apply_technique, parse_config

    spec = conversion_spec(conversion)
    if spec is None or target.runs(handle):
        if target.runs(handle):
            return Converted(handle, handle, None, [])
        if Framework.ONNX in target.frameworks:
            onnx = _as_onnx(handle, ctx)
            return Converted(onnx, onnx, None, ["exported to ONNX"])
        raise ConfigError(
            f"target {target.name!r} runs {sorted(f.value for f in target.frameworks)} models "
            f"and has no FP32 conversion from {handle.framework.value}",
            hint=f"give a model the {target.name} conversions accept",
        )
    accepts = spec.manifest.input_frameworks
    source = handle
    if Framework.ONNX in accepts and handle.framework is not Framework.ONNX:
        source = _as_onnx(handle, ctx)
    elif handle.framework not in accepts:
        raise ConfigError(
            f"{spec.name} (the {target.name} conversion) takes "
            f"{[f.value for f in accepts]} models; this one is {handle.framework.value}",
            hint="deploy the original model file the conversion takes (e.g. the Keras or "
            "SavedModel file for TFLite INT8/FP16)",
        )
    result = apply_technique(spec.name, source, ctx, conversion.config)
    config = parse_config(spec, conversion.config).model_dump(mode="json")
    details: dict[str, str | int | float | bool | None] = {"conversion": spec.name}
    details.update(
        (key, value)
        for key, value in config.items()
        if key != "version" and (value is None or isinstance(value, str | int | float | bool))
    )
    details.update(result.metrics)
    return Converted(result.handle, source, spec.name, result.changes, details)


def _as_onnx(handle: ModelHandle, ctx: TechniqueContext) -> OnnxModelHandle:
    if isinstance(handle, OnnxModelHandle):
        return handle
    from embodied_ai_architect.modelio.export import export_onnx

    return export_onnx(handle, ctx.path(f"{handle.name}.onnx"), threads=ctx.threads)


def takes_at_fp32(target: DeploymentTarget, framework: Framework) -> bool:
    """Whether ``target`` can package a ``framework`` model at FP32 on this host."""
    if framework in target.frameworks:
        return True
    try:
        conversion = target.conversion(DeploymentPrecision.FP32, "static", framework)
    except ConfigError:
        return False
    spec = conversion_spec(conversion)
    if spec is None:
        return Framework.ONNX in target.frameworks and framework in (
            Framework.TORCH,
            Framework.ONNX,
        )
    from embodied_ai_architect.agents.optimization.base import can_take

    return spec.availability()[0] and can_take(spec.manifest, framework)
