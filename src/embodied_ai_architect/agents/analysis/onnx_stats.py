"""Structure of an ONNX graph: initializers, nodes, and MACs from shape inference."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.analysis.onnx_shapes import (
    branch_macs,
    graph_shapes,
    recurrent_macs,
    runtime_shapes,
    subgraphs,
    unknown_in_branches,
)
from embodied_ai_architect.agents.analysis.onnx_weights import OnnxWeights
from embodied_ai_architect.agents.analysis.structure import (
    LayerRecord,
    ModelStructure,
    WeightRecord,
)
from embodied_ai_architect.agents.optimization.quant.onnx_graph import unnamed_node_name
from embodied_ai_architect.errors import AnalysisError, first_line

if TYPE_CHECKING:
    import onnx

    from embodied_ai_architect.modelio.handle import OnnxModelHandle

# Ops whose cost we compute from shapes; everything else (elementwise, reshapes) is negligible
# next to them and is not counted, as FlopCounterMode does for torch.
MAC_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN"})


def _concrete_inputs(model: onnx.ModelProto, handle: OnnxModelHandle) -> onnx.ModelProto:
    """A copy whose graph inputs have the batch-1 shapes the user gave (or the graph fixed)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    shapes = {spec.name: spec.concrete_shape(1) for spec in handle.inputs}
    for value in copy.graph.input:
        if value.name not in shapes:
            continue
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, shapes[value.name], strict=False):
            dim.ClearField("dim_param")
            dim.dim_value = size
    return copy


