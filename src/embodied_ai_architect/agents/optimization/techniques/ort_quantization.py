"""ONNX Runtime quantization techniques: INT8 dynamic / static, FP16, INT4 RTN / GPTQ.

All take and return ONNX models (same input names and specs), write under ``ctx.workdir`` and
report size and layer counts. Which one is fast depends on the CPU (see
docs/techniques/quantization.md): on AVX2 without VNNI, static U8S8 INT8 speeds conv nets up,
dynamic INT8 speeds transformers up, and FP16 / INT4 only shrink the model.

Example:
    >>> result = apply_technique("ort_int8_static", onnx_handle, ctx, {"num_samples": 64})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Literal

from embodied_ai_architect.agents.optimization.base import (
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.quant.ort_configs import (
    OrtFp16Config,
    OrtInt4GptqConfig,
    OrtInt4RtnConfig,
    OrtInt8DynamicConfig,
    OrtInt8StaticConfig,
)
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle, OnnxModelHandle

__all__ = [
    "OrtFp16Config",
    "OrtInt4GptqConfig",
    "OrtInt4RtnConfig",
    "OrtInt8DynamicConfig",
    "OrtInt8StaticConfig",
]


def _manifest(
    description: str,
    precision: str,
    needs_data: Literal["none", "calibration"],
    model_families: list[str] | None = None,
) -> TechniqueManifest:
    """ONNX in, ONNX out, for ONNX Runtime; needs only the core dependencies."""
    return TechniqueManifest(
        family=TechniqueFamily.QUANTIZATION,
        description=description,
        input_frameworks=[Framework.ONNX],
        output_framework=Framework.ONNX,
        runtime="onnxruntime",
        precisions=[precision],
        model_families=model_families,
        needs_data=needs_data,
        requires=["onnxruntime", "onnx"],
    )


def _onnx(handle: ModelHandle, technique: str) -> OnnxModelHandle:
    if not isinstance(handle, OnnxModelHandle):
        raise ConfigError(
            f"{technique} takes an ONNX model, got a {handle.framework.value} model",
            hint="export it first with modelio.export_onnx",
        )
    return handle


@register_technique(
    "ort_int8_dynamic",
    OrtInt8DynamicConfig,
    _manifest(
        "INT8 weights, activations quantized at run time (no data). Fast for "
        "transformers / MLPs; slow for convolutions on CPUs without VNNI.",
        "int8",
        "none",
    ),
)
def apply_int8_dynamic(
    handle: ModelHandle, config: OrtInt8DynamicConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.quant.ort_int8 import quantize_int8

    return quantize_int8(_onnx(handle, "ort_int8_dynamic"), config, ctx, "ort_int8_dynamic")


@register_technique(
    "ort_int8_static",
    OrtInt8StaticConfig,
    _manifest(
        "INT8 weights and activations calibrated on representative inputs (QDQ or "
        "QOperator); mixed precision keeps named or most sensitive layers in FP32.",
        "int8",
        "calibration",
        None,
    ),
)
def apply_int8_static(
    handle: ModelHandle, config: OrtInt8StaticConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.quant.ort_int8 import quantize_int8

    return quantize_int8(_onnx(handle, "ort_int8_static"), config, ctx, "ort_int8_static")


@register_technique(
    "ort_fp16",
    OrtFp16Config,
    _manifest(
        "Float16 weights and compute: half the size; faster only where the device "
        "has FP16 arithmetic (GPUs, recent ARM), not on AVX2 x86.",
        "fp16",
        "none",
        None,
    ),
)
def apply_fp16(
    handle: ModelHandle, config: OrtFp16Config, ctx: TechniqueContext
) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.quant.ort_weight_only import convert_fp16

    return convert_fp16(_onnx(handle, "ort_fp16"), config, ctx, "ort_fp16")


_INT4_FAMILIES = [
    "vit",
    "transformer_encoder",
    "decoder_llm",
    "vla",
    "transformer_policy",
    "mlp_policy",
]


@register_technique(
    "ort_int4_rtn",
    OrtInt4RtnConfig,
    _manifest(
        "4-bit weight-only MatMulNBits, round-to-nearest per block: 6–8× smaller "
        "MatMul weights, no data; speed depends on accuracy_level and the CPU.",
        "int4",
        "none",
        _INT4_FAMILIES,
    ),
)
def apply_int4_rtn(
    handle: ModelHandle, config: OrtInt4RtnConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.quant.ort_weight_only import quantize_int4

    return quantize_int4(_onnx(handle, "ort_int4_rtn"), config, ctx, "ort_int4_rtn")


@register_technique(
    "ort_int4_gptq",
    OrtInt4GptqConfig,
    _manifest(
        "4-bit weight-only MatMulNBits with GPTQ error compensation on calibration "
        "data: same size as RTN, better fidelity, minutes of quantization time on large models.",
        "int4",
        "calibration",
        _INT4_FAMILIES,
    ),
)
def apply_int4_gptq(
    handle: ModelHandle, config: OrtInt4GptqConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.quant.ort_weight_only import quantize_int4

    return quantize_int4(_onnx(handle, "ort_int4_gptq"), config, ctx, "ort_int4_gptq")
