"""SimTaskEvaluator on real torch and ONNX policy versions (same scenes, same figures)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from embodied_ai_architect.agents.evaluation.task import TaskEvaluator
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.torch_io import handle_from_module
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
