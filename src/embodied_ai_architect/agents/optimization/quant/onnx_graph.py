"""ONNX graph facts the quantization techniques need: weights, quantized nodes, module scopes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import TechniqueError
from embodied_ai_architect.modelio.handle import OnnxModelHandle

if TYPE_CHECKING:
    import onnx

# Ops whose second input is a weight matrix / kernel the quantizers target.
WEIGHT_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
# Ops that consume integer / low-bit weights directly (QOperator, dynamic and weight-only forms).
QUANTIZED_OPS = frozenset(
    {
        "QLinearConv",
        "QLinearMatMul",
        "QGemm",
        "ConvInteger",
        "MatMulInteger",
        "DynamicQuantizeMatMul",
        "DynamicQuantizeLSTM",
        "QAttention",
        "MatMulNBits",
    }
)
# Ops that only occur in transformer-style graphs (used to pick quant_pre_process options).
TRANSFORMER_HINT_OPS = frozenset({"Softmax", "LayerNormalization", "Attention", "Erf"})


def load_proto(path: Path) -> onnx.ModelProto:
    """The graph, with every unnamed node named as the Analysis agent names it in its layer
    table and sensitivity ranking (``<op_type>_<position>``): exporters such as onnx.helper
    leave names empty, and ORT can only keep a node in FP32 by its name."""
    import onnx

    model = onnx.load(str(path))
    for position, node in enumerate(model.graph.node):
        if not node.name:
            node.name = unnamed_node_name(node.op_type, position)
    return model


def unnamed_node_name(op_type: str, position: int) -> str:
    """The one naming rule for unnamed ONNX nodes (analysis layer names use it too)."""
    return f"{op_type}_{position}"


def initializer_map(model: onnx.ModelProto) -> dict[str, Any]:
    return {init.name: init for init in model.graph.initializer}


def tensor_bytes(tensor: Any) -> int:
    """Bytes a TensorProto's values take (int4 packed two per byte)."""
    import onnx

    count = 1
    for dim in tensor.dims:
        count *= int(dim)
    if tensor.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
        return (count + 1) // 2
    itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    return count * itemsize


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of every initializer (weights, biases, scales, zero points)."""
    return sum(tensor_bytes(t) for t in model.graph.initializer)


def rewrite_metrics(
    before: Path, after: Path, original: onnx.ModelProto, rewritten: onnx.ModelProto
) -> dict[str, float]:
    """The sizes every ONNX rewrite reports: the file and its initializers, before and after."""
    return {
        "size_before_bytes": float(before.stat().st_size),
        "size_after_bytes": float(after.stat().st_size),
        "weight_bytes_before": float(weight_bytes(original)),
        "weight_bytes_after": float(weight_bytes(rewritten)),
    }


@dataclass(frozen=True)
class WeightNode:
    """A compute node with a constant weight input."""

    name: str
    op_type: str
    weight: str  # initializer name
    shape: tuple[int, ...]


def weight_nodes(model: onnx.ModelProto, op_types: Iterable[str] = WEIGHT_OPS) -> list[WeightNode]:
    """Float compute nodes whose weight (input 1) is an initializer, in graph order."""
    wanted = set(op_types)
    inits = initializer_map(model)
    found: list[WeightNode] = []
    for node in model.graph.node:
        if node.op_type in wanted and len(node.input) > 1 and node.input[1] in inits:
            tensor = inits[node.input[1]]
            found.append(WeightNode(node.name, node.op_type, node.input[1], tuple(tensor.dims)))
    return found


def output_tail(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes between the last weighted layers and the graph outputs (a detector's
    box decoding and score activation, a classifier's softmax), nearest the outputs first.

    Walks back from every graph output and stops at each weight node; unnamed nodes cannot be
    named to a quantizer and are walked through but not listed."""
    weighted = {w.name for w in weight_nodes(model)}
    producer = {out: node for node in model.graph.node for out in node.output}
    seen: set[int] = set()
    tail: list[str] = []
    stack = [output.name for output in model.graph.output]
    while stack:
        node = producer.get(stack.pop(0))
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.name and node.name in weighted:
            continue
        if node.name and node.op_type != "Constant":
            tail.append(node.name)
        stack.extend(node.input)
    return tail


def quantized_node_names(model: onnx.ModelProto) -> list[str]:
    """Compute nodes running on quantized weights: QOperator / integer / n-bit ops, plus QDQ-form
    float ops whose weight comes out of a DequantizeLinear of a constant."""
    inits = initializer_map(model)
    dequantized_constants = {
        node.output[0]
        for node in model.graph.node
        if node.op_type == "DequantizeLinear" and node.input[0] in inits
    }
    names: list[str] = []
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OPS or (
            node.op_type in WEIGHT_OPS and any(i in dequantized_constants for i in node.input[1:2])
        ):
            names.append(node.name)
    return names


def float_weight_node_names(model: onnx.ModelProto) -> list[str]:
    """Compute nodes that still hold a plain float weight (what mixed precision keeps)."""
    import onnx

    inits = initializer_map(model)
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    return [
        w.name
        for w in weight_nodes(model)
        if w.weight in inits and inits[w.weight].data_type in floats
    ]


