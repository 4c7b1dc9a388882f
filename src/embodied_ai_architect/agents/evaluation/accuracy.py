"""Task evaluators: labelled accuracy, fidelity to the original model, or a pluggable one (sim).

All implement :class:`TaskEvaluator`; the pipeline picks one from the request and never branches
on which it got.
"""

from __future__ import annotations

import numpy as np

from embodied_ai_architect.agents.evaluation.data import EvalDataset, Feeds
from embodied_ai_architect.agents.evaluation.heads import classify_outputs
from embodied_ai_architect.agents.evaluation.task_fidelity import (
    action_fidelity,
    as_probabilities,
    box_layout,
    decode_grid,
    decode_multilevel,
    dense_map_fidelity,
    detector_fidelity,
    embedding_fidelity,
    sequence_fidelity,
    split_yolo,
)
from embodied_ai_architect.errors import ConstraintError, EvaluationError, InputError
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.schemas.constraints import FIDELITY_METRICS
from embodied_ai_architect.schemas.evaluation import TaskEvaluator, TaskScore
from embodied_ai_architect.schemas.profile import HeadKind, OutputHead

BATCH = 64


def run_dataset(handle: ModelHandle, inputs: Feeds) -> list[np.ndarray]:
    """Run ``handle`` over stacked inputs (batched when the model allows it); outputs in order."""
    # Inputs are keyed by the original model's names; versions may rename them, so map by position.
    arrays = list(inputs.values())
    names = [spec.name for spec in handle.inputs]
    if len(names) != len(arrays):
        raise EvaluationError(
            f"model {handle.name!r} takes {len(names)} inputs, the data has {len(arrays)}",
            hint="the evaluation data must match the model's inputs",
        )
    # Inputs without a batch axis 0 (scalars, a recurrent state) carry one sample per row and
    # are fed a row at a time.
    stacked = [not spec.batch_first for spec in handle.inputs]
    fixed_one = any(spec.shape and spec.shape[0] == 1 for spec in handle.inputs)
    step = 1 if fixed_one or any(stacked) else BATCH
    total = len(arrays[0])
    chunks: list[list[np.ndarray]] = []
    start = 0
    while start < total:
        feeds = {
            n: np.asarray(a[start]) if row else a[start : start + step]
            for n, a, row in zip(names, arrays, stacked, strict=True)
        }
        try:
            outputs = list(handle.run(feeds).values())
        except InputError:
            raise
        except Exception as exc:  # runtimes raise their own types; a fixed batch shows up here
            if step == 1:
                raise EvaluationError(
                    f"running {handle.name!r} on the evaluation data failed: {exc}",
                    hint="check that the evaluation data matches the model's inputs",
                ) from exc
            step, chunks, start = 1, [], 0
            continue
        chunks.append(outputs)
        start += step
    if any(stacked):
        # Row-fed samples: each output gets a leading sample axis (a state output [2, 1, 128]
        # per sample must not be concatenated along its own first axis).
        return [np.stack([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    return [np.concatenate([c[i] for c in chunks], axis=0) for i in range(len(chunks[0]))]


class LabelledEvaluator(TaskEvaluator):
    """Top-1 accuracy of the first output against integer labels."""

    name = "labelled"

    def __init__(self, dataset: EvalDataset):
        if dataset.labels is None:
            raise InputError(
                f"{dataset.source} has no labels", hint="add y, or use fidelity evaluation"
            )
        self.dataset = dataset

    def screen_size(self) -> int:
        return len(self.dataset)

    def screen(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None, samples: int = 32
    ) -> TaskScore:
        """The same score on the first ``samples`` samples (a cheap check before timing)."""
        return LabelledEvaluator(self.dataset.take(samples)).evaluate(handle, reference=reference)

    def evaluate(self, handle: ModelHandle, *, reference: ModelHandle | None = None) -> TaskScore:
        del reference
        logits = run_dataset(handle, self.dataset.inputs)[0]
        labels = self.dataset.labels
        assert labels is not None
        if logits.ndim != 2 or logits.shape[1] < 2:
            raise EvaluationError(
                f"labelled accuracy needs class scores (N, classes); output has shape {logits.shape}",
                hint="omit labels to measure fidelity to the original instead",
            )
        predictions = logits.argmax(axis=1)
        return TaskScore(
            evaluator=self.name,
            metric="top1_accuracy",
            value=float((predictions == labels).mean()),
            samples=len(labels),
        )


# --fidelity metric names → the figure each task part reports under that name.
FIDELITY_FIGURES = {
    "cosine": "cosine",
    "top1": "top1_agreement",
    "map50": "map50",
    "class_agreement": "class_agreement",
    "iou": "iou",
    "neighbour": "neighbour",
    "action": "action",
}
assert tuple(FIDELITY_FIGURES) == FIDELITY_METRICS  # one list of names for schema and evaluator


def _same_model(handle: ModelHandle, reference: ModelHandle | None) -> bool:
    """Whether ``handle`` is the reference itself (or a thread-pinned copy of the same file)."""
    if reference is None:
        return False
    if handle is reference:
        return True
    # Duck-typed stand-ins (a runtime session wrapped by a benchmark) may carry no path.
    path = getattr(handle, "path", None)
    return (
        path is not None
        and path == getattr(reference, "path", None)
        and getattr(handle, "framework", None) is getattr(reference, "framework", None)
    )


class FidelityEvaluator(TaskEvaluator):
    """Agreement with the original model's outputs on the same inputs (no labels needed).

    Every output gets cosine / max-abs-diff (and top-1 agreement for (N, C) scores); the output
    head (from the profile, or read from the shapes) adds the task's own figures: detectors are
    decoded (boxes + NMS) and judged by class agreement on confident anchors and mAP@0.5 against
    the original's detections; dense maps by IoU of the thresholded map; embeddings by cosine and
    neighbour agreement; policies by action error. The task value is the worst part's score, or
    the named ``metric`` (``--fidelity map50:0.98``) when one is given.
    """

    name = "fidelity"

    def __init__(
        self,
        inputs: Feeds,
        *,
        detector: bool = False,
        head: OutputHead | None = None,
        metric: str | None = None,
    ):
        if metric is not None and metric not in FIDELITY_FIGURES:
            raise ConstraintError(
                f"unknown fidelity metric {metric!r}",
                hint=f"set `fidelity` to one of {', '.join(FIDELITY_FIGURES)} with its bound, "
                "e.g. cosine:0.995",
                field="fidelity",
            )
        self.inputs = inputs
        self.detector = detector
        self.head = head
        self.metric = metric
        self._reference_outputs: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def _reference(self, reference: ModelHandle | None) -> list[np.ndarray]:
        if self._reference_outputs is None:
            if reference is None:
                raise EvaluationError(
                    "fidelity needs the original model as reference", hint="pass reference="
                )
            self._reference_outputs = run_dataset(reference, self.inputs)
            if self.head is None:
                self.head = classify_outputs(
                    [list(o.shape) for o in self._reference_outputs],
                    [list(a.shape) for a in self.inputs.values()],
                    values=self._reference_outputs,
                )
        return self._reference_outputs

    def screen(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None, samples: int = 32
    ) -> TaskScore:
        """The same score on the first ``samples`` inputs only (a cheap check before timing)."""
        return self.evaluate(handle, reference=reference, limit=samples)

    def evaluate(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None, limit: int | None = None
    ) -> TaskScore:
        wanted = self._reference(reference)
        inputs = self.inputs
        if limit is not None and limit < len(self):
            inputs = {k: v[:limit] for k, v in inputs.items()}
            wanted = [w[:limit] for w in wanted]
        # The original scored against itself (v0, and the held-out baseline) agrees by definition:
        # running it a second time cost a full pass over the data on every run.
        outputs = wanted if _same_model(handle, reference) else run_dataset(handle, inputs)
        if len(outputs) != len(wanted):
            raise EvaluationError(
                f"version has {len(outputs)} outputs, the original {len(wanted)}",
                hint="a technique changed the model's outputs; report this as a bug",
            )
        details: dict[str, dict[str, float]] = {}
        headline: dict[str, float] = {}
        for index, (want, got) in enumerate(zip(wanted, outputs, strict=True)):
            legacy = self.detector and (self.head is None or self.head.kind is HeadKind.OTHER)
            for part, (w, g) in _parts(want, got, legacy).items():
                figures = compare(w, g)
                details[f"output_{index}{part}"] = figures
                headline[f"output_{index}{part}"] = figures["score"]
        if self.head is not None:
            for key, figures in task_parts(self.head, wanted, outputs).items():
                details[key] = figures
                output_key = key.split(":", 1)[0]
                headline.pop(output_key, None)  # the task's figure replaces the generic one
                headline[key] = figures["score"]
        value = min(headline.values()) if headline else 1.0
        metric = "fidelity"
        if self.metric is not None:
            name = FIDELITY_FIGURES[self.metric]
            values = [f[name] for f in details.values() if name in f]
            if not values:
                raise ConstraintError(
                    f"fidelity metric {self.metric!r} does not apply to this model's outputs "
                    f"({self.head.kind.value if self.head else 'unknown'} head; figures: "
                    f"{sorted({k for f in details.values() for k in f})})",
                    hint="choose a metric the outputs have, e.g. cosine",
                )
            value, metric = min(values), f"fidelity_{self.metric}"
        return TaskScore(
            evaluator=self.name,
            metric=metric,
            value=max(0.0, min(1.0, value)),
            samples=len(next(iter(inputs.values()))),
            details=details,
        )


def task_parts(
    head: OutputHead, wanted: list[np.ndarray], outputs: list[np.ndarray]
) -> dict[str, dict[str, float]]:
    """The task figures of the head's output(s), keyed ``output_<i>:<part>``."""
    i = head.output
    if i >= len(wanted):
        return {}
    want, got = wanted[i], outputs[i]
    if head.kind is HeadKind.DETECTOR:
        if head.layout == "multilevel" and head.levels:
            wb, ws = decode_multilevel(wanted, head.levels, head.image_size)
            gb, gs = decode_multilevel(outputs, head.levels, head.image_size)
            figures = detector_fidelity(wb, ws, gb, gs, layout="xyxy")
            return {
                f"output_{index}:detections": figures
                for level in head.levels
                for index in level[:2]
            }
        if head.layout in ("boxes_first", "anchors_first_objectness") and want.ndim == 3:
            wb, ws = split_yolo(want, head.layout)
            gb, gs = split_yolo(got, head.layout)
            return {f"output_{i}:detections": detector_fidelity(wb, ws, gb, gs, layout="cxcywh")}
        if head.layout == "split_grid" and head.scores_output is not None:
            wb, ws = decode_grid(want, wanted[head.scores_output])
            gb, gs = decode_grid(got, outputs[head.scores_output])
            figures = detector_fidelity(wb, ws, gb, gs, layout="xyxy")
            return {
                f"output_{i}:detections": figures,
                f"output_{head.scores_output}:detections": figures,
            }
        if head.layout == "split_regressors" and head.scores_output is not None:
            # Anchor-relative boxes without the anchors: each anchor keeps its own place far
            # from the others, so NMS never merges two anchors and each is judged alone.
            apart = np.arange(want.shape[1], dtype=np.float64)[None, :, None] * 1e4
            wb = _xyxy_apart(want[..., :4], apart)
            gb = _xyxy_apart(got[..., :4], apart)
            ws = as_probabilities(wanted[head.scores_output])
            gs = as_probabilities(outputs[head.scores_output])
            figures = detector_fidelity(wb, ws, gb, gs, layout="xyxy")
            return {
                f"output_{i}:detections": figures,
                f"output_{head.scores_output}:detections": figures,
            }
        if head.scores_output is not None and head.scores_output < len(wanted):
            ws, gs = wanted[head.scores_output], outputs[head.scores_output]
            if head.layout == "split_classes_first":
                ws, gs = np.transpose(ws, (0, 2, 1)), np.transpose(gs, (0, 2, 1))
            ws, gs = as_probabilities(ws), as_probabilities(gs)
            figures = detector_fidelity(want, ws, got, gs, layout=box_layout(want))
            return {
                f"output_{i}:detections": figures,
                f"output_{head.scores_output}:detections": figures,
            }
        return {}
    if head.kind is HeadKind.SEQUENCE and want.ndim == 3:
        return {f"output_{i}:sequence": sequence_fidelity(want, got)}
    if head.kind is HeadKind.DENSE_MAP and want.ndim == 4:
        return {f"output_{i}:map": dense_map_fidelity(want, got)}
    if head.kind is HeadKind.EMBEDDING and want.ndim in (2, 3):
        return {f"output_{i}:embedding": embedding_fidelity(want, got)}
    if head.kind is HeadKind.ACTION:
        return {f"output_{i}:action": action_fidelity(want, got)}
    return {}


def _xyxy_apart(boxes: np.ndarray, apart: np.ndarray) -> np.ndarray:
    cx, cy, w, h = (boxes[..., k].astype(np.float64) for k in range(4))
    x = cx[..., None] + apart
    half_w, half_h = np.abs(w)[..., None] / 2, np.abs(h)[..., None] / 2
    y = cy[..., None]
    return np.concatenate([x - half_w, y - half_h, x + half_w, y + half_h], axis=-1)


def _parts(
    want: np.ndarray, got: np.ndarray, detector: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    # A (N, 4 + C, anchors) head whose shape rules could not place it: boxes and class scores
    # are still compared apart, because the boxes dominate a joint cosine.
    if detector and want.ndim == 3 and want.shape[1] > 4:
        return {
            ":boxes": (want[:, :4], got[:, :4]),
            ":scores": (want[:, 4:], got[:, 4:]),
        }
    return {"": (want, got)}


def compare(want: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Cosine, max abs diff and (for (N, C) outputs) top-1 agreement; ``score`` is the headline."""
    if want.shape != got.shape:
        raise EvaluationError(
            f"output shape changed: {want.shape} → {got.shape}",
            hint="a technique changed the model's output shape; report this as a bug",
        )
    a = want.astype(np.float64).reshape(len(want), -1)
    b = got.astype(np.float64).reshape(len(got), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.where(norms > 0, (a * b).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
    figures = {
        "cosine": float(cosine.mean()),
        "min_cosine": float(cosine.min()),
        "max_abs_diff": float(np.abs(a - b).max()) if a.size else 0.0,
    }
    if want.ndim == 2 and want.shape[1] > 1:
        figures["top1_agreement"] = float((want.argmax(1) == got.argmax(1)).mean())
        figures["score"] = figures["top1_agreement"]
    else:
        figures["score"] = figures["cosine"]
    return figures
