"""TFLite (LiteRT) conversions: FP32, FP16 weights, dynamic-range INT8 and full INT8.

No ONNX → TFLite converter is installed, so these convert from the source framework:

* TensorFlow SavedModel / Keras → ``tf.lite.TFLiteConverter`` (``tf`` extra). Full INT8 draws a
  representative dataset from the calibration data and keeps float inputs/outputs, so callers
  feed the same arrays as before;
* PyTorch → ``litert_torch`` (optional, ~0.9 GB with JAX): FP32 only.

Each returns a TFLite handle run by LiteRT, so the result is measured on the runtime it targets.

Example:
    >>> result = apply_technique("tflite_convert", keras_handle, ctx, {"precision": "fp16"})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import searched
from embodied_ai_architect.errors import ConfigError, InputError, TechniqueError, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import Framework, ModelHandle

_TF_FORMATS = {ModelFormat.TF_SAVEDMODEL, ModelFormat.KERAS, ModelFormat.KERAS_H5}


class TfliteConvertConfig(TechniqueConfig):
    """Convert a TensorFlow / Keras model to TFLite without calibration data.

    Example:
        >>> TfliteConvertConfig(precision="int8_dynamic")
    """

    technique: ClassVar[str] = "tflite_convert"

    precision: Literal["fp32", "fp16", "int8_dynamic"] = searched(
        "fp16",
        description="fp32: plain conversion; fp16: FP16 weights (half the file, FP32 compute on "
        "most CPUs); int8_dynamic: INT8 weights, activations quantized at run time.",
        search=["fp16", "int8_dynamic"],
    )


class TfliteInt8Config(TechniqueConfig):
    """Full-integer TFLite INT8 calibrated on representative inputs (float I/O kept).

    Example:
        >>> TfliteInt8Config(num_samples=100)
    """

    technique: ClassVar[str] = "tflite_int8"

    num_samples: int = Field(
        default=128, ge=1, le=10_000, description="Representative samples for calibration."
    )


class TfliteFromTorchConfig(TechniqueConfig):
    """Convert a PyTorch module to TFLite with litert-torch (FP32)."""

    technique: ClassVar[str] = "tflite_from_torch"


def _manifest(
    description: str,
    precision: str,
    frameworks: list[Framework],
    requires: list[str],
    extra: str,
    needs_data: Literal["none", "calibration"] = "none",
) -> TechniqueManifest:
    return TechniqueManifest(
        family=TechniqueFamily.QUANTIZATION,
        description=description,
        input_frameworks=frameworks,
        output_framework=Framework.TFLITE,
        runtime="litert",
        precisions=[precision],
        needs_data=needs_data,
        requires=requires,
        extra=extra,
    )


def _converter(handle: ModelHandle) -> tuple[Any, Any]:
    from embodied_ai_architect.utils.deps import require_package

    tf = require_package("tensorflow", extra="tf", purpose="TensorFlow → TFLite conversion")
    if handle.source_format not in _TF_FORMATS or handle.path is None:
        raise ConfigError(
            f"TFLite conversion takes a TensorFlow SavedModel or Keras file, got "
            f"{handle.source_format.value}",
            hint="pass the original TensorFlow/Keras model",
        )
    if handle.source_format is ModelFormat.TF_SAVEDMODEL:
        return tf, tf.lite.TFLiteConverter.from_saved_model(str(handle.path))
    keras_model = tf.keras.models.load_model(str(handle.path), compile=False)
    return tf, tf.lite.TFLiteConverter.from_keras_model(keras_model)


def _write(converter: Any, out: Path, ctx: TechniqueContext) -> ModelHandle:
    from embodied_ai_architect.modelio.loader import load_model

    try:
        out.write_bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError and others
        raise TechniqueError(
            f"TFLite conversion failed: {first_line(exc)}",
            hint="the model may use ops without a TFLite builtin; try fp32",
        ) from exc
    return load_model(out, threads=ctx.threads)


def _result(
    handle: ModelHandle, out: ModelHandle, change: str, extra: dict[str, float] | None = None
) -> TechniqueResult:
    assert out.path is not None
    before = float(handle.path.stat().st_size) if handle.path and handle.path.is_file() else 0.0
    return TechniqueResult(
        handle=out,
        changes=[change],
        metrics={"size_before_bytes": before, "size_after_bytes": float(out.path.stat().st_size)},
    )


@register_technique(
    TfliteConvertConfig,
    _manifest(
        "TensorFlow / Keras → TFLite for LiteRT (ARM CPUs, phones): FP32, FP16 weights or "
        "dynamic-range INT8, no data needed.",
        "fp16",
        [Framework.TENSORFLOW],
        ["tensorflow", "ai_edge_litert"],
        "tf",
    ),
)
def apply_tflite_convert(
    handle: ModelHandle, config: TfliteConvertConfig, ctx: TechniqueContext
) -> TechniqueResult:
    tf, converter = _converter(handle)
    if config.precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif config.precision == "int8_dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    ctx.emit(30, f"tflite_convert: converting ({config.precision})")
    out = _write(converter, ctx.path(f"{handle.name}_{config.precision}.tflite"), ctx)
    change = {
        "fp32": "converted to TFLite (FP32)",
        "fp16": "converted to TFLite with FP16 weights",
        "int8_dynamic": "converted to TFLite with dynamic-range INT8 (int8 weights, float "
        "activations)",
    }[config.precision]
    return _result(handle, out, change)


@register_technique(
    TfliteInt8Config,
    _manifest(
        "TensorFlow / Keras → full-integer TFLite INT8 calibrated on representative inputs "
        "(float inputs/outputs kept).",
        "int8",
        [Framework.TENSORFLOW],
        ["tensorflow", "ai_edge_litert"],
        "tf",
        needs_data="calibration",
    ),
)
def apply_tflite_int8(
    handle: ModelHandle, config: TfliteInt8Config, ctx: TechniqueContext
) -> TechniqueResult:
    if ctx.calibration is None:
        raise InputError(
            "full INT8 TFLite needs calibration data",
            hint="give `calibration_data` (a folder or an .npy/.npz file), or use tflite_convert "
            "with precision int8_dynamic",
            field="calibration_data",
        )
    calibration = ctx.calibration
    samples = [
        [np.asarray(array, dtype=np.float32) for array in feeds.values()]
        for _, feeds in zip(range(config.num_samples), calibration.samples(), strict=False)
    ]
    if not samples:
        raise InputError("the calibration data yielded no samples", hint="add samples")

    def representative() -> Iterator[list[np.ndarray]]:
        yield from samples

    tf, converter = _converter(handle)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    ctx.emit(30, f"tflite_int8: calibrating on {len(samples)} samples")
    out = _write(converter, ctx.path(f"{handle.name}_int8.tflite"), ctx)
    result = _result(
        handle, out, f"full INT8 TFLite, {len(samples)} calibration samples (float32 I/O kept)"
    )
    result.metrics["calibration_samples"] = float(len(samples))
    return result


@register_technique(
    TfliteFromTorchConfig,
    _manifest(
        "PyTorch → TFLite (FP32) with litert-torch, for LiteRT devices.",
        "fp32",
        [Framework.TORCH],
        ["litert_torch", "ai_edge_litert"],
        "tflite",
    ),
)
def apply_tflite_from_torch(
    handle: ModelHandle, config: TfliteFromTorchConfig, ctx: TechniqueContext
) -> TechniqueResult:
    del config
    import litert_torch

    from embodied_ai_architect.modelio.handle import TorchModelHandle
    from embodied_ai_architect.modelio.loader import load_model

    if not isinstance(handle, TorchModelHandle):
        raise ConfigError("tflite_from_torch takes a torch model", hint="pass a torch model")
    out = ctx.path(f"{handle.name}_fp32.tflite")
    ctx.emit(30, "tflite_from_torch: converting")
    edge_model = litert_torch.convert(handle.module.eval(), handle.example_tensors())
    edge_model.export(str(out))
    converted = load_model(out, threads=ctx.threads)
    return _result(handle, converted, "converted to TFLite (FP32) with litert-torch")
