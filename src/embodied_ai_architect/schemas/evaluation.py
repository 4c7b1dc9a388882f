"""The task-evaluator contract: accuracy as the task defines it (labels, fidelity, simulation).

Every evaluator says explicitly what it can do beyond ``evaluate``: score a cheap subset
(``screen`` / ``screen_size``) and give calibration inputs (``calibration_feeds``); the defaults
say "cannot". The pipeline calls these methods, never probes for attributes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

if TYPE_CHECKING:
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


class BoundResolution(BaseModel):
    """How finely the selection data resolves the accuracy bound (agents/evaluation/resolution)."""

    units: int = Field(
        ge=1, description="Things the original's score counts on the selection data."
    )
    unit: str = Field(description="What they are: reference detections, episodes, samples.")
    step_points: float = Field(description="One unit, in points of the score.")
    allowed_points: float = Field(description="The loss the bound allows, in points.")
    resolves: bool = Field(description="Whether one unit is within the allowed loss.")
    message: str


class TaskEvaluator(ABC):
    """Scores a model version; ``reference`` is the original model (v0) for fidelity metrics."""

    name: str = "task"

    @abstractmethod
    def evaluate(self, handle: ModelHandle, *, reference: ModelHandle | None = None) -> TaskScore:
        """The score of ``handle`` on the evaluator's whole selection data."""

    def screen_size(self) -> int:
        """How many samples a screen can draw from (0: this evaluator cannot screen)."""
        return 0

    def screen(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None, samples: int = 32
    ) -> TaskScore | None:
        """The same score on the first ``samples`` samples (None: cannot screen)."""
        del handle, reference, samples
        return None

    def calibration_feeds(self, handle: ModelHandle, count: int) -> dict[str, np.ndarray] | None:
        """Up to ``count`` calibration inputs named like ``handle``'s inputs, drawn apart from
        the samples that select and report versions (None: the evaluator has none)."""
        del handle, count
        return None
