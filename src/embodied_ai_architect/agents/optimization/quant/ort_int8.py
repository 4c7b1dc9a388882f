"""INT8 with ONNX Runtime: preprocessing, dynamic and static (calibrated) quantization."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.optimization.quant.calibration import (
    batched,
    collect_samples,
    make_ort_reader,
)
from embodied_ai_architect.agents.optimization.quant.mixed_precision import (
    resolve_exclusions,
    track_nodes,
)
from embodied_ai_architect.agents.optimization.quant.onnx_graph import (
    float_weight_node_names,
    load_proto,
    looks_like_transformer,
    output_tail,
    quantized_node_names,
    rewrite_metrics,
    strip_initializer_value_info,
    weight_nodes,
)
from embodied_ai_architect.agents.optimization.quant.ort_configs import (
    OrtInt8DynamicConfig,
    OrtInt8StaticConfig,
    Preprocess,
)
from embodied_ai_architect.errors import ConfigError, TechniqueError, describe
from embodied_ai_architect.utils.host import dynamic_reduce_range, needs_reduce_range

if TYPE_CHECKING:
    import onnx

    from embodied_ai_architect.agents.optimization.base import TechniqueContext, TechniqueResult
    from embodied_ai_architect.modelio.handle import OnnxModelHandle


# Per-channel QDQ writes DequantizeLinear with an ``axis`` attribute (weights and their int32
# biases), which exists from opset 13 on. ORT's quantizer keeps a lower opset as it is, so an
# opset-11 graph (paddle2onnx's default) came out invalid ("Unrecognized attribute: axis").
QDQ_PER_CHANNEL_OPSET = 13


def default_opset(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def upgrade_opset(model: onnx.ModelProto, target: int) -> onnx.ModelProto | None:
    """``model`` converted to opset ``target`` (itself when already there); None when the ONNX
    version converter cannot convert it."""
    if default_opset(model) >= target:
        return model
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, target)
    except Exception:  # the converter raises RuntimeError / ValueError / its own C++ errors
        return None
    return converted


def preprocess(
    handle: OnnxModelHandle,
    mode: Preprocess,
    ctx: TechniqueContext,
    technique: str,
    *,
    min_opset: int | None = None,
) -> tuple[Path, list[str]]:
    """Run quant_pre_process per ``mode``; returns the graph to quantize and what was done.

    ``min_opset``: convert a graph below it first (raises TechniqueError when it cannot be
    converted; the caller then picks a scheme the graph's opset can express)."""
    import onnx

    model = load_proto(handle.onnx_path)
    changes: list[str] = []
    if min_opset is not None and default_opset(model) < min_opset:
        before = default_opset(model)
        converted = upgrade_opset(model, min_opset)
        if converted is None:
            raise TechniqueError(
                f"{technique}: cannot convert the opset-{before} graph to opset {min_opset}",
                hint="use per_channel=False (per-tensor QDQ needs no opset 13)",
            )
        model = converted
        changes.append(
            f"converted the graph from opset {before} to {min_opset} (per-channel QDQ needs it)"
        )
    if strip_initializer_value_info(model):
        changes.append("dropped value_info entries of initializers (they break ORT's quantizer)")
    if mode == "none":
        path = ctx.path(f"{technique}.input.onnx")
        onnx.save(model, str(path))
        return path, changes
    skip_symbolic = mode == "no_symbolic_shape" or (
        mode == "auto" and looks_like_transformer(model)
    )
    cleaned = ctx.path(f"{technique}.cleaned.onnx")
    onnx.save(model, str(cleaned))
    path = ctx.path(f"{technique}.preprocessed.onnx")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        with _quiet():
            quant_pre_process(str(cleaned), str(path), skip_symbolic_shape=skip_symbolic)
    except Exception as exc:  # ORT's shape inference raises assorted exception types
        raise TechniqueError(
            f"{technique}: quant_pre_process failed: {type(exc).__name__}: {exc}",
            hint="set preprocess='no_symbolic_shape' (transformers) or preprocess='none'",
        ) from exc
    changes.append(
        "ran ORT quant_pre_process"
        + (" without symbolic shape inference (transformer graph)" if skip_symbolic else "")
    )
    return path, changes


def quantize_int8(
    handle: OnnxModelHandle,
    config: OrtInt8DynamicConfig | OrtInt8StaticConfig,
    ctx: TechniqueContext,
) -> TechniqueResult:
    """Shared driver of ``ort_int8_dynamic`` and ``ort_int8_static``."""
    technique = config.technique
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static

    from embodied_ai_architect.agents.optimization.base import TechniqueResult
    from embodied_ai_architect.agents.optimization.quant.onnx_graph import output_handle

    static = isinstance(config, OrtInt8StaticConfig)
    reduce_range = (
        config.reduce_range
        if isinstance(config, OrtInt8StaticConfig)
        else dynamic_reduce_range(config.reduce_range, config.weight_type)
    )
    original = load_proto(handle.onnx_path)
    excluded, reasons = resolve_exclusions(
        original,
        technique=technique,
        nodes_to_exclude=config.nodes_to_exclude,
        exclude_top_sensitive=config.exclude_top_sensitive,
        profile=ctx.profile,
    )
    samples = (
        collect_samples(handle, ctx, config, config.num_samples)
        if isinstance(config, OrtInt8StaticConfig)
        else []
    )
    ctx.emit(10, f"{technique}: preparing the graph")
    per_channel = config.per_channel
    qdq_per_channel = static and per_channel and getattr(config, "quant_format", "") == "qdq"
    try:
        source, changes = preprocess(
            handle,
            config.preprocess,
            ctx,
            technique,
            min_opset=QDQ_PER_CHANNEL_OPSET if qdq_per_channel else None,
        )
    except TechniqueError:
        if not qdq_per_channel:
            raise
        # An old graph the converter cannot lift: per-tensor QDQ is valid at its opset.
        per_channel = False
        source, changes = preprocess(handle, config.preprocess, ctx, technique)
        changes.append(
            f"per-tensor weights: the opset-{default_opset(original)} graph cannot be converted "
            f"to opset {QDQ_PER_CHANNEL_OPSET}, which per-channel QDQ needs"
        )
    prepared = load_proto(source)
    excluded = track_nodes(original, prepared, excluded, technique=technique)
    if isinstance(config, OrtInt8StaticConfig) and config.keep_output_tail:
        tail = [name for name in output_tail(prepared) if name not in excluded]
        if tail:
            excluded += tail
            reasons.append(
                f"kept the {len(tail)} ops after the last weighted layers in FP32 (output tail): "
                "outputs of different ranges do not share a quantization scale"
            )
    if not weight_nodes(prepared, config.op_types or ("Conv", "ConvTranspose", "Gemm", "MatMul")):
        raise ConfigError(
            f"{technique}: the model has no {config.op_types or 'Conv/Gemm/MatMul'} layers with "
            "constant weights to quantize",
            hint="INT8 quantization needs Conv/Linear layers; pick another technique",
        )
    out_path = ctx.path(f"{technique}.onnx")
    warnings: list[str] = []
    ctx.emit(30, f"{technique}: quantizing" + (f" ({len(samples)} samples)" if static else ""))
    try:
        with _quiet():
            if isinstance(config, OrtInt8StaticConfig):
                from onnxruntime.quantization import CalibrationMethod, QuantFormat

                activation, weight = _scheme_types(config.scheme)
                method = {
                    "minmax": CalibrationMethod.MinMax,
                    "entropy": CalibrationMethod.Entropy,
                    "percentile": CalibrationMethod.Percentile,
                }[config.calibration_method]
                quantize_static(
                    str(source),
                    str(out_path),
                    make_ort_reader(batched(samples, handle)),
                    quant_format=QuantFormat.QDQ
                    if config.quant_format == "qdq"
                    else QuantFormat.QOperator,
                    op_types_to_quantize=config.op_types,
                    per_channel=per_channel,
                    reduce_range=reduce_range,
                    activation_type=activation,
                    weight_type=weight,
                    nodes_to_exclude=excluded or None,
                    calibrate_method=method,
                    extra_options={"CalibPercentile": config.percentile},
                )
                if not config.reduce_range and config.scheme == "S8S8" and needs_reduce_range():
                    warnings.append(
                        "S8S8 without reduce_range can saturate on CPUs without VNNI (this one "
                        "has none): check fidelity, or use U8S8 / reduce_range=True"
                    )
            else:
                weight_type = QuantType.QInt8 if config.weight_type == "int8" else QuantType.QUInt8
                quantize_dynamic(
                    str(source),
                    str(out_path),
                    op_types_to_quantize=config.op_types,
                    per_channel=config.per_channel,
                    reduce_range=reduce_range,
                    weight_type=weight_type,
                    nodes_to_exclude=excluded or None,
                )
    except (ConfigError, TechniqueError):
        raise
    except Exception as exc:  # ORT raises plain Exceptions, asserts and ORT runtime errors
        raise TechniqueError(
            f"{technique}: ONNX Runtime quantization failed: {describe(exc)}",
            hint="try preprocess='none' or exclude the failing layer with nodes_to_exclude",
        ) from exc
    ctx.emit(85, f"{technique}: checking the quantized graph")
    result_proto = load_proto(out_path)
    quantized = quantized_node_names(result_proto)
    if not quantized:
        raise TechniqueError(
            f"{technique}: ONNX Runtime quantized no layer of this model",
            hint="check op_types / nodes_to_exclude; the model's layers may be unsupported",
        )
    still_float = set(float_weight_node_names(result_proto))
    leaked = [name for name in excluded if name in quantized]
    if leaked:
        raise TechniqueError(
            f"{technique}: nodes meant to stay FP32 were quantized: {leaked}",
            hint="report this as a bug with the model attached",
        )
    if any(n.op_type == "ConvInteger" for n in result_proto.graph.node):
        warnings.append(
            "dynamic INT8 turned convolutions into ConvInteger, which ONNX Runtime runs slowly "
            "(~4× slower than FP32 measured on AVX2): time it, or use op_types=['MatMul', 'Gemm'] "
            "or ort_int8_static for conv nets"
        )
    kind = "static (calibrated)" if static else "dynamic"
    changes += [
        f"{kind} INT8 quantization of {len(quantized)} layers"
        + (
            f" ({config.scheme}, {config.quant_format}, {config.calibration_method})"
            if isinstance(config, OrtInt8StaticConfig)
            else f" (weights {config.weight_type})"
        )
        + (", per-channel" if per_channel else "")
        + (", reduce_range" if reduce_range else ""),
        *reasons,
    ]
    result = TechniqueResult(
        handle=output_handle(handle, out_path, threads=ctx.threads, technique=technique),
        changes=changes,
        warnings=warnings,
        metrics={
            **rewrite_metrics(handle.onnx_path, out_path, original, result_proto),
            "quantized_nodes": float(len(quantized)),
            "excluded_nodes": float(len(excluded)),
            "fp32_weight_nodes": float(len(still_float)),
            "calibration_samples": float(len(samples)),
        },
    )
    result.handle.metadata["excluded_nodes"] = excluded
    return result


def _scheme_types(scheme: str) -> tuple[object, object]:
    from onnxruntime.quantization import QuantType

    return {
        "U8S8": (QuantType.QUInt8, QuantType.QInt8),
        "S8S8": (QuantType.QInt8, QuantType.QInt8),
        "U8U8": (QuantType.QUInt8, QuantType.QUInt8),
    }[scheme]


@contextlib.contextmanager
def _quiet():  # type: ignore[no-untyped-def]
    """ORT's quantizer prints progress and warnings to stdout/logging; keep the CLI clean."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
