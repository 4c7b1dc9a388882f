"""SimTaskEvaluator on real torch and ONNX policy versions (same scenes, same figures)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.evaluation import TaskEvaluator
from embodied_ai_architect.sim.evaluator import SimTaskEvaluator
from embodied_ai_architect.sim.models import StatePolicy


def _policy(obs_dim: int = 18) -> torch.nn.Module:
    torch.manual_seed(0)
    return StatePolicy(obs_dim=obs_dim, act_dim=3, hidden=32, depth=2)


def test_torch_and_onnx_versions_score_alike(tmp_path: Path) -> None:
    evaluator = SimTaskEvaluator(suite="reach-v0/smoke", limit=2, trace_dir=tmp_path / "traces")
    assert isinstance(evaluator, TaskEvaluator)
    assert evaluator.name == "sim:reach-v0/smoke"
    torch_handle = handle_from_module(_policy(), name="mlp")
    onnx_handle = export_onnx(torch_handle, tmp_path / "mlp.onnx")
    score = evaluator.evaluate(onnx_handle, reference=torch_handle)
    assert score.metric == "success_rate" and score.samples == 2
    details = score.details
    for key in (
        "mean_episode_length",
        "action_validity_rate",
        "safety_limit_hits",
        "latency_p50_ms",
        "latency_p95_ms",
        "manifest_digest",
        "reference_success_rate",
        "success_drop_pct",
    ):
        assert key in details
    assert details["action_validity_rate"] == 1.0  # tanh head: always within range
    reference = evaluator.run(torch_handle)
    result = evaluator.run(onnx_handle)
    # Same seeds, same scenes: the exported graph follows the same trajectories.
    assert [e.steps for e in result.per_episode] == [e.steps for e in reference.per_episode]
    assert (tmp_path / "traces" / "mlp" / "manifest.json").exists()


def test_policy_for_another_task_is_refused() -> None:
    evaluator = SimTaskEvaluator(suite="push-v0/smoke", limit=1)
    with pytest.raises(ConfigError, match="trained for another task"):
        evaluator.evaluate(handle_from_module(_policy(obs_dim=18), name="reach-mlp"))


def test_calibration_inputs_are_observations_of_training_scenes(tmp_path: Path) -> None:
    """What the pipeline calibrates INT8 on for --eval-sim: real observations, never the
    suite's own scenes, mapped to the model's inputs (here a VLA: image, tokens, proprio)."""
    import numpy as np

    from embodied_ai_architect.sim.models import TinyVLA
    from embodied_ai_architect.sim.training import policy_signature

    evaluator = SimTaskEvaluator(suite="reach-v0/smoke")
    handle = handle_from_module(TinyVLA().eval(), name="vla")
    handle.inputs = policy_signature("vla", {"proprio": np.zeros((1, 14))})
    feeds = evaluator.calibration_feeds(handle, count=40)
    assert set(feeds) == {"image", "tokens", "proprio"}
    assert feeds["image"].shape == (40, 3, 64, 64) and feeds["image"].dtype == np.float32
    assert feeds["image"].min() >= 0.0 and feeds["image"].max() <= 1.0
    assert feeds["image"].std() > 0.05  # renders, not a constant frame
    assert feeds["tokens"].dtype == np.int64 and feeds["proprio"].shape == (40, 14)
    # Every observation names its scene: all are training seeds (the suite starts at 1000).
    observations = evaluator._observations[(64, 40)]
    seeds = {int(o.obs_id.split("-")[1]) for o in observations}
    assert seeds and max(seeds) < 1000 and min(seeds) >= 900
    instructions = {tuple(t) for t in feeds["tokens"].tolist()}
    assert len(instructions) > 1  # several scenes, not one episode
    # Asking again maps the cached observations; a state policy gets state vectors.
    state_feeds = evaluator.calibration_feeds(handle_from_module(_policy(), name="m"), 40)
    assert list(state_feeds) == ["state"] and state_feeds["state"].shape == (40, 18)


def test_calibration_never_reaches_the_suites_seeds() -> None:
    from embodied_ai_architect.errors import EvaluationError
    from embodied_ai_architect.sim.evaluator import expert_observations

    with pytest.raises(EvaluationError, match="beyond seed 999"):
        expert_observations("reach", count=10_000, image_size=None, first_seed=990)
