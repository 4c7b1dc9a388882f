"""Fidelity per task part: detector boxes and classes, dense maps, embeddings, actions.

Each function compares the original's outputs (``want``) with a version's (``got``) on the same
inputs and returns figures with a headline ``score`` in [0, 1]. A whole-tensor cosine cannot see
a detector whose class scores were destroyed (the boxes dominate it), so detectors are decoded
and judged as detections: class agreement on confident anchors and mAP@0.5 against the
original's own detections after NMS.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.25  # detection threshold of the original's detections (YOLO's default)
CANDIDATE_CONFIDENCE = 0.05  # a version's detections enter the precision-recall curve from here
NMS_IOU = 0.45
MATCH_IOU = 0.5
MAX_DETECTIONS = 300
MIN_CONFIDENT = 16  # fewer confident anchors than this: judge the top-scoring ones instead
MAP_THRESHOLD = 0.5  # binary maps in [0, 1]; logit maps are thresholded at 0
MIN_FOREGROUND = 0.001  # below this share of pixels over the threshold, use the map's own range
# Nearly empty maps: a pixel disagrees only when the two maps sit on opposite sides of the
# threshold by more than this share of the original map's range (FP32 rounding between two
# runtimes moved a text detector's 1e-4-high map by 1.2e-7, 0.1 % of its range).
RANGE_TOLERANCE = 0.01


def _xyxy(boxes: np.ndarray, layout: str) -> np.ndarray:
    if layout == "xyxy":
        return boxes
    cx, cy, w, h = (boxes[..., i] for i in range(4))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def box_layout(boxes: np.ndarray) -> str:
    """xyxy when (nearly) every box has x2 ≥ x1 and y2 ≥ y1, else centre + size."""
    flat = boxes.reshape(-1, 4)
    ordered = (flat[:, 2] >= flat[:, 0]) & (flat[:, 3] >= flat[:, 1])
    return "xyxy" if ordered.mean() >= 0.99 else "cxcywh"


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in ``a`` (n, 4) with every box in ``b`` (m, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def detections(
    boxes: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class-wise greedy NMS of one image: xyxy boxes (A, 4), scores (A, C) → boxes, scores,
    classes of the kept detections (at most MAX_DETECTIONS, best first)."""
    classes = scores.argmax(axis=1)
    best = scores.max(axis=1)
    keep = np.flatnonzero(best >= threshold)
    keep = keep[np.argsort(-best[keep], kind="stable")][: 10 * MAX_DETECTIONS]
    chosen: list[int] = []
    for cls in np.unique(classes[keep]):
        order = keep[classes[keep] == cls]
        while order.size:
            top = order[0]
            chosen.append(int(top))
            if order.size == 1:
                break
            overlap = iou_matrix(boxes[top : top + 1], boxes[order[1:]])[0]
            order = order[1:][overlap <= NMS_IOU]
    kept = np.asarray(sorted(chosen, key=lambda i: -best[i])[:MAX_DETECTIONS], dtype=np.int64)
    return boxes[kept], best[kept], classes[kept]


def _average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    # All-point interpolation (VOC 2010+ / COCO style, without the 101-point sampling).
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(((r[steps + 1] - r[steps]) * p[steps + 1]).sum())


