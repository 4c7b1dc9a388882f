"""The Evaluation agent: picks the task evaluator for a request and measures versions."""

from __future__ import annotations

from pathlib import Path

from embodied_ai_architect.agents.evaluation.accuracy import FidelityEvaluator, LabelledEvaluator
from embodied_ai_architect.agents.evaluation.data import load_eval_dataset
from embodied_ai_architect.agents.evaluation.task import TaskEvaluator
from embodied_ai_architect.errors import ConstraintError
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.schemas.constraints import Constraints
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
) -> TaskEvaluator:
    """Labelled accuracy when the data has labels, sim success for a suite, else fidelity."""
    if eval_sim:
        from embodied_ai_architect.sim.evaluator import SimTaskEvaluator

        # Scenes are seeded by the suite itself, so every version sees the same episodes.
        evaluator: TaskEvaluator = SimTaskEvaluator(eval_sim)
        return evaluator
    if eval_data is not None:
        dataset = load_eval_dataset(eval_data, reference.inputs, max_samples=max_samples)
        if dataset.labels is not None:
            return LabelledEvaluator(dataset)
        if constraints.min_accuracy is not None:
            raise ConstraintError(
                "min_accuracy needs labelled evaluation data (the data given has no labels)",
                hint="add labels (y) to the evaluation data, or use --max-accuracy-drop, "
                "which is measured as fidelity to the original",
            )
        return FidelityEvaluator(dataset.inputs, detector=detector, head=head)
    if constraints.min_accuracy is not None:
        raise ConstraintError(
            "min_accuracy needs labelled evaluation data or a simulation suite",
            hint="pass --eval-data (labelled) or --eval-sim, or use --max-accuracy-drop",
        )
    # No data: fidelity on seeded random inputs of the model's signature — weaker evidence,
    # which the report states by naming the evaluator.
    from embodied_ai_architect.modelio.handle import make_feeds

    feeds = make_feeds(reference.inputs, batch=FIDELITY_SAMPLES, seed=seed)
    return FidelityEvaluator(feeds, detector=detector, head=head)
