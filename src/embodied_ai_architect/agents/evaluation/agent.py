"""The Evaluation agent: picks the task evaluator for a request and measures versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from embodied_ai_architect.agents.evaluation.accuracy import FidelityEvaluator, LabelledEvaluator
from embodied_ai_architect.agents.evaluation.data import EvalDataset, load_eval_dataset
from embodied_ai_architect.agents.evaluation.splits import SplitEvaluator, split_dataset
from embodied_ai_architect.errors import ConstraintError
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.evaluation import TaskEvaluator
from embodied_ai_architect.schemas.profile import OutputHead

FIDELITY_SAMPLES = 256


def build_evaluator(
    *,
    reference: ModelHandle,
    constraints: Constraints,
    eval_data: Path | None,
    eval_sim: str | None,
    max_samples: int,
    seed: int,
    detector: bool = False,
    head: OutputHead | None = None,
    metric: str | None = None,
    has_calibration_data: bool = False,
) -> TaskEvaluator:
    """Sim success for a suite; the user's ``--metric``; fidelity under an explicit
    ``--fidelity`` bound; labelled accuracy when the data has labels; else fidelity.

    Data-driven evaluators come as a :class:`SplitEvaluator`: calibration (unless
    ``has_calibration_data``), selection and held-out samples are disjoint."""
    fidelity_metric = constraints.fidelity.metric if constraints.fidelity else None
    if eval_sim:
        if metric is not None or constraints.fidelity is not None:
            raise ConstraintError(
                "`eval_sim` scores closed-loop success; `metric` / `fidelity` do not apply",
                hint="drop `metric` / `fidelity` and bound the success loss (points) with "
                "`max_accuracy_drop`",
                field="fidelity" if constraints.fidelity is not None else "metric",
            )
        from embodied_ai_architect.sim.evaluator import SimTaskEvaluator

        # Scenes are seeded by the suite itself, so every version sees the same episodes.
        evaluator: TaskEvaluator = SimTaskEvaluator(eval_sim)
        return evaluator
    if eval_data is not None:
        dataset = load_eval_dataset(eval_data, reference.inputs, max_samples=max_samples)
    else:
        dataset = _random_dataset(reference, seed, min(FIDELITY_SAMPLES, max_samples))
    if metric is not None:
        from embodied_ai_architect.agents.evaluation.user_metric import (
            UserMetricEvaluator,
            resolve_metric,
        )

        fn = resolve_metric(metric)
        return _split(
            dataset,
            lambda part: UserMetricEvaluator(metric, part, fn),
            calibrate=not has_calibration_data,
            seed=seed,
        )
    if constraints.min_accuracy is not None and dataset.labels is None:
        raise ConstraintError(
            "min_accuracy needs labelled evaluation data"
            + (" (the data given has no labels)" if eval_data is not None else " or a sim suite"),
            hint="add labels (y) to the evaluation data, give labelled `eval_data` or "
            "`eval_sim`, or use `max_accuracy_drop` / `fidelity`, measured as fidelity to the "
            "original",
            field="min_accuracy",
        )
    if dataset.labels is not None and fidelity_metric is None:
        return _split(dataset, LabelledEvaluator, calibrate=not has_calibration_data, seed=seed)
    # Without data: fidelity on seeded random inputs of the model's signature — weaker
    # evidence, which the report states by naming the evaluator.
    return _split(
        dataset,
        lambda part: FidelityEvaluator(
            part.inputs, detector=detector, head=head, metric=fidelity_metric
        ),
        calibrate=not has_calibration_data and eval_data is not None,
        seed=seed,
    )


def _random_dataset(reference: ModelHandle, seed: int, count: int) -> EvalDataset:
    from embodied_ai_architect.modelio.handle import make_feeds

    # ``count`` samples: FIDELITY_SAMPLES unless the request caps evaluation lower (a short
    # search on a large model). Cut in two disjoint halves (selection, held-out); the
    # calibration's random provider draws with the plain seed, these with another.
    # A model exported with a fixed batch of 1 still gets ``count`` samples (stacked here,
    # run one at a time by run_dataset), not one.
    batched = [
        spec.model_copy(update={"shape": ["batch", *spec.shape[1:]]})
        for spec in reference.inputs
        if spec.batch_first
    ]
    feeds = make_feeds(batched, batch=count, seed=seed + 1000) if batched else {}
    # Scalars (a sample rate) and inputs whose batch is not axis 0 (a recurrent state) get a
    # new leading sample axis; run_dataset feeds them one sample at a time.
    for spec in reference.inputs:
        if not spec.batch_first:
            samples = [
                make_feeds([spec], batch=1, seed=seed + 1000 + i)[spec.name] for i in range(count)
            ]
            feeds[spec.name] = np.stack(samples)
    ordered = {spec.name: feeds[spec.name] for spec in reference.inputs}
    return EvalDataset(ordered, None, "random inputs")


def _split(
    dataset: EvalDataset,
    factory: Callable[[EvalDataset], TaskEvaluator],
    *,
    calibrate: bool,
    seed: int,
) -> SplitEvaluator:
    parts = split_dataset(dataset, calibrate=calibrate, seed=seed)
    return SplitEvaluator(
        factory(parts.selection),
        factory(parts.held_out) if parts.held_out is not None else None,
        calibration_feeds=parts.calibration.inputs if parts.calibration is not None else None,
        sizes={
            "calibration": len(parts.calibration) if parts.calibration is not None else 0,
            "selection": len(parts.selection),
            "held_out": len(parts.held_out) if parts.held_out is not None else 0,
        },
    )
