"""Evaluation agent: constraints, verdicts with reasons, eval data formats, fidelity, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.evaluation.accuracy import (
    FidelityEvaluator,
    LabelledEvaluator,
    compare,
)
from embodied_ai_architect.agents.evaluation.agent import build_evaluator
from embodied_ai_architect.agents.evaluation.criteria import judge
from embodied_ai_architect.agents.evaluation.data import load_eval_dataset
from embodied_ai_architect.agents.evaluation.metrics import measure_version
from embodied_ai_architect.agents.evaluation.splits import SplitEvaluator
from embodied_ai_architect.errors import ConstraintError, InputError
from embodied_ai_architect.schemas.constraints import Constraints, parse_constraints
from embodied_ai_architect.schemas.results import VersionMetrics
from embodied_ai_architect.schemas.tensors import TensorSpec

SPEC = [TensorSpec(name="x", shape=["batch", 1, 8, 8])]


def _metrics(size_mb: float, p95: float, accuracy: float | None) -> VersionMetrics:
    return VersionMetrics(
        size_bytes=int(size_mb * 1e6),
        parameters=1,
        runtime="onnxruntime",
        p50_ms=p95 * 0.9,
        p95_ms=p95,
        throughput_per_s=1000 / p95,
        threads=2,
        accuracy=accuracy,
    )


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"max_size_mb": -1}, "max_size_mb must be positive"),
        ({"max_latency_ms": 0}, "max_latency_ms must be positive"),
        ({"min_accuracy": 95}, "write 95 % as 0.95"),
        ({"max_accuracy_drop": 150}, "below 100"),
        ({"max_accuracy_drop": -2}, "cannot be negative"),
        ({"max_size_mb": 1, "target": "jetsn"}, "unknown target 'jetsn'"),
        ({}, "no constraint given"),
        ({"max_size_mb": float("nan")}, "finite"),
        ({"max_size_mb": 1, "budget": {"max_attempts": 0}}, "budget.max_attempts"),
    ],
)
def test_invalid_constraints_raise_constraint_error(data: dict, fragment: str) -> None:
    with pytest.raises(ConstraintError) as info:
        parse_constraints(data)
    assert fragment in info.value.message
    assert info.value.hint


def test_accuracy_floor_points_and_percent() -> None:
    assert Constraints(max_accuracy_drop=1).accuracy_floor(0.97) == pytest.approx(0.96)
    relative = Constraints(max_accuracy_drop=10, drop_unit="percent")
    assert relative.accuracy_floor(0.90) == pytest.approx(0.81)
    both = Constraints(max_accuracy_drop=5, min_accuracy=0.95)
    assert both.accuracy_floor(0.97) == pytest.approx(0.95)


def test_verdicts_carry_readable_reasons() -> None:
    c = Constraints(max_size_mb=10, max_latency_ms=20, max_accuracy_drop=1)
    base = _metrics(40, 30, 0.97)
    verdicts = {v.constraint: v for v in judge(c, base, _metrics(5, 23.1, 0.955))}
    assert verdicts["size"].passed and verdicts["size"].reason == "size 5 MB ≤ 10 MB"
    assert not verdicts["latency"].passed
    assert verdicts["latency"].reason == "p95 23.1 ms > 20 ms"
    assert not verdicts["accuracy"].passed
    assert "95.50 % < 96.00 %" in verdicts["accuracy"].reason
    assert "drop 1.50 points" in verdicts["accuracy"].reason


def test_eval_data_formats(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((12, 1, 8, 8), dtype=np.float32)
    y = np.arange(12) % 10
    np.savez(tmp_path / "d.npz", x=x, y=y)
    npz = load_eval_dataset(tmp_path / "d.npz", SPEC, max_samples=10)
    assert len(npz) == 10 and npz.labels is not None and npz.labels[3] == 3

    table = np.concatenate([x.reshape(12, -1), y[:, None]], axis=1)
    np.savetxt(tmp_path / "d.csv", table, delimiter=",", header="features,label", comments="")
    csv = load_eval_dataset(tmp_path / "d.csv", SPEC, max_samples=100)
    assert csv.inputs["x"].shape == (12, 1, 8, 8)
    np.testing.assert_allclose(csv.inputs["x"], x, rtol=1e-6)

    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for index in range(2):
            Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(
                tmp_path / "imgs" / label / f"{index}.png"
            )
    folder = load_eval_dataset(tmp_path / "imgs", SPEC, max_samples=100)
    assert folder.labels is not None and folder.labels.tolist() == [0, 0, 1, 1]

    np.savez(tmp_path / "bad.npz", x=rng.random((3, 1, 4, 4), dtype=np.float32))
    with pytest.raises(InputError, match="have shape"):
        load_eval_dataset(tmp_path / "bad.npz", SPEC, max_samples=10)
    np.savez(tmp_path / "float_labels.npz", x=x, y=y.astype(np.float32))
    with pytest.raises(InputError, match="integer class ids"):
        load_eval_dataset(tmp_path / "float_labels.npz", SPEC, max_samples=10)


def test_compare_classifier_and_regression() -> None:
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], dtype=np.float32)
    flipped = logits.copy()
    flipped[2] = [0.9, 0.1]
    figures = compare(logits, flipped)
    assert figures["top1_agreement"] == pytest.approx(2 / 3)
    assert figures["score"] == figures["top1_agreement"]
    actions = np.ones((4, 1, 3), dtype=np.float32)
    figures = compare(actions, actions * 1.5)
    assert figures["cosine"] == pytest.approx(1.0)
    assert figures["max_abs_diff"] == pytest.approx(0.5)


def _handle(module):  # type: ignore[no-untyped-def]
    from embodied_ai_architect.modelio.torch_io import handle_from_module

    return handle_from_module(module, name="cnn")


def test_detector_scores_checked_separately() -> None:
    import torch

    from embodied_ai_architect.modelio.torch_io import handle_from_module

    class Head(torch.nn.Module):
        def __init__(self, damage_scores: bool):
            super().__init__()
            self.damage = damage_scores

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            boxes = x[:, :, :4].transpose(1, 2) * 100  # large values dominate a joint cosine
            scores = torch.sigmoid(x[:, :, 4:]).transpose(1, 2)
            if self.damage:
                scores = 1 - scores
            return torch.cat([boxes, scores], dim=1)

        def example_inputs(self) -> tuple[torch.Tensor, ...]:
            return (torch.randn(1, 16, 7),)

    reference = handle_from_module(Head(False), name="ref")
    damaged = handle_from_module(Head(True), name="bad")
    feeds = reference.example_inputs(batch=4, seed=1)
    score = FidelityEvaluator(feeds, detector=True).evaluate(damaged, reference=reference)
    assert score.details["output_0:boxes"]["score"] == pytest.approx(1.0)
    assert score.details["output_0:scores"]["score"] < 0.95
    assert score.value == pytest.approx(score.details["output_0:scores"]["score"])
    joint = FidelityEvaluator(feeds, detector=False).evaluate(damaged, reference=reference)
    assert joint.value > score.value  # the joint figure hides the damage


def test_labelled_accuracy_and_metrics(tmp_path: Path) -> None:
    import torch

    from embodied_ai_architect.testing.models import SmallCNN

    torch.manual_seed(0)
    handle = _handle(SmallCNN(width=4))
    x = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    with torch.inference_mode():
        y = handle.module(torch.from_numpy(x)).argmax(1).numpy()
    y[:4] = (y[:4] + 1) % 10  # four wrong labels → 90 %
    np.savez(tmp_path / "eval.npz", x=x, y=y)
    evaluator = build_evaluator(
        reference=handle,
        constraints=Constraints(max_accuracy_drop=1),
        eval_data=tmp_path / "eval.npz",
        eval_sim=None,
        max_samples=100,
        seed=0,
    )
    # Calibration, selection and held-out samples are disjoint and together are the data.
    assert isinstance(evaluator, SplitEvaluator)
    assert isinstance(evaluator.selection, LabelledEvaluator)
    assert isinstance(evaluator.held_out, LabelledEvaluator)
    assert evaluator.sizes == {"calibration": 10, "selection": 15, "held_out": 15}
    assert evaluator.calibration_part is not None
    parts = [
        evaluator.calibration_part["x"],
        evaluator.selection.dataset.inputs["x"],
        evaluator.held_out.dataset.inputs["x"],
    ]
    rows = {row.tobytes() for part in parts for row in part}
    assert len(rows) == 40
    selection = evaluator.selection.dataset
    wrong = np.isin(selection.inputs["x"].reshape(15, -1), x[:4].reshape(4, -1)).all(1).sum()
    artifact = tmp_path / "m.pt"
    torch.save(handle.module.state_dict(), artifact)
    metrics = measure_version(
        handle, artifact, evaluator=evaluator, reference=handle, threads=1, runs=5
    )
    assert metrics.accuracy == pytest.approx(1 - wrong / 15)
    assert metrics.size_bytes == artifact.stat().st_size
    assert metrics.parameters == sum(p.numel() for p in handle.module.parameters())
    assert 0 < metrics.p50_ms <= metrics.p95_ms
    assert metrics.throughput_per_s > 0 and metrics.threads == 1


def test_min_accuracy_needs_labels() -> None:
    import torch

    from embodied_ai_architect.testing.models import SmallCNN

    torch.manual_seed(0)
    with pytest.raises(ConstraintError, match="labelled"):
        build_evaluator(
            reference=_handle(SmallCNN(width=4)),
            constraints=Constraints(min_accuracy=0.9),
            eval_data=None,
            eval_sim=None,
            max_samples=10,
            seed=0,
        )


def test_random_fidelity_inputs_honour_the_sample_cap() -> None:
    """Without data, fidelity runs on seeded random inputs: FIDELITY_SAMPLES of them, or fewer
    when the request caps evaluation (``max_eval_samples``). The cap used to be ignored, so a
    short search on a large detector still ran 256 samples per evaluation."""
    import torch

    from embodied_ai_architect.agents.evaluation.agent import FIDELITY_SAMPLES
    from embodied_ai_architect.testing.models import SmallCNN

    torch.manual_seed(0)
    handle = _handle(SmallCNN(width=4))

    def sizes(max_samples: int) -> dict[str, int]:
        evaluator = build_evaluator(
            reference=handle,
            constraints=Constraints(max_accuracy_drop=1),
            eval_data=None,
            eval_sim=None,
            max_samples=max_samples,
            seed=0,
        )
        assert isinstance(evaluator, SplitEvaluator)
        return evaluator.sizes

    half = FIDELITY_SAMPLES // 2
    assert sizes(2000) == {"calibration": 0, "selection": half, "held_out": half}
    assert sizes(32) == {"calibration": 0, "selection": 16, "held_out": 16}
