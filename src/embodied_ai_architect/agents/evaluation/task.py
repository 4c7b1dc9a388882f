"""The task-evaluator interface: accuracy as the task defines it (labels, fidelity, simulation)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from embodied_ai_architect.modelio.handle import ModelHandle


class TaskScore(BaseModel):
    """One accuracy-like figure for a model version, as a fraction in [0, 1]."""

    evaluator: str = Field(description="Which evaluator produced it: labelled, fidelity, sim:...")
    metric: str = Field(description="What the value is, e.g. top1_accuracy, success_rate.")
    value: float = Field(ge=0, le=1)
    samples: int = Field(ge=0, description="How many samples / episodes it is based on.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Per-output or per-episode figures behind the value."
    )


@runtime_checkable
class TaskEvaluator(Protocol):
    """Scores a model version; ``reference`` is the original model (v0) for fidelity-style metrics."""

    name: str

    def evaluate(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None
    ) -> TaskScore: ...