def map50(
    truth: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> float | None:
    """mAP@0.5 of ``found`` against ``truth`` (per image: boxes, scores, classes); None when the
    truth holds no detection at all."""
    classes = sorted({int(c) for _, _, cls in truth for c in cls})
    if not classes:
        return None
    aps = []
    for cls in classes:
        total = sum(int((c == cls).sum()) for _, _, c in truth)
        records: list[tuple[float, bool]] = []
        for (t_boxes, _, t_cls), (f_boxes, f_scores, f_cls) in zip(truth, found, strict=True):
            gt = t_boxes[t_cls == cls]
            mine = np.flatnonzero(f_cls == cls)
            mine = mine[np.argsort(-f_scores[mine], kind="stable")]
            used = np.zeros(len(gt), dtype=bool)
            overlaps = iou_matrix(f_boxes[mine], gt) if len(gt) and len(mine) else None
            for row, index in enumerate(mine):
                hit = False
                if overlaps is not None:
                    candidates = np.where(used, -1.0, overlaps[row])
                    j = int(candidates.argmax())
                    if candidates[j] >= MATCH_IOU:
                        used[j], hit = True, True
                records.append((float(f_scores[index]), hit))
        if not records:
            aps.append(0.0)
            continue
        records.sort(key=lambda r: -r[0])
        hits = np.asarray([h for _, h in records], dtype=np.float64)
        tp = np.cumsum(hits)
        precision = tp / np.arange(1, len(hits) + 1)
        aps.append(_average_precision(tp / total, precision))
    return float(np.mean(aps))


def detector_fidelity(
    want_boxes: np.ndarray,
    want_scores: np.ndarray,
    got_boxes: np.ndarray,
    got_scores: np.ndarray,
    *,
    layout: str,
) -> dict[str, float]:
    """Boxes (N, A, 4) and class scores (N, A, C) of the original and a version.

    ``score`` = the lower of class agreement on the original's confident anchors and mAP@0.5
    against the original's detections (class agreement alone when it detects nothing)."""
    want_xyxy, got_xyxy = _xyxy(want_boxes, layout), _xyxy(got_boxes, layout)
    confidence = want_scores.max(axis=2)
    confident = confidence >= CONFIDENCE
    if confident.sum() < MIN_CONFIDENT:
        # Few confident anchors (random inputs, an untrained head): the top-scoring ones stand in.
        count = min(confidence.size, max(MIN_CONFIDENT, confidence.size // 100))
        top = np.argsort(-confidence, axis=None)[:count]
        confident = np.zeros(confidence.size, dtype=bool)
        confident[top] = True
        confident = confident.reshape(confidence.shape)
    agree = want_scores.argmax(axis=2) == got_scores.argmax(axis=2)
    anchor_iou = np.asarray(
        [
            iou_matrix(want_xyxy[n][i : i + 1], got_xyxy[n][i : i + 1])[0, 0]
            for n, i in zip(*np.nonzero(confident), strict=True)
        ]
    )
    truth = [detections(want_xyxy[n], want_scores[n], CONFIDENCE) for n in range(len(want_boxes))]
    found = [
        detections(got_xyxy[n], got_scores[n], CANDIDATE_CONFIDENCE) for n in range(len(got_boxes))
    ]
    figures = {
        "class_agreement": float(agree[confident].mean()),
        "box_iou": float(anchor_iou.mean()) if anchor_iou.size else 1.0,
        "confident_anchors": float(confident.sum()),
        "detections": float(sum(len(t[0]) for t in truth)),
    }
    mean_ap = map50(truth, found)
    if mean_ap is not None:
        figures["map50"] = mean_ap
    figures["score"] = min(figures["class_agreement"], mean_ap if mean_ap is not None else 1.0)
    return figures


def split_yolo(output: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, A, 4) and class probabilities (N, A, C) of a single-tensor YOLO head."""
    if layout == "boxes_first":
        rows = np.transpose(output, (0, 2, 1))
        return rows[..., :4], rows[..., 4:]
    return output[..., :4], output[..., 5:] * output[..., 4:5]


def decode_multilevel(
    outputs: list[np.ndarray], levels: list[list[int]], image_size: list[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """xyxy boxes (N, A, 4) and class probabilities (N, A, C) of a PicoDet / GFL-style head.

    Each side's distance is the expectation of its softmax over the bins (one bin: the value
    itself), in stride units from the anchor centre. A level whose stride is unknown keeps its
    anchors on a grid far apart, so NMS never merges them: each anchor is then judged alone."""
    all_boxes, all_scores = [], []
    offset = 0.0
    for score_index, box_index, stride in levels:
        scores, dist = outputs[score_index], outputs[box_index].astype(np.float64)
        batch, anchors, channels = dist.shape
        bins = channels // 4
        dist = dist.reshape(batch, anchors, 4, bins)
        if bins > 1:
            weights = np.exp(dist - dist.max(axis=3, keepdims=True))
            weights /= weights.sum(axis=3, keepdims=True)
            dist = (weights * np.arange(bins)).sum(axis=3)
        else:
            dist = dist[..., 0]
        if stride and image_size:
            columns = -(-image_size[1] // stride)
            index = np.arange(anchors)
            cx = (index % columns + 0.5) * stride
            cy = (index // columns + 0.5) * stride
            scale = float(stride)
        else:
            cx = offset + np.arange(anchors) * 1e4
            cy = np.zeros(anchors)
            offset += anchors * 1e4
            scale = 1.0
        boxes = np.stack(
            [
                cx - dist[..., 0] * scale,
                cy - dist[..., 1] * scale,
                cx + dist[..., 2] * scale,
                cy + dist[..., 3] * scale,
            ],
            axis=-1,
        )
        all_boxes.append(boxes)
        all_scores.append(as_probabilities(scores))
    return np.concatenate(all_boxes, axis=1), np.concatenate(all_scores, axis=1)


def decode_grid(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4, h, w) offsets + (N, C, h, w) scores → xyxy boxes (N, h·w, 4) around unit grid
    cells and probabilities (N, h·w, C) (softmax over C when they are not probabilities)."""
    n, _, h, w = boxes.shape
    rows, cols = np.divmod(np.arange(h * w), w)
    offsets = boxes.reshape(n, 4, h * w).transpose(0, 2, 1).astype(np.float64)
    grid = np.stack([cols, rows, cols + 1, rows + 1], axis=-1).astype(np.float64)
    flat = scores.reshape(n, scores.shape[1], h * w).transpose(0, 2, 1).astype(np.float64)
    if flat.size and (flat.min() < 0 or flat.max() > 1):
        flat = np.exp(flat - flat.max(axis=2, keepdims=True))
        flat /= flat.sum(axis=2, keepdims=True)
    return grid[None] + offsets, flat


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Scores already in [0, 1] stay; logits go through a sigmoid (per class, as YOLO/SSD do)."""
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        return 1 / (1 + np.exp(-np.clip(scores, -50, 50)))
    return scores


def dense_map_fidelity(want: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """IoU of the thresholded map (one channel) or mean IoU of the arg-max classes (several)."""
    if want.shape[1] == 1:
        threshold = MAP_THRESHOLD if want.min() >= 0 and want.max() <= 1 else 0.0
        if (want[:, 0] > threshold).mean() < MIN_FOREGROUND:
            # Almost nothing above the fixed threshold (a text detector on random inputs): an
            # IoU of two empty masks says nothing, so compare the map's peaks instead.
            return faint_map_fidelity(want[:, 0], got[:, 0])
        a, b = want[:, 0] > threshold, got[:, 0] > threshold
        union = np.logical_or(a, b).sum()
        iou = float(np.logical_and(a, b).sum() / union) if union else 1.0
        return {"iou": iou, "threshold": threshold, "foreground": float(a.mean()), "score": iou}
    a, b = want.argmax(axis=1), got.argmax(axis=1)
    ious = []
    for cls in np.unique(a):
        union = np.logical_or(a == cls, b == cls).sum()
        ious.append(np.logical_and(a == cls, b == cls).sum() / union)
    iou = float(np.mean(ious))
    return {"iou": iou, "pixel_agreement": float((a == b).mean()), "score": iou}


def faint_map_fidelity(want: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """IoU of the upper half of the original map's own range, with a tolerance.

    A ranked cut (the top 1 % of pixels) of a map whose values are all near zero is decided by
    rounding: ORT and OpenVINO FP32 gave 0.57–0.67 IoU on the same text detector. Here the
    threshold is the middle of the original's range, and a pixel counts against the version only
    when one map is clearly above it (by ``RANGE_TOLERANCE`` of the range) and the other not even
    near it: peaks that move, vanish or appear lower the score; noise-level wobble does not.
    """
    low, high = float(want.min()), float(want.max())
    span = high - low
    # A floor for (nearly) constant maps: a millionth of a probability, or of the map's scale.
    scale = 1.0 if low >= 0 and high <= 1 else max(abs(low), abs(high))
    tolerance = max(RANGE_TOLERANCE * span, 1e-6 * scale, 1e-30)
    threshold = low + 0.5 * span
    strong_a, strong_b = want > threshold + tolerance, got > threshold + tolerance
    near_a, near_b = want > threshold - tolerance, got > threshold - tolerance
    union = np.logical_or(strong_a, strong_b)
    matched = (strong_a & near_b) | (strong_b & near_a)
    count = int(union.sum())
    iou = float(matched.sum() / count) if count else 1.0
    return {
        "iou": iou,
        "threshold": threshold,
        "tolerance": tolerance,
        "foreground": float(strong_a.mean()),
        "peak_pixels": float(count),
        "score": iou,
    }


def embedding_fidelity(want: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Cosine per sample and neighbour agreement: does each sample keep its nearest neighbour
    (and its top-5 neighbours) among the others? ``score`` is the mean cosine."""
    a = want.reshape(len(want), -1, want.shape[-1]).mean(axis=1).astype(np.float64)
    b = got.reshape(len(got), -1, got.shape[-1]).mean(axis=1).astype(np.float64)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-30)
    cosine = (a * b).sum(axis=1)
    figures = {"cosine": float(cosine.mean()), "min_cosine": float(cosine.min())}
    if len(a) >= 3:
        sim_a, sim_b = a @ a.T, b @ b.T
        np.fill_diagonal(sim_a, -np.inf)
        np.fill_diagonal(sim_b, -np.inf)
        k = min(5, len(a) - 1)
        top_a = np.argsort(-sim_a, axis=1)[:, :k]
        top_b = np.argsort(-sim_b, axis=1)[:, :k]
        figures["neighbour"] = float((top_a[:, 0] == top_b[:, 0]).mean())
        figures["neighbour_recall_at_5"] = float(
            np.mean([len(set(x) & set(y)) / k for x, y in zip(top_a, top_b, strict=True)])
        )
    figures["score"] = figures["cosine"]
    return figures


def action_fidelity(want: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Action error: mean / max absolute error, and ``score`` = 1 − RMS error / RMS action."""
    a = want.astype(np.float64).reshape(len(want), -1)
    b = got.astype(np.float64).reshape(len(got), -1)
    error = a - b
    scale = float(np.sqrt((a**2).mean())) or 1.0
    relative = float(np.sqrt((error**2).mean())) / scale
    return {
        "action_mae": float(np.abs(error).mean()),
        "action_max_error": float(np.abs(error).max()) if error.size else 0.0,
        "action": max(0.0, 1.0 - relative),
        "score": max(0.0, 1.0 - relative),
    }


def sequence_fidelity(want: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Per-position top-1 agreement (``score``) and how many greedy CTC decodings (repeats
    merged, symbol 0 = blank dropped) come out identical."""
    a, b = want.argmax(axis=2), got.argmax(axis=2)

    def decode(row: np.ndarray) -> tuple[int, ...]:
        merged = [int(s) for i, s in enumerate(row) if i == 0 or s != row[i - 1]]
        return tuple(s for s in merged if s != 0)

    same = [decode(x) == decode(y) for x, y in zip(a, b, strict=True)]
    agreement = float((a == b).mean())
    return {
        "top1_agreement": agreement,
        "sequence_match": float(np.mean(same)),
        "score": agreement,
    }
