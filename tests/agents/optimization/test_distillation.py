"""distill: KD loss goes down, the student beats an untrained one, students are derived or refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.data.calibration import random_provider
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import TorchModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.testing.digits import DigitsSplit, accuracy, train_digits_cnn
from embodied_ai_architect.testing.models import MLPPolicy, SmallCNN, TinyDetector, count_parameters


@pytest.fixture(scope="module")
def digits() -> tuple[SmallCNN, DigitsSplit]:
    return train_digits_cnn(epochs=4, seed=0)


def _module(handle: object) -> nn.Module:
    assert isinstance(handle, TorchModelHandle)
    return handle.module


def test_distill_smaller_student_on_digits(
    tmp_path: Path, digits: tuple[SmallCNN, DigitsSplit]
) -> None:
    teacher, split = digits
    events: list[ProgressEvent] = []
    ctx = TechniqueContext(
        workdir=tmp_path / "work", training_data=(split.x_train, split.y_train), sink=events.append
    )
    result = apply_technique(
        "distill",
        handle_from_module(teacher),
        ctx,
        {"student": "smaller", "ratio": 0.5, "epochs": 4},
    )
    student = _module(result.handle)
    assert student.features[0].out_channels == 8  # width 16 → 8
    assert result.metrics["params_student"] < 0.3 * result.metrics["params_teacher"]
    losses = [e.data["val_kd_loss"] for e in events if "val_kd_loss" in e.data]
    assert len(losses) == result.metrics["epochs_run"] >= 2
    assert losses[-1] < 0.5 * losses[0]  # the KD loss really goes down over the epochs
    torch.manual_seed(0)
    untrained = SmallCNN(width=8)
    distilled_acc = accuracy(student, split.x_test, split.y_test)
    assert distilled_acc > accuracy(untrained, split.x_test, split.y_test) + 0.4
    assert distilled_acc > 0.6
    assert (tmp_path / "work" / "distill_best.pt").exists()
    assert result.handle.inputs == handle_from_module(teacher).inputs


def test_distill_pruned_policy_without_labels_uses_calibration(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = MLPPolicy(hidden=64, depth=2)
    handle = handle_from_module(teacher, name="policy")
    ctx = TechniqueContext(
        workdir=tmp_path / "work", calibration=random_provider(handle.inputs, num_samples=256)
    )
    result = apply_technique(
        "distill", handle, ctx, {"student": "pruned", "ratio": 0.5, "epochs": 5, "lr": 1e-2}
    )
    assert result.metrics["kd_loss_best"] < result.metrics["kd_loss_first_epoch"]
    assert not result.warnings  # calibration data, not synthetic inputs
    assert count_parameters(_module(result.handle)) < count_parameters(teacher)
    assert "mse" in result.changes[0]


def test_student_factory_hook_and_unknown_family(tmp_path: Path) -> None:
    class Custom(nn.Module):
        def __init__(self, hidden: int = 32):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    ctx = TechniqueContext(workdir=tmp_path / "work")
    config = {"student": "smaller", "epochs": 1, "num_samples": 64}
    with pytest.raises(ConfigError, match="cannot derive a smaller student") as info:
        apply_technique("distill", handle_from_module(Custom()), ctx, config)
    assert "student_factory" in info.value.hint

    class WithFactory(Custom):
        def student_factory(self, scale: float) -> nn.Module:
            return Custom(hidden=int(32 * scale))

    result = apply_technique("distill", handle_from_module(WithFactory()), ctx, config)
    assert _module(result.handle).net[0].out_features == 16
    assert result.warnings  # synthetic inputs were used


def test_kl_on_a_detector_is_a_config_error(tmp_path: Path) -> None:
    ctx = TechniqueContext(workdir=tmp_path / "work")
    with pytest.raises(ConfigError, match="kl"):
        apply_technique(
            "distill",
            handle_from_module(TinyDetector()),
            ctx,
            {"loss": "kl", "epochs": 1, "num_samples": 32},
        )


@pytest.mark.parametrize(
    "config", [{"ratio": 0}, {"alpha": 1.5}, {"student": "tiny"}, {"temperature": -1}]
)
def test_distill_bad_configs(tmp_path: Path, config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        apply_technique(
            "distill", handle_from_module(MLPPolicy()), TechniqueContext(workdir=tmp_path), config
        )
