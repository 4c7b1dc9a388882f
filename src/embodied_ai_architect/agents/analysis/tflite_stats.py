"""Structure and sensitivity of a ``.tflite`` file from its own flatbuffer, with LiteRT only.

No TensorFlow: the interpreter lists every op (its inputs and outputs) and every tensor; constant
tensors (inputs no op produces) are the weights, read straight from the file's buffers; MACs come
from the weight and output shapes. FP16 weights stored behind ``DEQUANTIZE`` ops are followed to
the op that uses them. Sensitivity fake-quantizes one float weight at a time by patching its
bytes in a copy of the flatbuffer, which LiteRT then runs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.agents.analysis.onnx_weights import is_weight_dtype
from embodied_ai_architect.agents.analysis.structure import (
    LayerRecord,
    ModelStructure,
    WeightRecord,
)
from embodied_ai_architect.errors import AnalysisError
from embodied_ai_architect.modelio.handle import Feeds

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.tflite_io import TFLiteModelHandle

# TFLite builtin ops under the names the rest of the analysis knows (ONNX's).
OP_NAMES = {
    "CONV_2D": "Conv",
    "DEPTHWISE_CONV_2D": "Conv",
    "TRANSPOSE_CONV": "ConvTranspose",
    "FULLY_CONNECTED": "Gemm",
    "BATCH_MATMUL": "MatMul",
    "EMBEDDING_LOOKUP": "Gather",
}
_STORAGE_OPS = frozenset({"DEQUANTIZE"})


def _interpreter(handle: TFLiteModelHandle, content: bytes | None = None) -> Any:
    """A fresh interpreter without the XNNPACK delegate: delegated ops disappear behind a single
    DELEGATE node, which would hide the structure."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"num_threads": 1}
    if content is None:
        kwargs["model_path"] = str(handle.tflite_path)
    else:
        kwargs["model_content"] = content
    interpreter = Interpreter(
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, **kwargs
    )
    interpreter.allocate_tensors()
    return interpreter


def _macs(op: str, weight: tuple[int, ...] | None, out: list[int] | None) -> int | None:
    if op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"):
        return 0
    if weight is None or out is None:
        return None
    if op == "DEPTHWISE_CONV_2D":  # weight [1, kh, kw, channels]
        return math.prod(out) * weight[1] * weight[2]
    return math.prod(out) * math.prod(weight[1:])  # conv [o, kh, kw, i]; dense [o, i]


def analyze_tflite(handle: TFLiteModelHandle) -> ModelStructure:
    interpreter = _interpreter(handle)
    ops = interpreter._get_ops_details()  # the only op listing LiteRT exposes
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    produced = {int(t) for op in ops for t in op["outputs"]}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    weights: dict[int, WeightRecord] = {}
    for op in ops:
        for index in (int(t) for t in op["inputs"]):
            if index < 0 or index in produced or index in graph_inputs or index in weights:
                continue
            array = interpreter.get_tensor(index)
            if array.size < 2 or not is_weight_dtype(array.dtype):
                continue  # shapes, paddings, axes
            weights[index] = WeightRecord(
                name=tensors[index]["name"],
                numel=int(array.size),
                dtype=str(array.dtype),
                nbytes=int(array.nbytes),
                shape=tuple(int(d) for d in array.shape),
            )
    # DEQUANTIZE turns a stored FP16 / INT8 weight into the float tensor an op consumes.
    storage = {
        int(op["outputs"][0]): int(op["inputs"][0])
        for op in ops
        if op["op_name"] in _STORAGE_OPS and int(op["inputs"][0]) in weights
    }
    layers: list[LayerRecord] = []
    unknown = 0
    for op in ops:
        name = op["op_name"]
        if name in _STORAGE_OPS and int(op["outputs"][0]) in storage:
            continue
        owned = [
            storage.get(int(t), int(t))
            for t in op["inputs"]
            if storage.get(int(t), int(t)) in weights
        ]
        outputs = [int(t) for t in op["outputs"]]
        out_shape = [int(d) for d in tensors[outputs[0]]["shape"]] if outputs else None
        main = weights[owned[0]] if owned else None
        macs = _macs(name, main.shape if main else None, out_shape)
        unknown += macs is None
        layers.append(
            LayerRecord(
                name=f"{name}_{op['index']}",
                op_type=OP_NAMES.get(name, name),
                parameters=sum(weights[i].numel for i in owned),
                macs=macs,
                output_shape=out_shape,
                attrs={"tflite_op": name},
                weight_name=main.name if main else None,
            )
        )
    total = sum(layer.macs or 0 for layer in layers)
    return ModelStructure(
        framework="tflite",
        weights=list(weights.values()),
        layers=layers,
        macs=total,
        flops=2 * total,
        compute_ops=Counter(op["op_name"] for op in ops),
        output_shapes=[[int(d) for d in d["shape"]] for d in interpreter.get_output_details()],
        warnings=[f"{unknown} op(s) without a readable weight shape: MACs are a lower bound"]
        if unknown
        else [],
    )


def tflite_scorer(
    handle: TFLiteModelHandle, feeds: Feeds, reference: Feeds
) -> Callable[[int, LayerRecord], float]:
    """Per-layer INT8 weight sensitivity by patching one weight's bytes at a time."""
    from embodied_ai_architect.agents.analysis.sensitivity import fake_quantize, relative_error

    content = handle.tflite_path.read_bytes()
    interpreter = _interpreter(handle)
    by_name = {d["name"]: d["index"] for d in interpreter.get_tensor_details()}

    def score(index: int, layer: LayerRecord) -> float:
        original = np.array(interpreter.get_tensor(by_name[layer.weight_name or ""]))
        if not np.issubdtype(original.dtype, np.floating):
            return 0.0  # already integer
        raw = original.tobytes()
        offset = content.find(raw)
        if offset < 0 or content.find(raw, offset + 1) >= 0:
            raise AnalysisError(
                f"the weight of {layer.name!r} cannot be located uniquely in the flatbuffer",
                hint="set `sensitivity_top_k` to 0 for this model",
                field="sensitivity_top_k",
            )
        axis = 3 if layer.attrs.get("tflite_op") == "DEPTHWISE_CONV_2D" else 0
        patched = fake_quantize(original, axis).astype(original.dtype).tobytes()
        model = content[:offset] + patched + content[offset + len(raw) :]
        return relative_error(reference, _run(handle, model, feeds))

    return score


def _run(handle: TFLiteModelHandle, content: bytes, feeds: Feeds) -> Feeds:
    interpreter = _interpreter(handle, content)
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    for spec in handle.inputs:
        detail = inputs[handle.tensor_names[spec.name]]
        value = np.asarray(feeds[spec.name], detail["dtype"])
        if tuple(detail["shape"]) != value.shape:
            interpreter.resize_tensor_input(detail["index"], list(value.shape))
            interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return {
        d["name"]: np.array(interpreter.get_tensor(d["index"]))
        for d in interpreter.get_output_details()
    }
