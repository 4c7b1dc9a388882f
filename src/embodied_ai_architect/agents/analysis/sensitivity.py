"""Per-layer INT8 sensitivity: the output error when only one layer's weights are quantized.

Each of the k largest weight layers in turn gets its weight fake-quantized (symmetric INT8, one
scale per output channel, the scheme ORT / OpenVINO / TensorRT use for weights); the model runs on
the example inputs and the relative L2 error of its outputs against the FP32 outputs is the
layer's score. Torch weights are swapped in place and restored in ``finally`` (copying a 100 M
parameter model per layer would dominate the analysis time); ONNX initializers are replaced in a
copy of the graph.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embodied_ai_architect.agents.analysis.onnx_weights import OnnxWeights
from embodied_ai_architect.agents.analysis.structure import (
    CONV_OPS,
    EMBEDDING_OPS,
    LINEAR_OPS,
    LayerRecord,
    ModelStructure,
)
from embodied_ai_architect.errors import AnalysisError
from embodied_ai_architect.modelio.handle import (
    Feeds,
    ModelHandle,
    OnnxModelHandle,
    TorchModelHandle,
)
from embodied_ai_architect.modelio.tflite_io import TFLiteModelHandle
from embodied_ai_architect.schemas.profile import LayerSensitivity

if TYPE_CHECKING:
    import onnx
    import torch

# The score of the layer at this position: its weight alone fake-quantized, the output error.
LayerScore = Callable[[int, LayerRecord], float]

METRIC = (
    "max over outputs of L2 error relative to the output's spread "
    "(per-channel symmetric INT8 weights, this layer only)"
)
_QUANTIZABLE = LINEAR_OPS | CONV_OPS | EMBEDDING_OPS


def fake_quantize(weight: np.ndarray, axis: int) -> np.ndarray:
    """Symmetric per-channel INT8 round trip of ``weight`` along ``axis`` (the output channel)."""
    moved = np.moveaxis(weight.astype(np.float64), axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    scale = np.abs(flat).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    quantized = np.clip(np.round(flat / scale), -127, 127) * scale
    return np.moveaxis(quantized.reshape(moved.shape), 0, axis).astype(weight.dtype)


def fake_quantize_torch(weight: torch.Tensor, axis: int) -> torch.Tensor:
    """The same round trip as :func:`fake_quantize` with torch kernels (multi-threaded, no
    float64 copies: a 38 M-element embedding takes milliseconds, not seconds)."""
    import torch

    moved = weight.detach().float().movedim(axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    scale = flat.abs().amax(dim=1, keepdim=True).div_(127.0)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    # In-place after the first division: a 38 M-element embedding makes each copy count.
    quantized = (flat / scale).round_().clamp_(-127, 127).mul_(scale)
    return quantized.reshape(moved.shape).movedim(0, axis).to(weight.dtype)


def relative_error(reference: Feeds, actual: Feeds) -> float:
    """max over floating outputs of ‖actual − reference‖ / ‖reference − mean(reference)‖.

    Per output, not concatenated: a detector's box coordinates (tens of pixels) would otherwise
    drown the damage done to its class scores (0–1). Relative to the output's spread, not its
    norm: sigmoid scores sitting around 0.5 or boxes offset by the image size would hide the
    error behind a constant. A constant output falls back to its norm."""
    worst = 0.0
    for name, ref in reference.items():
        if not np.issubdtype(ref.dtype, np.floating):
            continue
        ref64 = ref.astype(np.float64)
        diff = float(np.linalg.norm(actual[name].astype(np.float64) - ref64))
        spread = float(np.linalg.norm(ref64 - ref64.mean()))
        scale = spread if spread > 1e-12 else float(np.linalg.norm(ref64))
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def candidate_layers(structure: ModelStructure, top_k: int) -> list[LayerRecord]:
    """The k largest quantizable layers that own a weight of rank ≥ 2."""
    shapes = {w.name: w.shape for w in structure.weights}
    eligible = [
        layer
        for layer in structure.layers
        if layer.op_type in _QUANTIZABLE
        and layer.parameters > 0
        and layer.weight_name is not None
        and len(shapes.get(layer.weight_name, ())) >= 2
    ]
    eligible.sort(key=lambda layer: (-layer.parameters, layer.name))
    return eligible[:top_k]


def layer_sensitivity(
    handle: ModelHandle,
    structure: ModelStructure,
    feeds: Feeds,
    reference: Feeds,
    top_k: int,
    on_layer: Callable[[int, int, str], None] | None = None,
) -> list[LayerSensitivity]:
    """Score the ``top_k`` largest layers, most sensitive first."""
    layers = candidate_layers(structure, top_k)
    scores: list[float] = []
    with _scorer(handle, feeds, reference, len(layers)) as score:
        for index, layer in enumerate(layers):
            if on_layer:
                on_layer(index, len(layers), layer.name)
            scores.append(score(index, layer))
    ranked = sorted(zip(layers, scores, strict=True), key=lambda item: -item[1])
    return [
        LayerSensitivity(layer=layer.name, op_type=layer.op_type, metric=METRIC, score=score)
        for layer, score in ranked
    ]


@contextmanager
def _scorer(
    handle: ModelHandle, feeds: Feeds, reference: Feeds, count: int
) -> Iterator[LayerScore]:
    """The score of one layer (its position, its record) for this kind of model."""
    if isinstance(handle, TorchModelHandle):
        yield _torch_scorer(handle, feeds, reference)
    elif isinstance(handle, OnnxModelHandle):
        with _onnx_scorer(handle, feeds, reference, count) as score:
            yield score
    elif isinstance(handle, TFLiteModelHandle):
        from embodied_ai_architect.agents.analysis.tflite_stats import tflite_scorer

        yield tflite_scorer(handle, feeds, reference)
    else:
        raise AnalysisError(
            f"per-layer sensitivity is not implemented for {handle.framework} models",
            hint="set `sensitivity_top_k` to 0, or analyze the model's ONNX export",
            field="sensitivity_top_k",
        )


def _torch_scorer(handle: TorchModelHandle, feeds: Feeds, reference: Feeds) -> LayerScore:
    tensors = dict(handle.module.named_parameters())

    def score(index: int, layer: LayerRecord) -> float:
        weight = tensors.get(layer.weight_name or "")
        if weight is None:
            raise AnalysisError(
                f"layer {layer.name!r} has no parameter {layer.weight_name!r}",
                hint="report this as a bug with the model attached",
            )
        # HF's Conv1D stores weights as [in, out]; every other layer keeps out-channels first.
        axis = 1 if layer.op_type == "Conv1D" else 0
        original = weight.data
        try:
            # Swap the storage rather than copying into it: no clone of a large weight, and
            # tied parameters (an LM head sharing the embedding) see the change, as they would
            # after a real quantization.
            weight.data = fake_quantize_torch(original, axis)
            return relative_error(reference, handle.run(feeds))
        finally:
            weight.data = original

    return score


def _onnx_axis(model: onnx.ModelProto, layer: LayerRecord) -> int:
    if layer.op_type == "MatMul":
        return 1  # MatMul weights are [K, N]: N output channels in the last axis
    if layer.op_type == "Gemm":
        node = next((n for n in model.graph.node if n.name == layer.name), None)
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0) if node else 0
        return 0 if trans_b else 1
    return 0


@contextmanager
def _onnx_scorer(
    handle: OnnxModelHandle, feeds: Feeds, reference: Feeds, count: int
) -> Iterator[LayerScore]:
    import onnx

    from embodied_ai_architect.modelio.onnx_io import create_session

    model = onnx.load(str(handle.onnx_path))
    weights = OnnxWeights(model)
    with tempfile.TemporaryDirectory(prefix="branes-sensitivity-") as tmp:

        def score(index: int, layer: LayerRecord) -> float:
            source = weights.resolve(layer.weight_name or "")
            if source is None:
                # The structure pass named this weight, so the graph must hold it: a miss here
                # is our bug, reported with what reproduces it.
                raise AnalysisError(
                    f"ONNX node {layer.name!r}: weight {layer.weight_name!r} is not stored in "
                    "the graph (initializer or Constant, through Identity/Cast/DequantizeLinear)",
                    hint="report this as a bug with the model attached; reproduce by analysing "
                    f"{handle.onnx_path.name} with `sensitivity_top_k` {count}",
                )
            original = weights.read(source)
            if source.quantized or not np.issubdtype(original.dtype, np.floating):
                return 0.0  # already integer: INT8 changes nothing
            weights.write(source, fake_quantize(original, _onnx_axis(model, layer)))
            path = Path(tmp) / f"layer_{index}.onnx"
            try:
                onnx.save(model, str(path))
            finally:
                weights.write(source, original)
            session = create_session(path, threads=handle.threads)
            names = [o.name for o in session.get_outputs()]
            wanted = {i.name for i in session.get_inputs()}
            values = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
            return relative_error(reference, dict(zip(names, values, strict=True)))

        yield score
