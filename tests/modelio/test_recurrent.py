"""Recurrent models carry their state between calls: explicit state inputs/outputs (ONNX) and
state kept inside a TorchScript module, in a runner and in closed-loop sim rollouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from embodied_ai_architect.modelio.handle import TorchModelHandle
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.modelio.recurrent import RecurrentRunner, state_bindings
from embodied_ai_architect.schemas.tensors import TensorSpec


class GRUPolicy(nn.Module):
    """obs + hidden state in, action + next hidden state out (the usual recurrent export)."""

    def __init__(self, obs: int = 18, hidden: int = 16, act: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.cell = nn.GRUCell(obs, hidden)
        self.head = nn.Linear(hidden, act)

    def forward(self, state: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hn = self.cell(state, h)
        return torch.tanh(self.head(hn)), hn


class InternalState(nn.Module):
    """Keeps a running sum inside, like Silero VAD's TorchScript (reset_states())."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("total", torch.zeros(1, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.total = self.total + x
        return self.total.clone()

    @torch.jit.export
    def reset_states(self) -> None:
        self.total = torch.zeros(1, 4)


def _gru_onnx(tmp_path: Path) -> Path:
    """Exported the way users export recurrent policies: named state in and out."""
    path = tmp_path / "gru.onnx"
    torch.onnx.export(
        GRUPolicy().eval(),
        (torch.zeros(1, 18), torch.zeros(1, 16)),
        str(path),
        input_names=["state", "h"],
        output_names=["action", "hn"],
        dynamo=False,
    )
    return path


def test_state_pairs_are_found_by_name_and_shape() -> None:
    inputs = [TensorSpec(name="input", shape=[1, 512]), TensorSpec(name="state", shape=[2, 1, 128])]
    outputs = [
        TensorSpec(name="output", shape=[1, 1]),
        TensorSpec(name="stateN", shape=[2, 1, 128]),
    ]
    assert [(b.input, b.output) for b in state_bindings(inputs, outputs)] == [("state", "stateN")]
    mismatched = [TensorSpec(name="stateN", shape=[2, 1, 64])]
    assert state_bindings(inputs, mismatched) == []


def test_runner_feeds_the_next_state_back_like_the_unrolled_module(tmp_path: Path) -> None:
    handle = load_model(_gru_onnx(tmp_path))
    runner = RecurrentRunner(handle)
    assert runner.stateful and runner.state_inputs == {"h"}
    module = GRUPolicy().eval()
    rng = np.random.default_rng(0)
    steps = [rng.standard_normal((1, 18)).astype(np.float32) for _ in range(4)]
    h = torch.zeros(1, 16)
    for obs in steps:
        with torch.no_grad():
            expected, h = module(torch.from_numpy(obs), h)
        got = runner.run({"state": obs})
        action = next(v for k, v in got.items() if k not in runner.state_outputs)
        np.testing.assert_allclose(action, expected.numpy(), atol=1e-5)
    runner.reset()
    first = runner.run({"state": steps[0]})
    again = RecurrentRunner(handle).run({"state": steps[0]})
    for name in first:
        np.testing.assert_allclose(first[name], again[name], atol=1e-6)


def test_internal_state_is_reset_per_call_unless_a_runner_carries_it() -> None:
    scripted = torch.jit.script(InternalState())
    handle = TorchModelHandle(
        scripted,
        name="sum",
        source_format="torchscript",  # type: ignore[arg-type]
        path=None,
        inputs=[TensorSpec(name="x", shape=[1, 4])],
    )
    ones = {"x": np.ones((1, 4), np.float32)}
    # Independent calls: the same feed gives the same output (analysis, fidelity checks).
    assert handle.run(ones)["output"][0, 0] == handle.run(ones)["output"][0, 0] == 1.0
    runner = RecurrentRunner(handle)
    assert runner.stateful and not runner.bindings
    assert [runner.run(ones)["output"][0, 0] for _ in range(3)] == [1.0, 2.0, 3.0]
    runner.reset()
    assert runner.run(ones)["output"][0, 0] == 1.0


def test_a_recurrent_policy_carries_its_state_through_a_sim_episode(tmp_path: Path) -> None:
    from embodied_ai_architect.sim.env import make_scene
    from embodied_ai_architect.sim.policy_io import HandlePolicy
    from embodied_ai_architect.sim.rollout import run_episode

    policy = HandlePolicy(load_model(_gru_onnx(tmp_path)))
    assert [s.name for s in policy.observed] == ["state"]  # h is fed back, not observed
    seen: list[float] = []
    original = policy.runner.run

    def spy(feeds):  # type: ignore[no-untyped-def]
        seen.append(float(np.abs(policy.runner.state["h"]).sum()))
        return original(feeds)

    policy.runner.run = spy  # type: ignore[method-assign]
    for _ in range(2):
        run_episode(make_scene("reach", 0), policy, max_steps=4)
    # Each episode starts from zero state and carries a non-zero state afterwards.
    assert seen[0] == 0.0 and all(v > 0 for v in seen[1:4])
    assert seen[4] == 0.0 and all(v > 0 for v in seen[5:8])
