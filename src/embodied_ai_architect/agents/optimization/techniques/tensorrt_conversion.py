"""TensorRT 10 engines for Jetson / CUDA GPUs: FP32 / FP16, and INT8 with the entropy calibrator.

ONNX in, a serialized ``.engine`` out (run through the tensor-address API). INT8 calibrates with
``IInt8EntropyCalibrator2`` on the run's calibration data and keeps a fingerprinted calibration
cache beside the engine, so a rebuild on the same graph and data skips calibration.

Both need the ``tensorrt`` module and a CUDA device; on hosts without them the planner and
``branes deploy`` refuse them before any work (see ``TechniqueSpec.availability``).

Example:
    >>> result = apply_technique("tensorrt_engine", onnx_handle, ctx, {"precision": "fp16"})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
    require_onnx,
)
from embodied_ai_architect.agents.optimization.fields import searched
from embodied_ai_architect.errors import InputError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle


class TensorRtEngineConfig(TechniqueConfig):
    """Build a TensorRT engine without calibration.

    Example:
        >>> TensorRtEngineConfig(precision="fp16")
    """

    technique: ClassVar[str] = "tensorrt_engine"

    precision: Literal["fp32", "fp16"] = searched(
        "fp16",
        description="fp16 enables FP16 tactics (TensorRT keeps FP32 where it is faster or "
        "required); fp32 builds a plain FP32 engine.",
        search=["fp16"],
    )


class TensorRtInt8Config(TechniqueConfig):
    """Build an INT8 engine calibrated with the entropy calibrator (FP16 fallback enabled).

    Example:
        >>> TensorRtInt8Config(num_samples=256, batch_size=8)
    """

    technique: ClassVar[str] = "tensorrt_int8"

    num_samples: int = Field(default=256, ge=1, le=100_000, description="Calibration samples.")
    batch_size: int = Field(default=8, ge=1, le=1024, description="Calibration batch size.")


def _manifest(
    description: str, precision: str, needs_data: Literal["none", "calibration"]
) -> TechniqueManifest:
    return TechniqueManifest.onnx_conversion(
        TechniqueFamily.QUANTIZATION,
        description,
        precision,
        output_framework=Framework.TENSORRT,
        runtime="tensorrt",
        requires=["tensorrt"],
        needs_data=needs_data,
        extra="jetson",
        needs_cuda=True,
    )


def build(
    handle: ModelHandle,
    precision: Literal["fp32", "fp16", "int8"],
    ctx: TechniqueContext,
) -> TechniqueResult:
    """Build, then load the engine (on this host's GPU) so the pipeline can measure it."""
    from embodied_ai_architect.agents.deployment.targets.jetson import (
        TensorRTEngineHandle,
        build_engine,
        engine_spec,
        load_tensorrt,
    )
    from embodied_ai_architect.schemas.deployment import DeploymentPrecision

    source = require_onnx(handle, f"tensorrt ({precision})")
    calibration = ctx.calibration if precision == "int8" else None
    if precision == "int8" and calibration is None:
        raise InputError(
            "INT8 TensorRT engines need calibration data",
            hint="give `calibration_data` (a folder of images or .npy/.npz), or build fp16",
            field="calibration_data",
        )
    trt = load_tensorrt()
    spec = engine_spec(source, DeploymentPrecision(precision), ctx.workdir, calibration)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    ctx.emit(10, f"building a TensorRT {precision} engine")
    build_engine(trt, spec)
    cache = spec.cache.path if spec.cache is not None else None
    engine = TensorRTEngineHandle(
        spec.engine_path, source.inputs, source.outputs, calibration_cache=cache
    )
    return TechniqueResult(
        handle=engine,
        changes=[f"TensorRT {precision} engine", *spec.logs],
        metrics={
            "size_before_bytes": float(source.onnx_path.stat().st_size),
            "size_after_bytes": float(spec.engine_path.stat().st_size),
        },
    )


@register_technique(
    TensorRtEngineConfig,
    _manifest("TensorRT 10 engine (FP32 or FP16 tactics) for Jetson / CUDA GPUs.", "fp16", "none"),
)
def apply_tensorrt_engine(
    handle: ModelHandle, config: TensorRtEngineConfig, ctx: TechniqueContext
) -> TechniqueResult:
    return build(handle, config.precision, ctx)


@register_technique(
    TensorRtInt8Config,
    _manifest(
        "TensorRT 10 INT8 engine calibrated with the entropy calibrator (cached per graph and "
        "data), FP16 fallback, for Jetson / CUDA GPUs.",
        "int8",
        "calibration",
    ),
)
def apply_tensorrt_int8(
    handle: ModelHandle, config: TensorRtInt8Config, ctx: TechniqueContext
) -> TechniqueResult:
    if ctx.calibration is not None:
        ctx.calibration.num_samples = min(ctx.calibration.num_samples, config.num_samples)
        ctx.calibration.batch_size = config.batch_size
    return build(handle, "int8", ctx)
