"""Reading an OpenVINO model's graph for NNCF: the output tail, weighted layers, ONNX names.

The output tail is what lies between the last weighted layers and the model's outputs: a
detector's box decoding (anchor offsets, strides, DFL expectation), a classifier's softmax.
Ultralytics' NNCF recipe for YOLOv8 ignores these ops and the head's last convolutions; on
YOLOv8s (24 held-out photos, this host) neither moved the held-out fidelity (0.936 default, 0.936
tail, 0.933 tail + head layers): its INT8 loss comes from the backbone.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle

if TYPE_CHECKING:
    from embodied_ai_architect.agents.optimization.base import TechniqueContext
    from embodied_ai_architect.agents.optimization.techniques.openvino_quantization import (
        OpenVinoInt8Config,
    )

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


# Activations with a negative tail: symmetric (performance) activation ranges waste codes on them.
_SIGNED_ACTIVATIONS = frozenset({"Swish", "Gelu", "HSwish", "Mish", "Elu", "Selu", "PRelu"})


def signed_activations(model: Any) -> bool:
    """Whether the graph has non-ReLU activations (SiLU/Swish, GELU, HSwish, ...) or x·sigmoid(x)
    written out, which NNCF's mixed preset (asymmetric activations) quantizes better."""
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind in _SIGNED_ACTIVATIONS:
            return True
        if kind == "Multiply":
            sources = [port.get_source_output().get_node() for port in op.inputs()]
            if any(src.get_type_name() == "Sigmoid" for src in sources):
                inner = next(src for src in sources if src.get_type_name() == "Sigmoid")
                feeding = inner.inputs()[0].get_source_output().get_node()
                name = feeding.get_friendly_name()
                if any(src.get_friendly_name() == name for src in sources):
                    return True
    return False


def kept_in_fp32(
    model: Any, source: ModelHandle, config: OpenVinoInt8Config, ctx: TechniqueContext
) -> tuple[list[str], list[str]]:
    """OpenVINO op names NNCF must leave in FP32 for the tail / head / sensitivity options, and
    a note for each group."""
    names: list[str] = []
    notes: list[str] = []
    head, tail = output_tail(model)
    if config.keep_output_tail and tail:
        names += tail
        notes.append(
            f"kept the {len(tail)} ops after the last weighted layers in FP32 (output tail)"
        )
    if config.keep_head_layers and head:
        names += head
        notes.append(f"kept the {len(head)} weighted layers nearest the outputs in FP32")
    if config.exclude_top_sensitive and not isinstance(source, OnnxModelHandle):
        # An IR (the runtime step's FP32 version) keeps the ONNX node names it came from.
        if ctx.profile is None or not ctx.profile.sensitivity:
            raise ConfigError(
                f"openvino_int8: exclude_top_sensitive={config.exclude_top_sensitive} needs "
                "per-layer sensitivity from the Analysis agent, but the context has none",
                hint="set exclude_top_sensitive=0 or name the layers in ignored_names",
            )
        ranked = sorted(ctx.profile.sensitivity, key=lambda entry: -entry.score)
        chosen = [entry.layer for entry in ranked[: config.exclude_top_sensitive]]
        names += ov_names_for(chosen, model)
        notes += [f"kept {layer} in FP32 (sensitivity)" for layer in chosen]
    elif config.exclude_top_sensitive and isinstance(source, OnnxModelHandle):
        from embodied_ai_architect.agents.optimization.quant.mixed_precision import (
            resolve_exclusions,
        )
        from embodied_ai_architect.agents.optimization.quant.onnx_graph import load_proto

        onnx_names, reasons = resolve_exclusions(
            load_proto(source.onnx_path),
            technique=config.technique,
            nodes_to_exclude=[],
            exclude_top_sensitive=config.exclude_top_sensitive,
            profile=ctx.profile,
        )
        names += ov_names_for(onnx_names, model)
        notes += reasons
    return list(dict.fromkeys(names)), notes
