"""Validation arithmetic (pure): per-output comparison, top-1, verdicts and reasons."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_ai_architect.agents.deployment.validation import compare_outputs, summarize
from embodied_ai_architect.errors import DeploymentError
from embodied_ai_architect.schemas.deployment import SampleComparison, ValidationConfig
from embodied_ai_architect.schemas.profile import LatencyStats


def latency(p50: float) -> LatencyStats:
    return LatencyStats(
        runtime="x", p50_ms=p50, p95_ms=p50 * 1.2, mean_ms=p50, runs=5, warmup=1, threads=2
    )


def test_each_output_is_judged_on_its_own() -> None:
    """A detector: boxes (large values) hide broken scores in a whole-output comparison."""
    boxes = np.full((1, 64, 4), 300.0, dtype=np.float32)
    scores = np.full((1, 64, 8), 0.5, dtype=np.float32)
    broken_scores = scores + 0.1  # 20 % off, but tiny next to the boxes
    comparisons = compare_outputs(
        {"boxes": boxes, "scores": scores}, {"a": boxes, "b": broken_scores}
    )
    assert comparisons[0].relative_l2 == 0 and comparisons[0].max_abs_diff == 0
    assert comparisons[1].relative_l2 == pytest.approx(0.2, rel=1e-4)
    assert comparisons[0].top1_match is None  # not classifier-shaped
    sample = SampleComparison(index=0, source="x", outputs=comparisons)
    result = summarize(
        [sample], ValidationConfig(allow_random_inputs=True), latency(10), latency(4)
    )
    assert not result.passed
    assert result.reasons == ["output 'scores': relative error 20 % exceeds 1.0 %"]
    assert result.speedup == pytest.approx(2.5)


def test_top1_agreement_and_its_floor() -> None:
    want = np.array([[0.1, 0.9, 0.0]])
    samples = [
        SampleComparison(index=0, source="a", outputs=compare_outputs({"y": want}, {"y": want})),
        SampleComparison(
            index=1,
            source="b",
            outputs=compare_outputs({"y": want}, {"y": np.array([[0.9, 0.1, 0.0]])}),
        ),
    ]
    loose = ValidationConfig(allow_random_inputs=True, tolerance_percent=100)  # top-1 only
    assert summarize(samples, loose, latency(1), latency(1)).top1_agreement == 0.5
    strict = ValidationConfig(
        allow_random_inputs=True, tolerance_percent=100, min_top1_agreement=0.9
    )
    result = summarize(samples, strict, latency(1), latency(1))
    assert not result.passed and "top-1 agreement 0.500" in result.reasons[-1]


def test_interface_changes_are_errors() -> None:
    with pytest.raises(DeploymentError, match="2 outputs"):
        compare_outputs({"y": np.zeros(3)}, {"a": np.zeros(3), "b": np.zeros(3)})
    with pytest.raises(DeploymentError, match="shape"):
        compare_outputs({"y": np.zeros((1, 3))}, {"y": np.zeros((1, 4))})
    # Same data, different but compatible layout (e.g. a squeezed batch axis) is accepted.
    (same,) = compare_outputs({"y": np.ones((1, 3))}, {"y": np.ones(3)})
    assert same.max_abs_diff == 0


def test_zero_reference_uses_absolute_error() -> None:
    (comparison,) = compare_outputs({"y": np.zeros((1, 4))}, {"y": np.full((1, 4), 1e-3)})
    assert comparison.relative_l2 == pytest.approx(1e-3)
