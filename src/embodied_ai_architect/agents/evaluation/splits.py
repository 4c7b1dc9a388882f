"""Disjoint samples for calibration, selection and the reported (held-out) figure.

A search that picks the version scoring best on some samples overfits them (NNCF's accuracy
control validated on 64 samples reached 96.9 % there and 92.2 % on the rest). So the evaluation
data is shuffled once (seeded) and cut in three: calibration inputs (when no separate
``--calibration-data`` is given), the selection set every candidate is judged on, and a held-out
set scored only for the original and the final choice; the report gives that held-out figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embodied_ai_architect.agents.evaluation.data import EvalDataset, Feeds
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.schemas.evaluation import TaskEvaluator, TaskScore

CALIBRATION_MAX = 128
MIN_HELD_OUT = 8  # fewer samples left than 2 × this: no held-out set (the report says so)


@dataclass(frozen=True)
class Split:
    calibration: EvalDataset | None
    selection: EvalDataset
    held_out: EvalDataset | None


def _subset(dataset: EvalDataset, index: np.ndarray) -> EvalDataset:
    return EvalDataset(
        {k: np.ascontiguousarray(v[index]) for k, v in dataset.inputs.items()},
        None if dataset.labels is None else dataset.labels[index],
        dataset.source,
    )


def split_dataset(dataset: EvalDataset, *, calibrate: bool, seed: int) -> Split:
    """Shuffle once (seeded: class-sorted folders must not end up in one part) and cut."""
    count = len(dataset)
    order = np.random.default_rng(seed).permutation(count)
    calibration = None
    if calibrate and count >= 4 * MIN_HELD_OUT:
        take = min(CALIBRATION_MAX, count // 4)
        calibration, order = _subset(dataset, order[:take]), order[take:]
    if len(order) < 2 * MIN_HELD_OUT:
        return Split(calibration, _subset(dataset, order), None)
    half = len(order) // 2
    return Split(calibration, _subset(dataset, order[:half]), _subset(dataset, order[half:]))


class SplitEvaluator(TaskEvaluator):
    """Judges candidates on the selection set; scores the held-out set only when asked."""

    def __init__(
        self,
        selection: TaskEvaluator,
        held_out: TaskEvaluator | None,
        *,
        calibration_feeds: Feeds | None,
        sizes: dict[str, int],
    ):
        self.selection = selection
        self.held_out = held_out
        self.calibration_part = calibration_feeds
        self.sizes = sizes
        self.name = selection.name

    def screen_size(self) -> int:
        return self.selection.screen_size()

    def screen(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None, samples: int = 32
    ) -> TaskScore | None:
        return self.selection.screen(handle, reference=reference, samples=samples)

    def calibration_feeds(self, handle: ModelHandle, count: int) -> dict[str, np.ndarray] | None:
        """The calibration part of the data, under ``handle``'s input names (by position)."""
        if self.calibration_part is None:
            return None
        arrays = [np.asarray(a)[:count] for a in self.calibration_part.values()]
        return dict(zip([s.name for s in handle.inputs], arrays, strict=True))

    def evaluate(self, handle: ModelHandle, *, reference: ModelHandle | None = None) -> TaskScore:
        return self.selection.evaluate(handle, reference=reference)

    def evaluate_held_out(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None
    ) -> TaskScore | None:
        if self.held_out is None:
            return None
        return self.held_out.evaluate(handle, reference=reference)
