"""Configs of the ONNX Runtime quantization techniques (frozen, described, with search spaces)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from embodied_ai_architect.agents.optimization.base import TechniqueConfig
from embodied_ai_architect.agents.optimization.fields import (
    calibration_path_field,
    searched,
    searched_flag,
)

Preprocess = Literal["auto", "full", "no_symbolic_shape", "none"]

_PREPROCESS = (
    "Run ORT's quant_pre_process (shape inference + graph optimization) first: 'auto' skips "
    "symbolic shape inference on transformer graphs (it fails on them), 'full' never skips it, "
    "'none' quantizes the graph as given (node names stay exactly as exported)."
)
_EXCLUDE = (
    "Layers kept in FP32: ONNX node names, torch module paths (layer1.0.conv1) or parameter "
    "names (fc.weight). Unknown names are an error."
)
_TOP_SENSITIVE = (
    "Keep the N layers the Analysis agent found most sensitive to INT8 in FP32 (needs "
    "per-layer sensitivity in the model profile)."
)


class _ExclusionMixin(TechniqueConfig):
    nodes_to_exclude: list[str] = Field(default_factory=list, description=_EXCLUDE)
    exclude_top_sensitive: int = searched(0, ge=0, description=_TOP_SENSITIVE, search=[0, 1, 3])
    preprocess: Preprocess = Field(default="auto", description=_PREPROCESS)


class OrtInt8DynamicConfig(_ExclusionMixin):
    """INT8 weights, activations quantized at run time (no calibration data).

    Fast for MatMul-heavy models (transformers, MLPs). On AVX2 CPUs without VNNI, Conv becomes
    ConvInteger, which runs ~4× slower than FP32: restrict ``op_types`` to MatMul/Gemm for CNNs.

    Example:
        >>> OrtInt8DynamicConfig(op_types=["MatMul", "Gemm"], per_channel=True)
    """

    technique: ClassVar[str] = "ort_int8_dynamic"

    # The accuracy fallback sets per_channel, then full-range weights, before keeping layers in
    # FP32: on all-MiniLM-L6-v2 (AVX2 EPYC) per-tensor 7-bit weights gave embedding cosine 0.84,
    # per-channel 7-bit 0.88, per-channel 8-bit 0.99 — at the same speed (1.7–1.9× FP32).
    per_channel: bool = Field(
        default=False,
        description="One scale per output channel instead of per tensor (more accurate).",
        json_schema_extra={
            "search": [False, True],
            "fallback": True,
            "fallback_why": "one weight scale per output channel instead of one per tensor: "
            "more accurate, about as fast",
        },
    )
    reduce_range: bool | None = Field(
        default=None,
        description="Quantize weights to 7 bits, avoiding int16 saturation of u8×s8 products on "
        "CPUs without VNNI. None: on exactly those CPUs (int8 weights only).",
        json_schema_extra={
            "search": [None, False, True],
            "fallback": False,
            "fallback_why": "full 8-bit weights instead of the host rule's 7-bit ones: twice "
            "the weight resolution, at the risk of u8×s8 saturation, which fidelity then shows",
        },
    )
    weight_type: Literal["int8", "uint8"] = searched(
        "int8",
        description="Weight integer type.",
        search=["int8", "uint8"],
    )
    op_types: list[str] | None = searched(
        None,
        description="ONNX op types to quantize; None quantizes every type ORT supports "
        "(Conv, MatMul, Gemm, Attention, LSTM, GRU, ...).",
        search=[None, ["MatMul", "Gemm"]],
    )


class OrtInt8StaticConfig(_ExclusionMixin):
    """INT8 weights and activations with ranges calibrated on representative inputs.

    ``U8S8`` + ``reduce_range`` is the safe choice on x86 without VNNI (AVX2); ``S8S8`` suits ARM
    and VNNI CPUs. QDQ is the format ORT's CPU kernels are optimized for.

    Example:
        >>> OrtInt8StaticConfig(scheme="U8S8", reduce_range=True, calibration_method="minmax")
    """

    technique: ClassVar[str] = "ort_int8_static"

    quant_format: Literal["qdq", "qoperator"] = searched(
        "qdq",
        description="QDQ inserts QuantizeLinear/DequantizeLinear pairs (fused by ORT); QOperator "
        "writes QLinearConv/QLinearMatMul directly.",
        search=["qdq", "qoperator"],
    )
    scheme: Literal["U8S8", "S8S8", "U8U8"] = searched(
        "U8S8",
        description="Activation/weight integer types: U8S8 = uint8 activations, int8 weights.",
        search=["U8S8", "S8S8"],
    )
    per_channel: bool = searched_flag(
        True,
        description="One weight scale per output channel (needed for conv nets' accuracy).",
    )
    reduce_range: bool = searched_flag(
        True,
        description="7-bit weights: avoids saturation on AVX2 CPUs without VNNI (costs little).",
    )
    calibration_method: Literal["minmax", "entropy", "percentile"] = searched(
        "minmax",
        description="How activation ranges are chosen from the calibration data.",
        search=["minmax", "entropy", "percentile"],
    )
    percentile: float = Field(
        default=99.999,
        gt=90,
        le=100,
        description="Percentile of |activation| kept by the 'percentile' calibration method.",
    )
    num_samples: int = searched(
        128,
        ge=1,
        description="Calibration samples to use (100–500 representative inputs are typical).",
        search=[64, 128, 256],
    )
    calibration_path: str | None = calibration_path_field()
    op_types: list[str] | None = searched(
        None,
        description="ONNX op types to quantize; None quantizes every type ORT supports.",
        search=[None, ["Conv", "MatMul", "Gemm"]],
    )
    # ORT quantizes every op it can, the output decoding included: YOLOv8s' final Concat puts
    # box pixels (0-640) and class scores (0-1) behind one scale, and the scores collapse
    # (class agreement on confident anchors 0.59; 1.00 with the tail in FP32, same speed).
    keep_output_tail: bool = searched_flag(
        True,
        description="Keep the ops between the last weighted layers and the outputs (a "
        "detector's box decoding and score sigmoid, a classifier's softmax) in FP32, so outputs "
        "of different ranges do not share one quantization scale.",
    )


class OrtFp16Config(TechniqueConfig):
    """Weights and compute in float16 (halves the size; only GPUs and FP16-capable CPUs are faster).

    Example:
        >>> OrtFp16Config(keep_io_types=True)
    """

    technique: ClassVar[str] = "ort_fp16"

    keep_io_types: bool = searched_flag(
        True,
        description="Keep float32 inputs/outputs (casts at the edges) so callers feed the same "
        "arrays as before.",
    )
    op_block_list: list[str] = Field(
        default_factory=lambda: ["Transpose"],
        description="Op types kept in float32 in addition to ONNX Runtime's default list (ops "
        "without float16 kernels). Transpose is blocked by default: ORT 1.31's CPU layout "
        "optimizer (NCHWc) crashed on float16 Transposes of a ViT; blocking it costs no size.",
        json_schema_extra={"search": [["Transpose"], []]},
    )
    nodes_to_exclude: list[str] = Field(
        default_factory=list, description="ONNX node names kept in float32."
    )


class _Int4Base(TechniqueConfig):
    block_size: int = searched(
        32,
        description="Weights per quantization block along the input dimension; a power of two ≥ 16. "
        "Layers whose input size it does not divide are handled as `indivisible` says.",
        search=[32, 64, 128],
    )
    indivisible: Literal["fp32", "pad", "error"] = searched(
        "fp32",
        description="Layers whose input size is not a multiple of block_size (an 18-wide state "
        "input, a 64-wide layer at block 128): keep them in FP32 (listed in the result), `pad` "
        "their last block with zeros and quantize them anyway (what MatMulNBits does; it stores "
        "the padding), or refuse the model. Keeping them FP32 costs little: they are narrow, and "
        "an input layer over raw state features is the one INT4 hurts most.",
        search=["fp32", "pad"],
    )
    symmetric: bool = searched_flag(
        True,
        description="Symmetric blocks (no zero point) instead of asymmetric (scale + zero point).",
    )
    accuracy_level: Literal[0, 1, 2, 3, 4] = searched(
        0,
        description="MatMulNBits compute type: 0 unset (float32), 1 fp32, 2 fp16, 3 bf16, 4 int8 "
        "(int8 activations: fastest on x86 CPUs, slightly less accurate).",
        search=[0, 4],
    )

    @field_validator("block_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value < 16 or value & (value - 1):
            raise ValueError(f"block_size must be a power of two ≥ 16, got {value}")
        return value


class OrtInt4RtnConfig(_Int4Base):
    """4-bit weight-only (MatMulNBits), round-to-nearest per block; no data needed.

    Example:
        >>> OrtInt4RtnConfig(block_size=32, symmetric=True)
    """

    technique: ClassVar[str] = "ort_int4_rtn"

    nodes_to_exclude: list[str] = Field(default_factory=list, description=_EXCLUDE)


class OrtInt4GptqConfig(_Int4Base):
    """4-bit weight-only (MatMulNBits) with GPTQ: error-compensating, uses calibration data.

    Example:
        >>> OrtInt4GptqConfig(block_size=32, num_samples=32)
    """

    technique: ClassVar[str] = "ort_int4_gptq"

    num_samples: int = searched(
        32,
        ge=1,
        description="Calibration samples for the Hessian estimate (GPTQ's cost grows with them).",
        search=[16, 32, 64],
    )
    calibration_path: str | None = calibration_path_field()
    percdamp: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Dampening added to the Hessian diagonal, as a fraction of its mean.",
    )
    actorder: bool = Field(
        default=False,
        description="Quantize columns in order of decreasing Hessian diagonal (act-order).",
    )
    mse: bool = Field(default=False, description="Search block scales by minimum squared error.")
