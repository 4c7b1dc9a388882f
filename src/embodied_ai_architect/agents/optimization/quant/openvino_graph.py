"""Reading an OpenVINO model's graph for NNCF: the output tail, weighted layers, ONNX names.

The output tail is what lies between the last weighted layers and the model's outputs: a
detector's box decoding (anchor offsets, strides, DFL expectation), a classifier's softmax.
Ultralytics' NNCF recipe for YOLOv8 ignores these ops and the head's last convolutions; on
YOLOv8s (24 held-out photos, this host) neither moved the held-out fidelity (0.936 default, 0.936
tail, 0.933 tail + head layers): its INT8 loss comes from the backbone.
"""

from __future__ import annotations

from collections import deque
from typing import Any

WEIGHTED_TYPES = frozenset(
    {
        "Convolution",
        "GroupConvolution",
        "ConvolutionBackpropData",
        "GroupConvolutionBackpropData",
        "MatMul",
    }
)
_THROUGH = frozenset({"Convert", "Reshape", "Transpose", "Unsqueeze", "Squeeze"})


def is_weighted(op: Any) -> bool:
    """A Convolution / MatMul with a constant operand (its weights), not one of two activations."""
    if op.get_type_name() not in WEIGHTED_TYPES:
        return False
    for port in op.inputs()[1:]:
        source = port.get_source_output().get_node()
        while source.get_type_name() in _THROUGH and len(source.inputs()) > 0:
            source = source.inputs()[0].get_source_output().get_node()
        if source.get_type_name() == "Constant":
            return True
    return False


def output_tail(model: Any) -> tuple[list[str], list[str]]:
    """(the weighted layers nearest the outputs, the non-weighted ops between them and the
    outputs), as OpenVINO friendly names, nearest first.

    Walks back from every Result and stops at each weighted layer, so a classifier gives its
    last Linear and its softmax, a YOLO head its final 1×1 convolutions, the DFL convolution and
    the decode ops."""
    seen: set[str] = set()
    weighted: list[str] = []
    tail: list[str] = []
    queue = deque(model.get_results())
    while queue:
        op = queue.popleft()
        name = op.get_friendly_name()
        if name in seen:
            continue
        seen.add(name)
        kind = op.get_type_name()
        if is_weighted(op):
            weighted.append(name)
            continue
        if kind not in ("Constant", "Parameter", "Result"):
            tail.append(name)
        queue.extend(port.get_source_output().get_node() for port in op.inputs())
    return weighted, tail


def ov_names_for(onnx_names: list[str], model: Any) -> list[str]:
    """OpenVINO op names for ONNX node names: the ONNX frontend keeps a node's name, and a Conv
    with a bias becomes ``<name>/WithoutBiases`` (the convolution) plus ``<name>`` (the Add)."""
    present = {op.get_friendly_name() for op in model.get_ops()}
    out: list[str] = []
    for name in onnx_names:
        out.extend(n for n in (name, f"{name}/WithoutBiases") if n in present)
    return list(dict.fromkeys(out))