def looks_like_transformer(model: onnx.ModelProto) -> bool:
    return any(node.op_type in TRANSFORMER_HINT_OPS for node in model.graph.node)


def module_path(node_name: str) -> str:
    """The torch module path of a node named by the TorchScript exporter.

    ``/layer1/layer1.0/conv1/Conv`` → ``layer1.0.conv1``. A Sequential's children appear as
    ``<parent attr>.<index>`` (``layer2.0``, ``downsample.0``), so a segment that extends the
    previous one only adds its suffix; any other segment is a child attribute name.
    """
    segments = [s for s in node_name.strip("/").split("/") if s]
    path = ""
    previous = ""
    for segment in segments[:-1]:  # the last segment is the op (``Conv``, ``MatMul_1``)
        if previous and segment.startswith(previous + "."):
            path += segment[len(previous) :]
        else:
            path = f"{path}.{segment}" if path else segment
        previous = segment
    return path


def strip_initializer_value_info(model: onnx.ModelProto) -> int:
    """Drop ``value_info`` entries that describe initializers (written by the dynamo exporter).

    ORT's quantizers re-infer those shapes and fail with "Inferred shape and existing shape
    differ" when they are present (shared/ENVIRONMENT.md, pitfall 1). Returns how many went.
    """
    inits = set(initializer_map(model))
    keep = [v for v in model.graph.value_info if v.name not in inits]
    removed = len(model.graph.value_info) - len(keep)
    if removed:
        del model.graph.value_info[:]
        model.graph.value_info.extend(keep)
    return removed


def topological_sort(model: onnx.ModelProto) -> None:
    """Reorder nodes so each comes after its producers (in place).

    ORT's float16 converter appends its I/O casts at the end of the node list; ONNX Runtime
    accepts that, but the ONNX checker (and other runtimes) require a sorted graph.
    """
    available = {i.name for i in model.graph.input} | set(initializer_map(model)) | {""}
    pending = list(model.graph.node)
    ordered: list[Any] = []
    while pending:
        progressed = False
        remaining = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
                progressed = True
            else:
                remaining.append(node)
        if not progressed:
            raise TechniqueError(
                "the rewritten graph has a cycle or an undefined input "
                f"(first stuck node: {remaining[0].name or remaining[0].op_type})",
                hint="report this as a bug with the model attached",
            )
        pending = remaining
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def ensure_opset(model: onnx.ModelProto, domain: str, version: int) -> None:
    """Declare ``domain`` (e.g. com.microsoft for MatMulNBits) when the graph uses it."""
    if not any(o.domain == domain for o in model.opset_import):
        entry = model.opset_import.add()
        entry.domain = domain
        entry.version = version


_PROBE = """
import sys
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
feeds = {}
for value in session.get_inputs():
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in value.shape]
    dtype = {"tensor(float16)": np.float16, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(bool)": np.bool_}.get(value.type, np.float32)
    feeds[value.name] = np.zeros(shape, dtype=dtype)
session.run(None, feeds)
"""


def probe_in_subprocess(
    path: Path, *, technique: str, hint: str = "", timeout: float = 300
) -> None:
    """Create an ONNX Runtime session for ``path`` and run it once, in a child process.

    ORT has crashed (SIGSEGV) while optimizing some rewritten graphs (float16 graphs in its NCHWc
    layout pass, for one); a crash here must fail this technique, not kill the job's worker.
    """
    from embodied_ai_architect.agents.child_process import exit_reason, run_python

    done = run_python(
        ["-c", _PROBE, str(path)],
        timeout=timeout,
        error=TechniqueError,
        what=f"{technique}: loading the result in ONNX Runtime",
        hint=hint or "the rewritten graph may be pathological; try other settings",
    )
    if done.returncode != 0:
        raise TechniqueError(
            f"{technique}: ONNX Runtime {exit_reason(done)} when loading and running the result",
            hint=hint
            or "the rewritten graph is not runnable by ONNX Runtime on this host; "
            "try other settings or another technique",
            details={"returncode": done.returncode, "stderr": done.stderr[-2000:]},
        )


def output_handle(
    source: OnnxModelHandle,
    path: Path,
    *,
    threads: int,
    technique: str,
    probe_hint: str = "",
) -> OnnxModelHandle:
    """An ONNX handle for a rewritten graph with the source's input names and specs.

    Fails when the rewrite changed the graph's inputs (downstream code feeds by name) or when
    ONNX Runtime cannot load and run it (checked out of process).
    """
    from embodied_ai_architect.modelio.onnx_io import load_onnx

    probe_in_subprocess(path, technique=technique, hint=probe_hint)
    rewritten = load_onnx(path, input_shapes=None, threads=source.threads or threads)
    by_name = {spec.name: spec for spec in rewritten.inputs}
    missing = [spec.name for spec in source.inputs if spec.name not in by_name]
    if missing:
        raise TechniqueError(
            f"the rewritten graph lost the inputs {missing}",
            hint="report this as a bug with the model attached",
        )
    # Same names and ranges as the source; the dtype follows the graph (FP16 without I/O casts).
    rewritten.inputs = [
        spec.model_copy(update={"dtype": by_name[spec.name].dtype}) for spec in source.inputs
    ]
    rewritten.name = source.name
    rewritten.metadata = {**source.metadata, "technique": technique}
    return rewritten
