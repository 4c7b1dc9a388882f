"""Shapes and MACs where static shape inference falls short.

Real exports compute shapes at run time (audio front-ends padding by a computed amount, Reshape
to a Shape-derived size), wrap the whole model in ``If`` branches (one per sample rate) or use
recurrent ops. Static inference then leaves the Conv / MatMul shapes unknown and the MAC count
reads zero. Here: shapes from every subgraph's ``value_info``, recurrent ops' cost from their
weights, ``If`` branches counted once (the costlier one), and a last resort that runs the model
once in ONNX Runtime with the unknown tensors added as outputs, reading their real shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

Shapes = dict[str, list[int]]
_RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def graph_shapes(graph: onnx.GraphProto, shapes: Shapes | None = None) -> Shapes:
    """Concrete shapes recorded anywhere in ``graph`` and its subgraphs."""
    shapes = {} if shapes is None else shapes
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes.setdefault(value.name, [int(d.dim_value) for d in dims])
    for init in graph.initializer:
        shapes.setdefault(init.name, list(init.dims))
    for node in graph.node:
        for graph_attr in subgraphs(node):
            graph_shapes(graph_attr, shapes)
    return shapes


def subgraphs(node: Any) -> list[Any]:
    import onnx

    return [a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH]


def recurrent_macs(node: Any, shapes: Shapes) -> int | None:
    """LSTM / GRU / RNN: per step, every gate multiplies input and hidden state by its weights."""
    x = shapes.get(node.input[0]) if node.input else None
    w = shapes.get(node.input[1]) if len(node.input) > 1 else None
    if x is None or w is None or len(x) != 3 or len(w) != 3:
        return None
    directions, gated_hidden, input_size = w
    hidden = gated_hidden // _RECURRENT_GATES[node.op_type]
    seq, batch = x[0], x[1]
    return seq * batch * directions * gated_hidden * (input_size + hidden)


def branch_macs(node: Any, shapes: Shapes, node_macs: Callable[[Any, Shapes], int | None]) -> int:
    """An ``If`` runs one branch: count the costlier; a ``Loop`` / ``Scan`` body once."""
    totals = [sum(_graph_macs(g.node, shapes, node_macs)) for g in subgraphs(node)]
    return max(totals, default=0)


def unknown_in_branches(
    node: Any, shapes: Shapes, node_macs: Callable[[Any, Shapes], int | None]
) -> int:
    """MAC nodes inside ``node``'s subgraphs whose shapes stayed unknown."""
    count = 0
    for graph in subgraphs(node):
        for inner in graph.node:
            if subgraphs(inner):
                count += unknown_in_branches(inner, shapes, node_macs)
            elif node_macs(inner, shapes) is None:
                count += 1
    return count


def _graph_macs(
    nodes: Iterable[Any], shapes: Shapes, node_macs: Callable[[Any, Shapes], int | None]
) -> list[int]:
    out = []
    for node in nodes:
        if subgraphs(node):
            out.append(branch_macs(node, shapes, node_macs))
        else:
            out.append(node_macs(node, shapes) or 0)
    return out


def runtime_shapes(
    model: onnx.ModelProto, names: list[str], feeds: dict[str, np.ndarray]
) -> Shapes:
    """Run the graph once with ``names`` as extra outputs; their real shapes.

    Only top-level tensors can be exposed this way (subgraph values are not addressable).
    """
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    wanted = [n for n in dict.fromkeys(names) if n and n not in existing]
    for name in wanted:
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    accepted = {i.name for i in session.get_inputs()}
    values = session.run(wanted, {k: v for k, v in feeds.items() if k in accepted})
    return {
        name: [int(d) for d in np.shape(value)]
        for name, value in zip(wanted, values, strict=True)
        if math.prod(np.shape(value)) > 0 or np.ndim(value) > 0
    }
