"""Safety filter, typed observations, expert rollouts, JSONL traces and videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.errors import ConfigError, InputError, SimulationError
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.sim.env import SimEnv, make_scene
from embodied_ai_architect.sim.policy_io import ExpertPolicy, input_roles
from embodied_ai_architect.sim.rollout import run_episode, write_video
from embodied_ai_architect.sim.schemas import tokenize


def test_observation_is_typed() -> None:
    with SimEnv(make_scene("push", 3), image_size=32) as env:
        obs = env.reset()
        assert obs.state.dtype == np.float32 and obs.state.shape == (22,)
        assert obs.proprio.shape == (14,)
        assert obs.image is not None and obs.image.shape == (32, 32, 3)
        assert obs.image.dtype == np.uint8 and obs.image.std() > 0
        assert obs.obs_id == "push-3-0"
        assert obs.instruction.startswith("push the")
        assert obs.tokens.dtype == np.int64 and obs.tokens[0] == tokenize("push")[0]


def test_safety_filter_counts_every_limit() -> None:
    with SimEnv(make_scene("reach", 0)) as env:
        env.reset()
        outcome = env.step(np.array([np.nan, 0.0, 0.0]))
        assert not outcome.action.valid and "non_finite" in outcome.action.hits
        assert np.all(np.isfinite(outcome.action.executed))
        outcome = env.step(np.array([5.0, -5.0, 0.0]))
        assert not outcome.action.valid and "action_clamp" in outcome.action.hits
        assert np.allclose(outcome.action.clamped, [1.0, -1.0, 0.0])
        outcome = env.step(np.array([0.5, 0.0, 0.0]))
        assert outcome.action.valid and outcome.action.hits == []
        with pytest.raises(SimulationError, match="3 joints"):
            env.step(np.zeros(2))


def test_workspace_limit_vetoes_moving_out() -> None:
    with SimEnv(make_scene("reach", 0)) as env:
        env.reset()
        straight = np.zeros(3)
        filtered = env.safety.apply(np.array([0.0, -1.0, -1.0]), straight)  # fully stretched
        # A stretched arm longer than the workspace radius may not stretch further out.
        if sum(env.params.link_lengths) > env.safety.limits.workspace_radius:
            assert "workspace" not in filtered.hits  # folding in is always allowed
            out = env.safety.apply(np.zeros(3), straight)
            assert out.hits == []


@pytest.mark.parametrize(("family", "seed"), [("reach", 1000), ("push", 1000)])
def test_expert_solves_and_traces(family: str, seed: int, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = run_episode(make_scene(family, seed), ExpertPolicy(family), trace_path=trace)
    assert result.success
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(lines) == result.steps
    first = lines[0]
    assert set(first) >= {"step", "obs_id", "raw_output", "clamped_action", "reward", "contacts"}
    assert first["obs_id"] == f"{family}-{seed}-0"
    assert lines[-1]["success"] is True


def test_rollout_renders_a_gif(tmp_path: Path) -> None:
    frames: list[np.ndarray] = []
    run_episode(
        make_scene("reach", 1001), ExpertPolicy("reach"), frames=frames, frame_size=(96, 72)
    )
    path = write_video(frames, tmp_path / "episode.gif")
    from PIL import Image

    with Image.open(path) as image:
        assert image.n_frames == len(frames) > 5
    with pytest.raises(InputError, match="gif"):
        write_video(frames, tmp_path / "episode.avi")


def test_rollout_renders_an_mp4_that_reads_back(tmp_path: Path) -> None:
    import imageio.v2 as imageio  # the video extra; make setup installs it

    frames: list[np.ndarray] = []
    run_episode(
        make_scene("reach", 1001), ExpertPolicy("reach"), frames=frames, frame_size=(128, 96)
    )
    path = write_video(frames, tmp_path / "episode.mp4")
    decoded = imageio.mimread(path)
    assert len(decoded) == len(frames) > 5
    assert decoded[0].shape == frames[0].shape == (96, 128, 3)
    # The arm moves: the last frame is not the first one re-encoded.
    assert np.abs(decoded[-1].astype(int) - decoded[0].astype(int)).mean() > 1.0


def test_input_roles_follow_names() -> None:
    assert input_roles([TensorSpec(name="state", shape=[1, 15])]) == {"state": "state"}
    assert input_roles([TensorSpec(name="input", shape=["batch", 15])]) == {"input": "state"}
    roles = input_roles(
        [
            TensorSpec(name="image", shape=[1, 3, 64, 64]),
            TensorSpec(name="tokens", shape=[1, 8], dtype="int64"),
            TensorSpec(name="proprio", shape=[1, 14]),
        ]
    )
    assert roles == {"image": "image", "tokens": "tokens", "proprio": "proprio"}
    with pytest.raises(ConfigError, match="cannot tell"):
        input_roles([TensorSpec(name="a", shape=[1, 3]), TensorSpec(name="b", shape=[1, 3])])


def test_tokenizer_rejects_unknown_words() -> None:
    assert tokenize("reach the red ball").tolist()[:4] == [1, 3, 8, 4]
    with pytest.raises(InputError, match="unknown"):
        tokenize("grab the banana")
