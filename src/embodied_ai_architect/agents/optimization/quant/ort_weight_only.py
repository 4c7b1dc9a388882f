"""Weight-only precision changes with ONNX Runtime: INT4 MatMulNBits (RTN / GPTQ) and FP16."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.optimization.quant.calibration import (
    collect_samples,
    make_ort_reader,
)
from embodied_ai_architect.agents.optimization.quant.mixed_precision import resolve_exclusions
from embodied_ai_architect.agents.optimization.quant.onnx_graph import (
    ensure_opset,
    initializer_map,
    load_proto,
    output_handle,
    quantized_node_names,
    rewrite_metrics,
    strip_initializer_value_info,
    topological_sort,
    weight_nodes,
)
from embodied_ai_architect.agents.optimization.quant.ort_configs import (
    OrtFp16Config,
    OrtInt4GptqConfig,
    OrtInt4RtnConfig,
)
from embodied_ai_architect.agents.optimization.quant.ort_int8 import _quiet
from embodied_ai_architect.errors import ConfigError, TechniqueError, describe

if TYPE_CHECKING:
    import onnx

    from embodied_ai_architect.agents.optimization.base import TechniqueContext, TechniqueResult
    from embodied_ai_architect.modelio.handle import OnnxModelHandle


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite plain Gemm layers (Linear on 2-D inputs) as MatMul + Add, in place.

    MatMulNBits only replaces MatMul, and the TorchScript exporter writes every Linear applied to
    a 2-D input (MLP policies, classifier heads) as Gemm. Only Gemm with a constant B, alpha =
    beta = 1 and no transA is rewritten; the weight is stored transposed to (K, N) once.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    inits = initializer_map(model)
    new_nodes: list[Any] = []
    rewritten = 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = (
            node.op_type == "Gemm"
            and len(node.input) > 1
            and node.input[1] in inits
            and attrs.get("transA", 0) == 0
            and attrs.get("alpha", 1.0) == 1.0
            and attrs.get("beta", 1.0) == 1.0
            and inits[node.input[1]].data_type == onnx.TensorProto.FLOAT
        )
        if not plain:
            new_nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            weight = np.ascontiguousarray(weight.T)
        weight_name = f"{node.input[1]}_kn"
        if weight_name not in inits:
            model.graph.initializer.append(numpy_helper.from_array(weight, weight_name))
            inits[weight_name] = model.graph.initializer[-1]
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        new_nodes.append(
            helper.make_node("MatMul", [node.input[0], weight_name], [product], name=node.name)
        )
        if has_bias:
            new_nodes.append(
                helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"
                )
            )
        rewritten += 1
    if rewritten:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
        used = {name for node in model.graph.node for name in node.input}
        keep = [init for init in model.graph.initializer if init.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)
    return rewritten


def split_by_block_size(
    model: onnx.ModelProto,
    block_size: int,
    excluded: set[str],
    technique: str,
    indivisible: str = "fp32",
) -> tuple[list[str], list[str]]:
    """The MatMul nodes INT4 will replace, and those whose input size the block does not divide.

    With ``indivisible == "pad"`` the latter are quantized too (zero-padded last block) and the
    second list is empty; with ``"fp32"`` they stay FP32; ``"error"`` refuses the model. A model
    whose layers are all indivisible is refused unless padding was asked for.
    """
    targets = [
        w for w in weight_nodes(model, ("MatMul",)) if len(w.shape) == 2 and w.name not in excluded
    ]
    if not targets:
        raise ConfigError(
            f"{technique}: the model has no MatMul / Linear layers with constant 2-D weights, so "
            "there is nothing for INT4 weight-only quantization to compress",
            hint="INT4 suits transformer and MLP weights; use ort_int8_static or openvino_int8 "
            "for convolutional models",
        )
    bad = [w for w in targets if w.shape[0] % block_size]
    if indivisible == "pad" or not bad:
        return [w.name for w in targets], []
    if indivisible == "error" or len(bad) == len(targets):
        common = math.gcd(*(w.shape[0] for w in targets))
        valid = [b for b in (16, 32, 64, 128, 256) if common % b == 0]
        keep = "" if len(bad) == len(targets) else ", indivisible='fp32' to keep them in FP32"
        raise ConfigError(
            f"{technique}: block_size={block_size} does not divide the input size of "
            f"{len(bad)} of {len(targets)} layer(s), e.g. {bad[0].name} with weight "
            f"{list(bad[0].shape)}",
            hint=f"use a block_size dividing every input size ({valid or 'none exists'})"
            f"{keep}, or indivisible='pad' to quantize them with a zero-padded last block",
        )
    kept = {w.name for w in bad}
    return [w.name for w in targets if w.name not in kept], [w.name for w in bad]


def _quantizer_class() -> type:
    """MatMulNBitsQuantizer whose GPTQ path honours nodes_to_exclude.

    ORT 1.32 marks excluded nodes "fp32" (skip) in the weight config for RTN only; its GPTQ path
    quantizes every MatMul. The node config is where both algorithms read the skip mark.
    """
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    class _Quantizer(MatMulNBitsQuantizer):  # type: ignore[misc]
        def _generate_q4_node_config(self) -> dict[str, Any]:
            config: dict[str, Any] = super()._generate_q4_node_config()
            return {**config, **dict.fromkeys(self.nodes_to_exclude, "fp32")}

    return _Quantizer


def quantize_int4(
    handle: OnnxModelHandle,
    config: OrtInt4RtnConfig | OrtInt4GptqConfig,
    ctx: TechniqueContext,
) -> TechniqueResult:
    """INT4 on the graph as exported: quant_pre_process would fuse MatMul+Add into Gemm, which
    MatMulNBits cannot target (shared/ENVIRONMENT.md, pitfall 3)."""
    technique = config.technique
    import onnx
    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        GPTQWeightOnlyQuantConfig,
    )

    from embodied_ai_architect.agents.optimization.base import TechniqueResult

    original = load_proto(handle.onnx_path)
    model = load_proto(handle.onnx_path)
    changes: list[str] = []
    if strip_initializer_value_info(model):
        changes.append("dropped value_info entries of initializers (they break ORT's quantizer)")
    gemms = gemm_to_matmul(model)
    if gemms:
        changes.append(f"rewrote {gemms} Gemm layers as MatMul + Add so INT4 can target them")
    excluded: list[str] = []
    reasons: list[str] = []
    if isinstance(config, OrtInt4RtnConfig):
        excluded, reasons = resolve_exclusions(
            model,
            technique=technique,
            nodes_to_exclude=config.nodes_to_exclude,
            exclude_top_sensitive=0,
            profile=None,
        )
    targets, indivisible = split_by_block_size(
        model, config.block_size, set(excluded), technique, config.indivisible
    )
    if indivisible:
        reasons.append(
            f"kept {len(indivisible)} layer(s) in FP32: block {config.block_size} does not divide "
            f"their input size ({', '.join(indivisible[:4])}{', …' if len(indivisible) > 4 else ''})"
        )
    target_bytes = sum(
        w.shape[0] * w.shape[1] * 4 for w in weight_nodes(model, ("MatMul",)) if w.name in targets
    )
    common: dict[str, Any] = {
        "block_size": config.block_size,
        "is_symmetric": config.symmetric,
        "accuracy_level": config.accuracy_level or None,
        "nodes_to_exclude": [*excluded, *indivisible],
        "op_types_to_quantize": ("MatMul",),
    }
    samples = 0
    if isinstance(config, OrtInt4GptqConfig):
        feeds = collect_samples(handle, ctx, config, config.num_samples)
        samples = len(feeds)
        algo: Any = GPTQWeightOnlyQuantConfig(
            calibration_data_reader=make_ort_reader(feeds),
            percdamp=config.percdamp,
            actorder=config.actorder,
            mse=config.mse,
            op_types_to_quantize=("MatMul",),
        )
    else:
        algo = DefaultWeightOnlyQuantConfig(
            block_size=config.block_size,
            is_symmetric=config.symmetric,
            accuracy_level=config.accuracy_level or None,
            quant_format=QuantFormat.QOperator,
            op_types_to_quantize=("MatMul",),
            bits=4,
        )
    ctx.emit(20, f"{technique}: quantizing {len(targets)} MatMul weights to 4 bits")
    try:
        with _quiet():
            quantizer = _quantizer_class()(model, algo_config=algo, **common)
            quantizer.process()
    except Exception as exc:  # the quantizers raise asserts and plain Exceptions
        raise TechniqueError(
            f"{technique}: MatMulNBits quantization failed: {describe(exc)}",
            hint="try another block_size or exclude the failing layer",
        ) from exc
    out_path = ctx.path(f"{technique}.onnx")
    quantized_model = quantizer.model.model
    # The GPTQ path writes com.microsoft ops without declaring the domain.
    ensure_opset(quantized_model, "com.microsoft", 1)
    onnx.save(quantized_model, str(out_path))
    quantized = quantized_node_names(quantized_model)
    if not quantized:
        raise TechniqueError(
            f"{technique}: no MatMul was replaced by MatMulNBits", hint="report this as a bug"
        )
    # MatMulNBits nodes are named "<original>_Q<bits>": none may come from a node kept in FP32.
    leaked = sorted({*excluded, *indivisible} & {name.rsplit("_Q", 1)[0] for name in quantized})
    if leaked:
        raise TechniqueError(
            f"{technique}: ONNX Runtime quantized layers that were to stay FP32: {leaked[:4]}",
            hint="this ONNX Runtime version ignores nodes_to_exclude here; use ort_int4_rtn, "
            "or indivisible='pad' and no nodes_to_exclude",
        )
    packed = sum(
        _bytes_of(quantized_model, n)
        for n in quantized_model.graph.node
        if n.op_type == "MatMulNBits"
    )
    changes += [
        f"INT4 weight-only ({'GPTQ' if samples else 'RTN'}, block {config.block_size}, "
        f"{'symmetric' if config.symmetric else 'asymmetric'}) on {len(quantized)} MatMul layers",
        *reasons,
    ]
    return TechniqueResult(
        handle=output_handle(handle, out_path, threads=ctx.threads, technique=technique),
        changes=changes,
        warnings=[],
        metrics={
            **rewrite_metrics(handle.onnx_path, out_path, original, quantized_model),
            "matmul_weight_bytes_before": float(target_bytes),
            "matmul_weight_bytes_after": float(packed),
            "quantized_nodes": float(len(quantized)),
            "excluded_nodes": float(len(excluded)),
            "indivisible_fp32_nodes": float(len(indivisible)),
            "calibration_samples": float(samples),
        },
    )


def _bytes_of(model: onnx.ModelProto, node: Any) -> int:
    """Packed weights + scales (+ zero points) of one MatMulNBits node."""
    from embodied_ai_architect.agents.optimization.quant.onnx_graph import tensor_bytes

    inits = initializer_map(model)
    return sum(tensor_bytes(inits[name]) for name in list(node.input)[1:4] if name in inits)


def convert_fp16(
    handle: OnnxModelHandle, config: OrtFp16Config, ctx: TechniqueContext
) -> TechniqueResult:
    technique = config.technique
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    from embodied_ai_architect.agents.optimization.base import TechniqueResult

    model = load_proto(handle.onnx_path)
    known = {node.name for node in model.graph.node}
    unknown = [name for name in config.nodes_to_exclude if name not in known]
    if unknown:
        raise ConfigError(
            f"{technique}: nodes_to_exclude names nodes this graph lacks: {unknown}",
            hint="use ONNX node names (see `branes analyze` or Netron)",
        )
    strip_initializer_value_info(model)
    ctx.emit(30, f"{technique}: converting to float16")
    try:
        with _quiet():
            converted = convert_float_to_float16(
                model,
                keep_io_types=config.keep_io_types,
                op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(config.op_block_list),
                node_block_list=config.nodes_to_exclude or None,
            )
    except Exception as exc:  # the converter raises plain Exceptions / asserts
        raise TechniqueError(
            f"{technique}: float16 conversion failed: {type(exc).__name__}: {exc}",
            hint="keep the failing op types in float32 with op_block_list",
        ) from exc
    topological_sort(converted)
    out_path = ctx.path(f"{technique}.onnx")
    onnx.save(converted, str(out_path))
    halves = sum(1 for t in converted.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16)
    probe_hint = (
        "ONNX Runtime's CPU layout optimizer has crashed on float16 graphs; keep the ops it "
        "rewrites in float32 (op_block_list=['Transpose'], the default, fixed a ViT), or keep "
        "the model in FP32"
    )
    return TechniqueResult(
        handle=output_handle(
            handle, out_path, threads=ctx.threads, technique=technique, probe_hint=probe_hint
        ),
        changes=[
            f"converted weights and compute to float16 ({halves} initializers)"
            + ("; inputs/outputs stay float32" if config.keep_io_types else "; inputs are float16"),
        ],
        warnings=[]
        if config.keep_io_types
        else ["the model now takes float16 inputs: callers must cast their arrays"],
        metrics={
            **rewrite_metrics(handle.onnx_path, out_path, model, converted),
            "fp16_initializers": float(halves),
            "excluded_nodes": float(len(config.nodes_to_exclude)),
        },
    )
