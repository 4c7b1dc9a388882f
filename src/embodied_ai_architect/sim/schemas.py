"""Typed observations, actions, trace records and episode results for closed-loop rollouts.

Actions are normalized joint-velocity commands in ``[-1, 1]`` per joint; the environment turns
them into position targets (``q + a · max_joint_step``) after the safety filter. Observations
carry everything any policy kind needs; :mod:`.policy_io` picks what a given model consumes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

VOCAB: tuple[str, ...] = (
    "<pad>",
    "reach",
    "push",
    "the",
    "ball",
    "puck",
    "to",
    "goal",
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "cyan",
)
TOKEN_LENGTH = 8


def tokenize(instruction: str) -> np.ndarray:
    """Word-level ids over the fixed task vocabulary, padded to ``TOKEN_LENGTH`` (int64)."""
    from embodied_ai_architect.errors import InputError

    words = instruction.lower().split()
    unknown = [w for w in words if w not in VOCAB]
    if unknown or len(words) > TOKEN_LENGTH:
        raise InputError(
            f"instruction {instruction!r} cannot be tokenized "
            f"({'unknown words ' + str(unknown) if unknown else 'too long'})",
            hint=f"use at most {TOKEN_LENGTH} words from: {' '.join(VOCAB[1:])}",
        )
    ids = np.zeros(TOKEN_LENGTH, dtype=np.int64)
    ids[: len(words)] = [VOCAB.index(w) for w in words]
    return ids


class Observation(BaseModel):
    """What the robot perceives at one control step."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    step: int = Field(ge=0)
    obs_id: str = Field(description="'<family>-<seed>-<step>': joins trace lines to scenes")
    state: np.ndarray = Field(description="full task state (float32): joints, fingertip, goal...")
    proprio: np.ndarray = Field(
        description="robot-only state (float32): joints, fingertip, link lengths"
    )
    instruction: str
    tokens: np.ndarray = Field(description=f"int64 [{TOKEN_LENGTH}] instruction ids")
    image: np.ndarray | None = Field(
        default=None, description="uint8 H×W×3 top-camera render, when the policy needs one"
    )

    @field_validator("state", "proprio")
    @classmethod
    def _finite_vector(cls, value: np.ndarray) -> np.ndarray:
        if value.ndim != 1 or not np.all(np.isfinite(value)):
            raise ValueError("state vectors must be finite 1-D arrays")
        return value.astype(np.float32, copy=False)

    @field_validator("image")
    @classmethod
    def _image(cls, value: np.ndarray | None) -> np.ndarray | None:
        if value is not None and (
            value.ndim != 3 or value.shape[2] != 3 or value.dtype != np.uint8
        ):
            raise ValueError("images must be uint8 H×W×3")
        return value


class SafetyLimits(BaseModel):
    """Guardrails applied in code to every action before it reaches the simulator."""

    model_config = ConfigDict(frozen=True)

    action_low: float = Field(default=-1.0, description="per-joint lower clamp")
    action_high: float = Field(default=1.0, description="per-joint upper clamp")
    max_joint_step: float = Field(
        default=0.2, gt=0, description="rad of target change per control step at |a| = 1"
    )
    workspace_radius: float = Field(
        default=0.62, gt=0, description="fingertip must stay within this distance of the base (m)"
    )
    keepout_radius: float = Field(
        default=0.08, ge=0, description="fingertip must stay this far from the base column (m)"
    )


class FilteredAction(BaseModel):
    """The safety filter's verdict on one raw model output."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    raw: np.ndarray
    clamped: np.ndarray = Field(description="finite, clamped to the action range")
    executed: np.ndarray = Field(description="what was applied (zero when a limit vetoed it)")
    target_qpos: np.ndarray
    valid: bool = Field(description="finite and within range before clamping")
    hits: list[str] = Field(default_factory=list, description="limits that fired this step")


class StepRecord(BaseModel):
    """One line of the JSONL action trace."""

    step: int
    obs_id: str
    raw_output: list[float | None] = Field(description="model output; non-finite → null")
    clamped_action: list[float]
    executed_action: list[float]
    valid: bool
    limit_hits: list[str]
    reward: float
    success: bool
    contacts: list[str]
    latency_ms: float = Field(description="policy inference + simulation step")


class EpisodeResult(BaseModel):
    family: str
    seed: int
    xml_sha256: str
    success: bool
    steps: int
    total_reward: float
    final_distance: float
    valid_actions: int
    limit_hits: dict[str, int] = Field(default_factory=dict)
    latencies_ms: list[float] = Field(default_factory=list, exclude=True)

    def to_row(self) -> dict[str, Any]:
        return self.model_dump()
