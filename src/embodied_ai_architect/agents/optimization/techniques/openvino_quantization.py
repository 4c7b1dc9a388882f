"""OpenVINO techniques: FP32 IR conversion, BF16 compute and NNCF post-training INT8.

All take an ONNX or torch model (torch goes through the verified ONNX export, so input names
stay the same) and return an OpenVinoModelHandle (``path`` = the .xml). On x86 CPUs, OpenVINO's
INT8 kernels were the fastest INT8 path measured for conv nets and detectors; its ~0.2 ms
per-call overhead makes it a poor choice for tiny MLP policies. The conversion lives in
``quant/openvino_convert.py``, the graph reading (activations, FP32 exclusions) in
``quant/openvino_graph.py``.

Example:
    >>> result = apply_technique("openvino_int8", onnx_handle, ctx, {"subset_size": 300})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import (
    calibration_path_field,
    searched,
    searched_flag,
)
from embodied_ai_architect.agents.optimization.quant.openvino_convert import (
    convert_onnx,
    ir_bytes,
    onnx_source,
    openvino_model,
    save_and_load,
)
from embodied_ai_architect.agents.optimization.quant.openvino_graph import (
    kept_in_fp32,
    signed_activations,
)
from embodied_ai_architect.errors import ConfigError, TechniqueError, describe
from embodied_ai_architect.modelio.handle import Framework, ModelHandle

_TRANSFORMER_OPS = frozenset({"MVN", "Gelu", "ScaledDotProductAttention"})


class OpenVinoIrConfig(TechniqueConfig):
    """Convert to OpenVINO IR, FP32 compute.

    Example:
        >>> OpenVinoIrConfig(compress_to_fp16=False)
    """

    technique: ClassVar[str] = "openvino_ir"

    compress_to_fp16: bool = searched_flag(
        False,
        description="Store weights as FP16 in the .bin (half the file); the CPU plugin still "
        "computes in FP32 on CPUs without FP16 arithmetic.",
    )
    intra_op_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Inference threads recorded in the IR (as openvino_threads does); None: the "
        "run's. The planner sets 1 for small models, whose fastest runtime on 1 thread can "
        "lose at 2.",
    )


class OpenVinoBf16Config(TechniqueConfig):
    """OpenVINO IR with FP32 weights, computed in BF16 on CPUs with native BF16 (AMX-BF16,
    AVX512-BF16). BF16 keeps FP32's range with an 8-bit mantissa: no calibration, and on
    YOLOv8s it moved class scores by at most 0.03 where NNCF INT8 moved them by 0.15–0.2,
    at 3.5× the speed of FP32 compute on an AMX Xeon (docs/techniques/quantization.md).

    Example:
        >>> OpenVinoBf16Config()
        OpenVinoBf16Config(version=1)
    """

    technique: ClassVar[str] = "openvino_bf16"


class OpenVinoInt8Config(TechniqueConfig):
    """NNCF post-training INT8 quantization of an OpenVINO model.

    Example:
        >>> OpenVinoInt8Config(model_type="transformer", subset_size=128)
    """

    technique: ClassVar[str] = "openvino_int8"

    preset: Literal["auto", "performance", "mixed"] = searched(
        "auto",
        description="performance: symmetric weights and activations; mixed: asymmetric "
        "activations, for activations that are not ReLU-like (SiLU, GELU, HSwish); 'auto' picks "
        "mixed when the graph has such activations. On YOLOv8s (SiLU) mixed kept the held-out "
        "fidelity at 1.00 where performance gave 0.94, at the same speed.",
        search=["auto", "performance", "mixed"],
    )
    model_type: Literal["auto", "cnn", "transformer"] = searched(
        "auto",
        description="'transformer' keeps attention/softmax paths accurate (needed for ViTs); "
        "'auto' picks it when the graph has Softmax/MVN/GELU.",
        search=["auto", "cnn", "transformer"],
    )
    subset_size: int = searched(
        300,
        ge=1,
        description="Calibration samples NNCF uses for the activation statistics.",
        search=[100, 300],
    )
    fast_bias_correction: bool = searched_flag(
        True,
        description="Fast bias correction (False runs the slower, sometimes more accurate "
        "BiasCorrection).",
    )
    keep_output_tail: bool = searched_flag(
        False,
        description="Keep the ops between the last weighted layers and the outputs in FP32 (a "
        "detector's box decoding, a softmax). NNCF's own patterns already skip most of them on "
        "YOLOv8s (same held-out fidelity with and without, measured); this makes it explicit "
        "for graphs its patterns miss.",
    )
    keep_head_layers: bool = searched_flag(
        False,
        description="Also keep the weighted layers nearest the outputs in FP32 (a detector's "
        "final 1×1 convolutions and DFL, a classifier's last Linear).",
    )
    exclude_top_sensitive: int = searched(
        0,
        ge=0,
        description="Keep the N layers the Analysis agent found most sensitive to INT8 in FP32 "
        "(needs per-layer sensitivity in the model profile); the planner's mixed-precision "
        "fallback raises it one layer at a time.",
        search=[0, 1, 3],
    )
    ignored_names: list[str] = Field(
        default_factory=list,
        description="OpenVINO node names kept in FP32 (converted ONNX graphs keep ONNX node names).",
    )
    ignored_types: list[str] = Field(
        default_factory=list,
        description="OpenVINO op types kept in FP32, e.g. ['Multiply'].",
    )
    compute: Literal["f32", "bf16"] = searched(
        "f32",
        description="Precision of the layers left unquantized (outputs, kept layers, "
        "activations between quantized ops): bf16 only on CPUs with native BF16.",
        search=["f32", "bf16"],
    )
    calibration_path: str | None = calibration_path_field()


def _require_native_bf16(technique: str) -> None:
    """Fail fast where BF16 would be emulated: slower than FP32, so never worth measuring."""
    from embodied_ai_architect.agents.analysis.host import openvino_bf16

    native, why = openvino_bf16()
    if not native:
        raise TechniqueError(
            f"{technique}: this CPU has no native BF16 compute ({why})",
            hint="BF16 would be emulated here and run slower than FP32: use openvino_ir (FP32) "
            "or openvino_int8 with compute='f32'",
        )


def _manifest(
    description: str,
    precision: str,
    needs_data: Literal["none", "calibration"],
    inputs: tuple[Framework, ...] = (Framework.ONNX, Framework.TORCH),
) -> TechniqueManifest:
    return TechniqueManifest(
        family=TechniqueFamily.QUANTIZATION,
        description=description,
        input_frameworks=list(inputs),
        output_framework=Framework.OPENVINO,
        runtime="openvino",
        precisions=[precision],
        needs_data=needs_data,
        requires=["openvino", "nncf"],
        extra="openvino",
    )


@register_technique(
    OpenVinoIrConfig,
    _manifest(
        "OpenVINO IR, FP32 compute on the CPU plugin (often faster than ONNX Runtime "
        "for conv nets on Intel CPUs).",
        "fp32",
        "none",
    ),
)
def apply_openvino_ir(
    handle: ModelHandle, config: OpenVinoIrConfig, ctx: TechniqueContext
) -> TechniqueResult:
    source = onnx_source(handle, ctx)
    ctx.emit(30, "openvino_ir: converting")
    model = convert_onnx(source)
    xml = ctx.path("openvino_ir.xml")
    ctx.emit(70, "openvino_ir: writing and compiling the IR")
    threads = config.intra_op_threads
    out = save_and_load(model, xml, source, ctx, fp16=config.compress_to_fp16, threads=threads)
    return TechniqueResult(
        handle=out,
        changes=[
            "converted to OpenVINO IR"
            + (" (FP16 weights on disk)" if config.compress_to_fp16 else " (FP32)")
            + (f", {threads} inference thread(s)" if threads is not None else "")
        ],
        metrics={
            "size_before_bytes": float(source.onnx_path.stat().st_size),
            "size_after_bytes": ir_bytes(xml),
        },
    )


@register_technique(
    OpenVinoBf16Config,
    _manifest(
        "OpenVINO IR computed in BF16 (FP32 weights) on CPUs with AMX-BF16 / AVX512-BF16: "
        "near-lossless, no calibration, often as fast as INT8 there.",
        "bf16",
        "none",
        (Framework.ONNX, Framework.TORCH, Framework.OPENVINO),
    ),
)
def apply_openvino_bf16(
    handle: ModelHandle, config: OpenVinoBf16Config, ctx: TechniqueContext
) -> TechniqueResult:
    _require_native_bf16("openvino_bf16")
    source, size_before, model = openvino_model(handle, ctx, "openvino_bf16")
    xml = ctx.path("openvino_bf16.xml")
    ctx.emit(70, "openvino_bf16: writing and compiling the IR in BF16")
    out = save_and_load(model, xml, source, ctx, fp16=False, inference_precision="bf16")
    return TechniqueResult(
        handle=out,
        changes=["OpenVINO IR (FP32 weights) compiled for BF16 compute"],
        metrics={"size_before_bytes": size_before, "size_after_bytes": ir_bytes(xml)},
    )


@register_technique(
    OpenVinoInt8Config,
    _manifest(
        "NNCF post-training INT8 for OpenVINO: the fastest INT8 measured for conv nets "
        "and detectors on x86; model_type=transformer for ViTs.",
        "int8",
        "calibration",
        (Framework.ONNX, Framework.TORCH, Framework.OPENVINO),
    ),
)
def apply_openvino_int8(
    handle: ModelHandle, config: OpenVinoInt8Config, ctx: TechniqueContext
) -> TechniqueResult:
    import nncf

    from embodied_ai_architect.agents.optimization.quant.calibration import collect_samples

    if config.compute == "bf16":
        _require_native_bf16("openvino_int8")
    samples = collect_samples(handle, ctx, config, config.subset_size)
    # The runtime step's FP32 IR is quantized itself: NNCF keeps its graph and node names.
    source, size_before, model = openvino_model(handle, ctx, "openvino_int8")
    op_types = {op.get_type_name() for op in model.get_ops()}
    names = {op.get_friendly_name() for op in model.get_ops()}
    unknown = [name for name in config.ignored_names if name not in names]
    if unknown:
        sample = sorted(n for n in names if not n.startswith(("Constant", "onnx::")))[:6]
        raise ConfigError(
            f"openvino_int8: ignored_names {unknown} are not nodes of this model",
            hint=f"use OpenVINO node names (converted ONNX node names), e.g. {sample}",
        )
    bad_types = [t for t in config.ignored_types if t not in op_types]
    if bad_types:
        raise ConfigError(
            f"openvino_int8: ignored_types {bad_types} do not occur in this model",
            hint=f"op types present: {sorted(op_types)[:12]}",
        )
    # One Softmax is a classifier's output; attention has one per block.
    softmaxes = sum(op.get_type_name() == "Softmax" for op in model.get_ops())
    transformer = config.model_type == "transformer" or (
        config.model_type == "auto" and (bool(op_types & _TRANSFORMER_OPS) or softmaxes >= 2)
    )
    kept, kept_notes = kept_in_fp32(model, source, config, ctx)
    preset = config.preset
    if preset == "auto":
        preset = "mixed" if signed_activations(model) else "performance"
    kwargs: dict[str, Any] = {
        "preset": nncf.QuantizationPreset.MIXED
        if preset == "mixed"
        else nncf.QuantizationPreset.PERFORMANCE,
        "subset_size": len(samples),
        "fast_bias_correction": config.fast_bias_correction,
    }
    if transformer:
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    fp32_names = list(dict.fromkeys([*config.ignored_names, *kept]))
    if fp32_names or config.ignored_types:
        kwargs["ignored_scope"] = nncf.IgnoredScope(
            names=fp32_names, types=list(config.ignored_types)
        )
    ctx.emit(40, f"openvino_int8: NNCF calibration on {len(samples)} samples")
    try:
        quantized = nncf.quantize(model, nncf.Dataset(samples), **kwargs)
    except nncf.ValidationError as exc:
        raise ConfigError(
            f"openvino_int8: {exc}", hint="check ignored_names / ignored_types"
        ) from exc
    except Exception as exc:  # NNCF raises assorted errors from its backends
        raise TechniqueError(
            f"openvino_int8: NNCF quantization failed: {describe(exc)}",
            hint="try model_type='transformer' or keep failing layers in FP32 via ignored_names",
        ) from exc
    fake_quantize = sum(
        op.get_type_name() in ("FakeQuantize", "FakeConvert") for op in quantized.get_ops()
    )
    if not fake_quantize:
        raise TechniqueError(
            "openvino_int8: NNCF inserted no quantizers",
            hint="the model may have no quantizable ops",
        )
    xml = ctx.path("openvino_int8.xml")
    ctx.emit(80, "openvino_int8: writing and compiling the IR")
    # Recorded either way: a parent IR's own pin (rt_info survives NNCF) must not carry over.
    out = save_and_load(quantized, xml, source, ctx, fp16=False, inference_precision=config.compute)
    bf16 = config.compute == "bf16"
    return TechniqueResult(
        handle=out,
        changes=[
            f"NNCF INT8 ({preset} preset"
            + (", transformer model type" if transformer else "")
            + (", unquantized layers in BF16" if bf16 else "")
            + f", {len(samples)} calibration samples) with {fake_quantize} quantizers",
            *(f"kept {name} in FP32" for name in config.ignored_names),
            *kept_notes,
        ],
        metrics={
            "size_before_bytes": size_before,
            "size_after_bytes": ir_bytes(xml),
            "quantized_nodes": float(fake_quantize),
            "excluded_nodes": float(len(fp32_names)),
            "calibration_samples": float(len(samples)),
        },
    )
