"""ONNX Runtime quantization techniques: INT8 dynamic / static, FP16, INT4 RTN / GPTQ.

All take and return ONNX models (same input names and specs), write under ``ctx.workdir`` and
report size and layer counts. Which one is fast depends on the CPU (see
docs/techniques/quantization.md): on AVX2 without VNNI, static U8S8 INT8 speeds conv nets up,
dynamic INT8 speeds transformers up, and FP16 / INT4 only shrink the model.

Example:
    >>> result = apply_technique("ort_int8_static", onnx_handle, ctx, {"num_samples": 64})  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Literal

from embodied_ai_architect.agents.optimization.base import (
    ApplyFn,
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
    require_onnx,
)
from embodied_ai_architect.agents.optimization.quant.ort_configs import (
    OrtFp16Config,
    OrtInt4GptqConfig,
    OrtInt4RtnConfig,
    OrtInt8DynamicConfig,
    OrtInt8StaticConfig,
)
from embodied_ai_architect.modelio.handle import Framework, ModelHandle

__all__ = [
    "OrtFp16Config",
    "OrtInt4GptqConfig",
    "OrtInt4RtnConfig",
    "OrtInt8DynamicConfig",
    "OrtInt8StaticConfig",
]


_INT4_FAMILIES = [
    "vit",
    "transformer_encoder",
    "decoder_llm",
    "vla",
    "transformer_policy",
    "mlp_policy",
]

# (config type, "module:function" doing the work, description, precision, data, families)
_TABLE: list[
    tuple[type[TechniqueConfig], str, str, str, Literal["none", "calibration"], list[str] | None]
] = [
    (
        OrtInt8DynamicConfig,
        "ort_int8:quantize_int8",
        "INT8 weights, activations quantized at run time (no data). Fast for "
        "transformers / MLPs; slow for convolutions on CPUs without VNNI.",
        "int8",
        "none",
        None,
    ),
    (
        OrtInt8StaticConfig,
        "ort_int8:quantize_int8",
        "INT8 weights and activations calibrated on representative inputs (QDQ or "
        "QOperator); mixed precision keeps named or most sensitive layers in FP32.",
        "int8",
        "calibration",
        None,
    ),
    (
        OrtFp16Config,
        "ort_weight_only:convert_fp16",
        "Float16 weights and compute: half the size; faster only where the device "
        "has FP16 arithmetic (GPUs, recent ARM), not on AVX2 x86.",
        "fp16",
        "none",
        None,
    ),
    (
        OrtInt4RtnConfig,
        "ort_weight_only:quantize_int4",
        "4-bit weight-only MatMulNBits, round-to-nearest per block: 6–8× smaller "
        "MatMul weights, no data; speed depends on accuracy_level and the CPU.",
        "int4",
        "none",
        _INT4_FAMILIES,
    ),
    (
        OrtInt4GptqConfig,
        "ort_weight_only:quantize_int4",
        "4-bit weight-only MatMulNBits with GPTQ error compensation on calibration "
        "data: same size as RTN, better fidelity, minutes of quantization time on large models.",
        "int4",
        "calibration",
        _INT4_FAMILIES,
    ),
]


def _wrapper(name: str, target: str) -> ApplyFn:
    """The registered function: check the input is ONNX, then call the quant module lazily
    (onnxruntime.quantization is imported only when a technique runs)."""
    module_name, function = target.split(":")

    def apply(
        handle: ModelHandle, config: TechniqueConfig, ctx: TechniqueContext
    ) -> TechniqueResult:
        source = require_onnx(handle, name)
        module = importlib.import_module(
            f"embodied_ai_architect.agents.optimization.quant.{module_name}"
        )
        result: TechniqueResult = getattr(module, function)(source, config, ctx)
        return result

    apply.__name__ = f"apply_{name}"
    return apply


# ONNX in, ONNX out, for ONNX Runtime; every one needs only the core dependencies.
for _config, _target, _description, _precision, _data, _families in _TABLE:
    _manifest = TechniqueManifest.onnx_conversion(
        TechniqueFamily.QUANTIZATION,
        _description,
        _precision,
        output_framework=Framework.ONNX,
        runtime="onnxruntime",
        requires=["onnxruntime", "onnx"],
        needs_data=_data,
        model_families=_families,
    )
    register_technique(_config, _manifest)(_wrapper(_config.technique, _target))