def _attr(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def node_macs(node: Any, shapes: dict[str, list[int]]) -> int | None:
    """Multiply-accumulates of one Conv / ConvTranspose / Gemm / MatMul node (None: unknown)."""
    out = shapes.get(node.output[0]) if node.output else None
    ins = [shapes.get(name) for name in node.input]
    if node.op_type == "Conv":
        if out is None or len(ins) < 2 or ins[1] is None:
            return None
        return math.prod(out) * math.prod(ins[1][1:])
    if node.op_type == "ConvTranspose":
        if ins[0] is None or len(ins) < 2 or ins[1] is None:
            return None
        return math.prod(ins[0]) * math.prod(ins[1][1:])
    if node.op_type == "Gemm":
        if out is None or ins[0] is None:
            return None
        reduce = ins[0][0] if _attr(node, "transA", 0) else ins[0][-1]
        return math.prod(out) * reduce
    if node.op_type == "MatMul":
        if out is None or ins[0] is None:
            return None
        return math.prod(out) * ins[0][-1]
    if node.op_type in ("LSTM", "GRU", "RNN"):
        return recurrent_macs(node, shapes)
    return 0


def analyze_onnx(handle: OnnxModelHandle) -> ModelStructure:
    """Initializers are the weights; every node is a layer; MACs come from inferred shapes."""
    import onnx

    try:
        model = onnx.load(str(handle.onnx_path))
    except Exception as exc:  # protobuf / IO errors
        raise AnalysisError(
            f"cannot read the ONNX graph {handle.onnx_path.name!r}: {exc}",
            hint="the file is corrupt; export it again",
        ) from exc
    inferred = _concrete_inputs(model, handle)
    warnings: list[str] = []
    try:
        inferred = onnx.shape_inference.infer_shapes(inferred, data_prop=True)
    except Exception as exc:  # onnx raises InferenceError and plain RuntimeErrors
        warnings.append(f"ONNX shape inference failed ({first_line(exc)}); MACs unknown")
    shapes = graph_shapes(inferred.graph)

    index = OnnxWeights(model)
    weights: list[WeightRecord] = []
    for name, array in index.stored():
        weights.append(
            WeightRecord(
                name=name,
                numel=int(array.size),
                dtype=str(array.dtype),
                nbytes=int(array.nbytes),
                shape=tuple(array.shape),
            )
        )
        shapes.setdefault(name, list(array.shape))
    weight_names = {w.name for w in weights}
    resolved = {
        name: source.name
        for node in model.graph.node
        for name in node.input
        if (source := index.resolve(name)) is not None and source.name in weight_names
    }
    for name, source_name in resolved.items():
        shapes.setdefault(name, shapes.get(source_name, []))
    unresolved = [
        name
        for node in model.graph.node
        if node_macs(node, shapes) is None
        for name in (*node.input[:1], *node.output[:1])
        if name not in shapes
    ]
    if unresolved:
        # Shapes computed at run time (audio front-ends, Shape-driven Reshapes): read them off
        # one real run instead of reporting zero MACs.
        try:
            shapes.update(runtime_shapes(model, unresolved, handle.example_inputs()))
        except Exception as exc:  # ORT's own error types; the static figure then stands
            warnings.append(f"run-time shape probe failed: {first_line(exc)}")
    sizes = {w.name: w.numel for w in weights}
    claimed: set[str] = set()
    layers: list[LayerRecord] = []
    unknown = 0
    producers: dict[str, Any] = {}
    consumers: Counter[str] = Counter()
    for node in model.graph.node:
        for name in node.input:
            consumers[name] += 1
    for position, node in enumerate(model.graph.node):
        if node.op_type == "Constant" or (
            node.op_type in ("Identity", "Cast", "DequantizeLinear")
            and all(name in resolved for name in node.output)
        ):
            continue  # a stored tensor or part of a weight's storage chain, not a layer
        for name in node.output:
            producers[name] = node
        owned = [
            resolved[name]
            for name in node.input
            if name in resolved and resolved[name] not in claimed
        ]
        claimed.update(owned)
        if subgraphs(node):
            macs: int | None = branch_macs(node, shapes, node_macs)
            unknown += unknown_in_branches(node, shapes, node_macs)
        else:
            macs = node_macs(node, shapes)
            unknown += macs is None
        attrs: dict[str, Any] = {}
        if node.op_type in ("Conv", "ConvTranspose"):
            attrs = {
                "kernel_size": list(_attr(node, "kernel_shape", []) or []),
                "stride": list(_attr(node, "strides", []) or []),
            }
        elif node.op_type == "Gather" and owned and len(shapes.get(owned[0], [])) == 2:
            attrs = {"num_embeddings": shapes[owned[0]][0], "embedding_dim": shapes[owned[0]][1]}
        layers.append(
            LayerRecord(
                name=node.name or unnamed_node_name(node.op_type, position),
                op_type=node.op_type,
                parameters=sum(sizes[name] for name in owned),
                macs=macs,
                output_shape=shapes.get(node.output[0]) if node.output else None,
                attrs=attrs,
                weight_name=next(
                    (resolved[name] for name in node.input[1:] if name in resolved),
                    resolved.get(node.input[0]) if node.input else None,
                ),
            )
        )
    # Layers inside If / Loop bodies (a whole model wrapped in one If per sample rate): their
    # weights are outer-scope tensors; they become layers so sensitivity and the census reach
    # them. Their MACs are already in the If node's figure (the costlier branch).
    for node in model.graph.node:
        for graph in subgraphs(node):
            layers.extend(_inner_layers(graph, index, weight_names, sizes, claimed))
    foldable = sum(
        1
        for node in model.graph.node
        if node.op_type == "BatchNormalization"
        and node.input[0] in producers
        and producers[node.input[0]].op_type == "Conv"
        and consumers[node.input[0]] == 1
    )
    if unknown:
        warnings.append(
            f"{unknown} Conv/Gemm/MatMul node(s) have shapes shape inference could not resolve; "
            "their MACs are not included (the total is a lower bound)"
        )
    total_macs = sum(layer.macs or 0 for layer in layers)
    graph_outputs = [shapes.get(value.name) for value in model.graph.output]
    return ModelStructure(
        framework="onnx",
        weights=weights,
        layers=layers,
        module_types={},
        macs=total_macs,
        flops=2 * total_macs,
        compute_ops=Counter(node.op_type for node in model.graph.node),
        output_shapes=[shape for shape in graph_outputs if shape is not None],
        warnings=warnings,
        foldable_batchnorms=foldable,
    )


def _inner_layers(
    graph: Any,
    index: OnnxWeights,
    weight_names: set[str],
    sizes: dict[str, int],
    claimed: set[str],
) -> list[LayerRecord]:
    layers: list[LayerRecord] = []
    for position, node in enumerate(graph.node):
        for inner in subgraphs(node):
            layers.extend(_inner_layers(inner, index, weight_names, sizes, claimed))
        if node.op_type not in MAC_OPS:
            continue
        owned = []
        for name in node.input:
            source = index.resolve(name)
            if source is not None and source.name in weight_names and source.name not in claimed:
                owned.append(source.name)
        if not owned:
            continue
        claimed.update(owned)
        layers.append(
            LayerRecord(
                name=node.name or f"{graph.name}/{node.op_type}_{position}",
                op_type=node.op_type,
                parameters=sum(sizes[name] for name in owned),
                macs=None,
                weight_name=owned[0],
            )
        )
    return layers
