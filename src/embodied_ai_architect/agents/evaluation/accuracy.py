"""Task evaluators: labelled accuracy, fidelity to the original model, or a pluggable one (sim).

All implement :class:`TaskEvaluator`; the pipeline picks one from the request and never branches
on which it got.
"""

from __future__ import annotations

import numpy as np

from embodied_ai_architect.agents.evaluation.data import EvalDataset, Feeds
from embodied_ai_architect.agents.evaluation.task import TaskScore
from embodied_ai_architect.errors import EvaluationError, InputError
from embodied_ai_architect.modelio.handle import ModelHandle

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
    fixed_one = any(spec.shape and spec.shape[0] == 1 for spec in handle.inputs)
    step = 1 if fixed_one else BATCH
    total = len(arrays[0])
    chunks: list[list[np.ndarray]] = []
    start = 0
    while start < total:
        feeds = {n: a[start : start + step] for n, a in zip(names, arrays, strict=True)}
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
    return [np.concatenate([c[i] for c in chunks], axis=0) for i in range(len(chunks[0]))]


class LabelledEvaluator:
    """Top-1 accuracy of the first output against integer labels."""

    name = "labelled"

    def __init__(self, dataset: EvalDataset):
        if dataset.labels is None:
            raise InputError(
                f"{dataset.source} has no labels", hint="add y, or use fidelity evaluation"
            )
        self.dataset = dataset

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


class FidelityEvaluator:
    """Agreement with the original model's outputs on the same inputs (no labels needed).

    Per output: classifier-shaped outputs (N, C) score top-1 agreement; everything else scores
    cosine similarity and reports the max abs difference. Detector heads (N, 4 + C, anchors) get
    boxes and class scores checked separately, because boxes dominate a whole-output cosine and
    hide destroyed class scores. The task value is the worst output's score.
    """

    name = "fidelity"

    def __init__(self, inputs: Feeds, *, detector: bool = False):
        self.inputs = inputs
        self.detector = detector
        self._reference_outputs: list[np.ndarray] | None = None

    def evaluate(self, handle: ModelHandle, *, reference: ModelHandle | None = None) -> TaskScore:
        if self._reference_outputs is None:
            if reference is None:
                raise EvaluationError(
                    "fidelity needs the original model as reference", hint="pass reference="
                )
            self._reference_outputs = run_dataset(reference, self.inputs)
        outputs = run_dataset(handle, self.inputs)
        if len(outputs) != len(self._reference_outputs):
            raise EvaluationError(
                f"version has {len(outputs)} outputs, the original {len(self._reference_outputs)}",
                hint="a technique changed the model's outputs; report this as a bug",
            )
        details: dict[str, dict[str, float]] = {}
        worst = 1.0
        for index, (want, got) in enumerate(zip(self._reference_outputs, outputs, strict=True)):
            for part, (w, g) in _parts(want, got, self.detector).items():
                figures = compare(w, g)
                details[f"output_{index}{part}"] = figures
                worst = min(worst, figures["score"])
        return TaskScore(
            evaluator=self.name,
            metric="fidelity",
            value=max(0.0, min(1.0, worst)),
            samples=len(next(iter(self.inputs.values()))),
            details=details,
        )


def _parts(
    want: np.ndarray, got: np.ndarray, detector: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
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
