"""What a model's outputs mean, read from their shapes (and the family for vectors).

Shape rules only, so they work on any exported graph:

* YOLO-style single tensor: one 3-D output (N, 4+C, A) with A ≫ 4+C (v8/v11: boxes cx, cy, w, h
  then class scores) or (N, A, 5+C) with A ≫ 5+C (v5/v7: boxes, objectness, class scores);
* SSD / DETR style: a box output (N, A, 4) beside a score output (N, A, C) or (N, C, A);
* fully convolutional: a (N, 4, h, w) box-offset map beside a (N, C, h, w) score map;
* PicoDet / GFL style: per feature level, class scores (N, A_l, C) beside box distance
  distributions (N, A_l, 4 × bins) over the same anchors;
* dense maps: a 4-D output (N, K, H, W) at the image input's height and width, K differing
  from the input's channels (segmentation, DBNet-style text detection);
* sequences (from the values, when given): (N, T, V) whose rows are distributions (CTC OCR);
* vectors: class scores for classifiers, actions for policies, embeddings for encoders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embodied_ai_architect.schemas.profile import HeadKind, OutputHead

Shape = Sequence[int | str | None]

_MIN_ANCHORS = 64  # a detector proposes many more anchors than it has box + class channels
_POLICY_FAMILIES = ("mlp_policy", "transformer_policy", "vla")
_ENCODER_FAMILIES = ("transformer_encoder", "decoder_llm")


def _dims(shape: Shape) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def _image(inputs: Sequence[Shape]) -> tuple[int | None, int, int] | None:
    """(channels, height, width) of the first image input."""
    for shape in inputs:
        dims = _dims(shape)
        if len(dims) == 4 and dims[2] is not None and dims[3] is not None:
            return dims[1], dims[2], dims[3]
    return None


# One-tensor YOLO heads: layout, whether channels come before anchors, the channels that are not
# class scores, and the shape as the evidence names it.
_SINGLE_TENSOR = (
    (
        "boxes_first",
        True,
        4,
        "(batch, 4 box + {classes} class channels, {anchors} anchors), YOLOv8-style head",
    ),
    (
        "anchors_first_objectness",
        False,
        5,
        "(batch, {anchors} anchors, 4 box + objectness + {classes} classes), YOLOv5-style head",
    ),
)


def _single_tensor_detector(index: int, dims: list[int | None]) -> OutputHead | None:
    if len(dims) != 3 or dims[1] is None or dims[2] is None:
        return None
    for layout, channels_first, not_classes, shape in _SINGLE_TENSOR:
        channels, anchors = (dims[1], dims[2]) if channels_first else (dims[2], dims[1])
        if channels > not_classes and anchors >= _MIN_ANCHORS and anchors > 4 * channels:
            classes = channels - not_classes
            return OutputHead(
                kind=HeadKind.DETECTOR,
                layout=layout,
                output=index,
                classes=classes,
                evidence=f"output {index} {dims}: "
                + shape.format(classes=classes, anchors=anchors),
            )
    return None


Dims = list[int | None]


@dataclass(frozen=True)
class _PairRule:
    """A detector whose boxes and class scores are two outputs: which output can hold the boxes,
    which other output then holds the scores (→ layout and class count), and the evidence."""

    boxes: Callable[[Dims], bool]
    scores: Callable[[Dims, Dims], tuple[str, int] | None]
    evidence: Callable[[int, Dims, int, Dims], str]


def _split_scores(boxes: Dims, scores: Dims) -> tuple[str, int] | None:
    if len(scores) != 3:
        return None
    if scores[1] == boxes[1] and scores[2] is not None and scores[2] != 4:
        return "split", scores[2]
    if scores[2] == boxes[1] and scores[1] is not None:
        return "split_classes_first", scores[1]
    return None


# SSD / DETR: boxes (N, A, 4) beside scores (N, A, C) or (N, C, A).
_SPLIT = _PairRule(
    boxes=lambda boxes: len(boxes) == 3 and boxes[2] == 4 and boxes[1] is not None,
    scores=_split_scores,
    evidence=lambda b, boxes, s, scores: (
        f"box output {b} {boxes} (last dimension 4) beside "
        f"class scores {s} {scores} over the same {boxes[1]} anchors (SSD / DETR style)"
    ),
)
# Fully convolutional (MTCNN P-Net): a (N, 4, h, w) box-offset map beside a (N, C, h, w) score map.
_GRID = _PairRule(
    boxes=lambda boxes: len(boxes) == 4 and boxes[1] == 4 and None not in boxes[2:],
    scores=lambda boxes, scores: (
        ("split_grid", scores[1])
        if len(scores) == 4 and scores[2:] == boxes[2:] and scores[1] not in (None, 4)
        else None
    ),
    evidence=lambda b, boxes, s, scores: (
        f"box-offset map {b} {boxes} (4 channels) beside score "
        f"map {s} {scores} on the same {boxes[2]}×{boxes[3]} grid (MTCNN P-Net style, fully "
        "convolutional)"
    ),
)
# SSD with keypoints (BlazeFace): regressors (N, A, 4 + 2k) beside scores (N, A, C) with fewer
# channels; the first 4 regressor channels are the box (anchor-relative).
_REGRESSORS = _PairRule(
    boxes=lambda boxes: (
        len(boxes) == 3
        and boxes[1] is not None
        and boxes[2] is not None
        and boxes[2] >= 6
        and boxes[2] % 2 == 0
    ),
    scores=lambda boxes, scores: (
        ("split_regressors", scores[2])
        if len(scores) == 3
        and scores[1] == boxes[1]
        and scores[2] is not None
        and scores[2] < (boxes[2] or 0)
        else None
    ),
    evidence=lambda b, boxes, s, scores: (
        f"regressors {b} {boxes} (4 box + "
        f"{((boxes[2] or 0) - 4) // 2} keypoint channels) beside scores {s} {scores} over the same "
        f"{boxes[1]} anchors (SSD with keypoints, BlazeFace style)"
    ),
)


def _paired_detector(outputs: list[Dims], rule: _PairRule) -> OutputHead | None:
    for b_index, boxes in enumerate(outputs):
        if not rule.boxes(boxes):
            continue
        for s_index, scores in enumerate(outputs):
            found = rule.scores(boxes, scores) if s_index != b_index else None
            if found is not None:
                layout, classes = found
                return OutputHead(
                    kind=HeadKind.DETECTOR,
                    layout=layout,
                    output=b_index,
                    scores_output=s_index,
                    classes=classes,
                    evidence=rule.evidence(b_index, boxes, s_index, scores),
                )
    return None


_STRIDES = (4, 8, 16, 32, 64, 128)


def _stride(anchors: int, hw: tuple[int, int]) -> int:
    """The stride whose grid over the input has ``anchors`` cells (0: none does)."""
    for stride in _STRIDES:
        if -(-hw[0] // stride) * -(-hw[1] // stride) == anchors:
            return stride
    return 0


def _multilevel_detector(outputs: list[list[int | None]], hw: tuple[int, int]) -> OutputHead | None:
    """Per-level class scores (N, A_l, C) beside box distance distributions (N, A_l, 4·bins)."""
    by_anchors: dict[int, list[tuple[int, int]]] = {}
    for index, shape in enumerate(outputs):
        if len(shape) != 3 or shape[1] is None or shape[2] is None:
            return None
        by_anchors.setdefault(shape[1], []).append((index, shape[2]))
    if len(by_anchors) < 2 or any(len(pair) != 2 for pair in by_anchors.values()):
        return None
    levels: list[list[int]] = []
    channels: set[tuple[int, int]] = set()
    for anchors, pair in sorted(by_anchors.items(), key=lambda item: -item[0]):
        (a, ca), (b, cb) = pair
        # The box output's channels are a multiple of 4 (bins per side); the larger one if both.
        if cb % 4 == 0 and (ca % 4 != 0 or cb > ca):
            score, box = (a, ca), (b, cb)
        elif ca % 4 == 0:
            score, box = (b, cb), (a, ca)
        else:
            return None
        channels.add((score[1], box[1]))
        levels.append([score[0], box[0], _stride(anchors, hw)])
    if len(channels) != 1:
        return None
    classes, box_channels = channels.pop()
    strides = [level[2] for level in levels]
    return OutputHead(
        kind=HeadKind.DETECTOR,
        layout="multilevel",
        output=levels[0][0],
        classes=classes,
        levels=levels,
        image_size=list(hw),
        evidence=f"{len(levels)} levels of class scores (…, {classes}) beside box distributions "
        f"(…, {box_channels} = 4 sides × {box_channels // 4} bins) over the same anchors, "
        f"strides {strides} (PicoDet / GFL-style head)",
    )


def _sequence(index: int, array: np.ndarray) -> OutputHead | None:
    """(N, T, V) whose last axis is a probability distribution: a per-position recognizer."""
    if array.ndim != 3 or array.shape[2] < 2 or array.size == 0:
        return None
    sums = array.astype(np.float64).sum(axis=2)
    if array.min() < 0 or not np.allclose(sums, 1.0, atol=1e-3):
        return None
    return OutputHead(
        kind=HeadKind.SEQUENCE,
        layout="sequence",
        output=index,
        classes=int(array.shape[2]),
        evidence=f"output {index} {list(array.shape)}: a probability distribution over "
        f"{array.shape[2]} symbols at each of {array.shape[1]} positions (sums to 1: a CTC-style "
        "sequence recognizer, not box rows)",
    )


def classify_outputs(
    outputs: Sequence[Shape],
    inputs: Sequence[Shape],
    family: str | None = None,
    values: Sequence[np.ndarray] | None = None,
) -> OutputHead:
    """The output head of a model with these output and input shapes (batch first).

    ``values``: the outputs themselves, when known; they tell a per-position distribution
    (rows summing to 1) from a YOLO head of the same shape."""
    dims = [_dims(s) for s in outputs]
    image = _image(inputs)
    for index, array in enumerate(values or []):
        if (head := _sequence(index, np.asarray(array))) is not None:
            return head
    if image is not None:
        if (head := _paired_detector(dims, _SPLIT) or _paired_detector(dims, _GRID)) is not None:
            return head
        if len(dims) == 2 and (head := _paired_detector(dims, _REGRESSORS)) is not None:
            return head
        for index, shape in enumerate(dims):
            if (head := _single_tensor_detector(index, shape)) is not None and len(dims) <= 2:
                return head
        channels, hw = image[0], (image[1], image[2])
        if len(dims) >= 4 and (head := _multilevel_detector(dims, hw)) is not None:
            return head
        for index, shape in enumerate(dims):
            # As many channels as the input: an image-to-image model (denoiser), not a map.
            if len(shape) == 4 and tuple(shape[2:]) == hw and shape[1] != channels:
                return OutputHead(
                    kind=HeadKind.DENSE_MAP,
                    layout="map",
                    output=index,
                    classes=shape[1],
                    evidence=f"output {index} {shape}: a {shape[1]}-channel map at the input's "
                    f"{hw[0]}×{hw[1]} resolution (segmentation / text detection)",
                )
    if not dims:
        return OutputHead(kind=HeadKind.OTHER, evidence="no outputs")
    first = dims[0]
    if family in _POLICY_FAMILIES and len(first) == 2:
        return OutputHead(
            kind=HeadKind.ACTION,
            layout="vector",
            classes=first[1],
            evidence=f"{family}: output {first} is an action vector",
        )
    if family in _ENCODER_FAMILIES and len(first) in (2, 3):
        return OutputHead(
            kind=HeadKind.EMBEDDING,
            layout="tokens" if len(first) == 3 else "vector",
            classes=first[-1],
            evidence=f"{family}: output {first} holds feature vectors"
            + (" per token (mean-pooled to compare)" if len(first) == 3 else ""),
        )
    if len(first) == 2 and first[1] is not None and first[1] >= 2:
        return OutputHead(
            kind=HeadKind.CLASS_SCORES,
            layout="vector",
            classes=first[1],
            evidence=f"output {first}: one score per class",
        )
    return OutputHead(kind=HeadKind.OTHER, evidence=f"outputs {dims}: no head rule matched")
