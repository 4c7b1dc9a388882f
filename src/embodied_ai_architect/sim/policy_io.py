"""Policies as the rollout sees them, and the observation → model-input mapping.

The mapping is derived from a ModelHandle's input specs, so any version of a policy (torch,
ONNX, OpenVINO, quantized, pruned) runs unchanged:

============================  ==================================================
input name                    fed with
============================  ==================================================
state / obs / observation     the full task state vector, float32 [B, D]
image / pixels / rgb          the top-camera render, float32 [B, 3, H, W] in [0,1]
tokens / input_ids            the instruction's token ids, int64 [B, L]
proprio                       robot-only state (joints + fingertip), float32 [B, P]
============================  ==================================================

A model with a single rank-2 float input of another name is treated as a state policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import Feeds, ModelHandle
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.sim.schemas import Observation

if TYPE_CHECKING:
    from embodied_ai_architect.sim.env import SimEnv

ROLES = {
    "state": "state",
    "obs": "state",
    "observation": "state",
    "image": "image",
    "pixels": "image",
    "rgb": "image",
    "tokens": "tokens",
    "input_ids": "tokens",
    "instruction": "tokens",
    "proprio": "proprio",
}


class Policy(Protocol):
    """Anything that maps an observation to a raw action (before the safety filter)."""

    name: str
    image_size: int | None

    def act(self, observation: Observation, env: SimEnv) -> np.ndarray: ...


class ExpertPolicy:
    """The scripted expert of a family (privileged: reads the simulator)."""

    image_size: int | None = None

    def __init__(self, family: str) -> None:
        from embodied_ai_architect.sim.experts import EXPERTS

        if family not in EXPERTS:
            raise ConfigError(f"no expert for family {family!r}", hint=f"use {list(EXPERTS)}")
        self.name = f"expert-{family}"
        self._expert = EXPERTS[family]

    def act(self, observation: Observation, env: SimEnv) -> np.ndarray:
        del observation
        return self._expert(env)


def input_roles(inputs: list[TensorSpec]) -> dict[str, str]:
    """Map each model input name to the observation field it is fed from."""
    roles: dict[str, str] = {}
    for spec in inputs:
        role = ROLES.get(spec.name.lower())
        if role is None and len(inputs) == 1 and len(spec.shape) == 2:
            role = "state"  # a plain single-input policy (e.g. an ONNX 'input')
        if role is None:
            raise ConfigError(
                f"cannot tell what to feed the model input {spec.name!r} {spec.shape}",
                hint=f"name policy inputs after what they take: {', '.join(sorted(ROLES))}",
            )
        roles[spec.name] = role
    return roles


class HandlePolicy:
    """Runs any ModelHandle in closed loop; the first output is the action."""

    def __init__(self, handle: ModelHandle, *, name: str | None = None) -> None:
        from embodied_ai_architect.modelio.recurrent import RecurrentRunner

        self.handle = handle
        self.name = name or handle.name
        # A recurrent policy's state inputs are fed from its own previous outputs, not the env.
        self.runner = RecurrentRunner(handle)
        self.observed = [s for s in handle.inputs if s.name not in self.runner.state_inputs]
        self.roles = input_roles(self.observed)
        self.image_size: int | None = None
        for spec in self.observed:
            if self.roles[spec.name] == "image":
                height, width = spec.shape[-2], spec.shape[-1]
                if not (isinstance(height, int) and height == width and height > 0):
                    raise ConfigError(
                        f"image input {spec.name!r} must be square with a fixed size, "
                        f"got {spec.shape}",
                        hint="export the policy with a fixed image size, e.g. [1, 3, 64, 64]",
                    )
                self.image_size = height
        self._checked = False

    def feeds(self, observation: Observation) -> Feeds:
        feeds: Feeds = {}
        for spec in self.observed:
            role = self.roles[spec.name]
            if role == "image":
                assert observation.image is not None, "the env must render for image policies"
                value = observation.image.transpose(2, 0, 1).astype(np.float32) / 255.0
            elif role == "tokens":
                value = observation.tokens.astype(np.dtype(spec.dtype))
            else:
                value = getattr(observation, role)
            feeds[spec.name] = np.ascontiguousarray(value[None]).astype(
                np.dtype(spec.dtype), copy=False
            )
        if not self._checked:
            self._check_shapes(feeds)
        return feeds

    def _check_shapes(self, feeds: Feeds) -> None:
        for spec in self.observed:
            got = feeds[spec.name].shape
            want = spec.shape
            mismatched = len(got) != len(want) or any(
                isinstance(w, int) and w > 0 and i > 0 and w != g
                for i, (w, g) in enumerate(zip(want, got, strict=False))
            )
            if mismatched:
                raise ConfigError(
                    f"policy input {spec.name!r} expects {want} but this task gives {list(got)}",
                    hint="the model was trained for another task or scene family; evaluate it "
                    "on the suite it was trained for",
                )
        self._checked = True

    def act(self, observation: Observation, env: SimEnv) -> np.ndarray:
        del env
        if observation.step == 0:
            self.runner.reset()  # a new episode starts from zero recurrent state
        outputs = self.runner.run(self.feeds(observation))
        action = next(name for name in outputs if name not in self.runner.state_outputs)
        return np.asarray(outputs[action], dtype=np.float64).reshape(-1)
