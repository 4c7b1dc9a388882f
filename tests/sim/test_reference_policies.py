"""Slow: train the reference policies and compare optimized versions in closed loop.

Run with ``.venv/bin/pytest -m slow tests/sim/test_reference_policies.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.sim.evaluator import SimTaskEvaluator, SuiteResult, evaluate_policies
from embodied_ai_architect.sim.policy_io import HandlePolicy
from embodied_ai_architect.sim.training import train_policy
from embodied_ai_architect.sim.variants import int8_dynamic, magnitude_pruned

pytestmark = pytest.mark.slow


def _side_by_side(
    policy: Path, tmp_path: Path
) -> tuple[dict[str, ModelHandle], dict[str, SuiteResult]]:
    """FP32 (TorchScript), ONNX, dynamic INT8 and 50 % pruned, on the same 20 smoke scenes."""
    fp32 = load_model(policy)
    onnx = load_model(policy.with_suffix(".onnx"), threads=1)
    versions = {
        "fp32": fp32,
        "onnx": onnx,
        "int8": int8_dynamic(onnx, tmp_path / "int8.onnx"),  # type: ignore[arg-type]
        "pruned50": magnitude_pruned(fp32, 0.5),
    }
    _, results = evaluate_policies(
        "reach-v0/smoke", {name: HandlePolicy(h, name=name) for name, h in versions.items()}
    )
    assert abs(results["onnx"].success_rate - results["fp32"].success_rate) <= 0.05
    for name in ("onnx", "int8", "pruned50"):
        assert results[name].action_validity_rate == 1.0
        assert results[name].episodes == 20
    return versions, results


def test_mlp_reaches_90_percent_and_int8_pruned_side_by_side(tmp_path: Path) -> None:
    trained = train_policy("reach", "mlp", out=tmp_path / "reach-mlp.pt")
    versions, results = _side_by_side(trained.torchscript_path, tmp_path)
    assert results["fp32"].success_rate >= 0.9
    score = SimTaskEvaluator(suite="reach-v0/smoke").evaluate(
        versions["int8"], reference=versions["fp32"]
    )
    assert score.details["success_drop_pct"] == pytest.approx(
        100 * (results["fp32"].success_rate - results["int8"].success_rate)
    )


# The session fixture trains the VLA first, inside this test's time: about 9 minutes on the AMX
# Xeon, over the default 10-minute timeout on the AVX512 Xeon without AMX.
@pytest.mark.timeout(2400)
def test_vla_reaches_90_percent_and_int8_pruned_side_by_side(
    reach_vla: Path, tmp_path: Path
) -> None:
    """The default recipe: image + instruction → action, trained once per session."""
    versions, results = _side_by_side(reach_vla, tmp_path)
    assert [s.name for s in versions["fp32"].inputs] == ["image", "tokens", "proprio"]
    assert results["fp32"].success_rate >= 0.9
