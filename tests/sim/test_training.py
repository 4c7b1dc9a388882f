"""Behaviour-cloning plumbing on a tiny budget (the real training runs are slow tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.sim.training import collect_demos, default_policy_path, train_policy


def test_demos_are_labelled_and_stay_off_suite_seeds() -> None:
    demos = collect_demos("reach", episodes=2)
    count = demos["action"].shape[0]
    assert all(array.shape[0] == count for array in demos.values())
    assert np.all(np.abs(demos["action"]) <= 1.0)
    with pytest.raises(ConfigError, match=r"0\.\.999"):
        collect_demos("reach", episodes=5, first_seed=998)


def test_train_policy_writes_loadable_torchscript_and_onnx(tmp_path: Path) -> None:
    result = train_policy(
        "reach", "mlp", out=tmp_path / "p.pt", episodes=2, epochs=1, dagger_rounds=1
    )
    assert result.episodes == 3  # 2 expert episodes + 1 DAgger episode
    torch_handle = load_model(result.torchscript_path)
    onnx_handle = load_model(result.onnx_path)
    assert [s.name for s in torch_handle.inputs] == ["state"]
    assert [s.name for s in onnx_handle.inputs] == ["state"]
    feeds = torch_handle.example_inputs()
    a = next(iter(torch_handle.run(feeds).values()))
    b = next(iter(onnx_handle.run(feeds).values()))
    assert a.shape == (1, 3) and np.allclose(a, b, atol=1e-4)
    assert Path(result.torchscript_path).with_suffix(".json").exists()


def test_train_policy_refuses_a_seed_budget_beyond_the_training_range(tmp_path: Path) -> None:
    """Checked before any data is collected: the DAgger rounds would reach suite seeds."""
    with pytest.raises(ConfigError, match=r"4 DAgger rounds of 300 need 1800 training seeds"):
        train_policy("reach", "mlp", out=tmp_path / "p.pt", episodes=600, dagger_rounds=4)
    with pytest.raises(ConfigError, match="rounds ≥ 0"):
        train_policy("reach", "mlp", out=tmp_path / "p.pt", episodes=2, dagger_rounds=-1)
    assert not (tmp_path / "p.pt").exists()


def test_vla_demos_carry_where_the_instructed_objects_are() -> None:
    reach = collect_demos("reach", episodes=1, image_size=32)
    push = collect_demos("push", episodes=1, image_size=32)
    count = reach["action"].shape[0]
    assert reach["keypoints"].shape == (count, 1, 2)
    assert push["keypoints"].shape == (push["action"].shape[0], 2, 2)
    assert np.all(np.abs(reach["keypoints"]) < 1)
    # The goal never moves during a reach episode; the pushed puck does.
    assert np.ptp(reach["keypoints"][:, 0], axis=0).max() < 1e-6
    assert "keypoints" not in collect_demos("reach", episodes=1)


def test_default_location_is_the_workspace(isolated_workspace: Path) -> None:
    assert default_policy_path("push", "vla") == isolated_workspace / "policies" / "push-vla.pt"


def test_saved_vla_reloads_and_reexports_to_onnx(tmp_path: Path) -> None:
    """The optimization pipeline loads the .pt and exports it again: that must work."""
    import torch

    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.sim.models import TinyVLA
    from embodied_ai_architect.sim.training import policy_signature, save_policy

    torch.manual_seed(0)
    shapes = {"state": np.zeros((1, 18)), "proprio": np.zeros((1, 14))}
    save_policy(TinyVLA(), policy_signature("vla", shapes), tmp_path / "v.pt", meta={})
    handle = load_model(tmp_path / "v.pt")
    assert [s.name for s in handle.inputs] == ["image", "tokens", "proprio"]
    exported = export_onnx(handle, tmp_path / "again.onnx")  # checks outputs match
    assert [s.name for s in exported.inputs] == ["image", "tokens", "proprio"]
