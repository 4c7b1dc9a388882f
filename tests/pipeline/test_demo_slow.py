"""Done criterion: the digits CNN ends ≥ 3× smaller and ≥ 3× faster at ≤ 1 point accuracy loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.pipeline.demo import demo_request, prepare_demo
from embodied_ai_architect.settings import Settings


@pytest.mark.slow
def test_digits_cnn_three_times_smaller_and_faster(tmp_path: Path) -> None:
    inputs = prepare_demo(tmp_path / "data")
    report = run_optimize(
        demo_request(inputs, out_dir=tmp_path / "run"),
        settings=Settings(workspace=tmp_path / "ws", num_threads=1),
    )
    assert report.status.value == "succeeded", report.summary
    base, best = report.baseline.metrics, report.best.metrics  # type: ignore[union-attr]
    assert base.accuracy is not None and best.accuracy is not None
    assert base.accuracy - best.accuracy <= 0.01 + 1e-9
    assert base.size_bytes / best.size_bytes >= 3, report.summary
    assert base.p50_ms / best.p50_ms >= 3, report.summary
    assert (tmp_path / "run" / "report.html").exists()


@pytest.mark.slow
def test_int8_accuracy_miss_returns_sensitive_layers_to_fp32(tmp_path: Path) -> None:
    """With no accuracy loss allowed, INT8 misses the bound; the planner keeps the most
    sensitive layers in FP32 one more at a time, re-validating each, and records why.

    The size limit (the FP32 ONNX export is 0.115 MB) is what makes INT8 worth retrying: on a
    host where this tiny CNN's INT8 graph is slower than FP32 (AMX Xeon: 0.021 vs 0.017 ms),
    a latency-only run rightly stops the chain, since no exclusion set can beat the FP32
    incumbent."""
    from embodied_ai_architect.schemas.constraints import Budget, Constraints
    from embodied_ai_architect.schemas.results import OptimizeRequest

    inputs = prepare_demo(tmp_path / "data", epochs=2)  # an under-trained, fragile model
    report = run_optimize(
        OptimizeRequest(
            model_path=inputs.model_path,
            load_options=inputs.load_options,
            constraints=Constraints(
                max_accuracy_drop=0.0, max_size_mb=0.05, budget=Budget(max_attempts=16)
            ),
            eval_data=inputs.eval_data,
            out_dir=tmp_path / "run",
            latency_runs=10,
        ),
        settings=Settings(workspace=tmp_path / "ws", num_threads=1),
    )
    mixed = [
        a.config["exclude_top_sensitive"]
        for a in report.attempts
        if a.config.get("exclude_top_sensitive")
    ]
    assert mixed, [(a.technique, a.status.value, a.reason) for a in report.attempts]
    assert mixed == sorted(mixed) and mixed[0] == 1
    assert any("most sensitive" in r.reason for r in report.replans)
    # No loss allowed: the result is at least as accurate (INT8 rounding can also gain a
    # sample, 93.56 % vs 93.33 % on an AVX2-only host).
    assert report.best is not None and report.best.metrics.accuracy is not None
    assert report.baseline.metrics.accuracy is not None
    assert report.best.metrics.accuracy >= report.baseline.metrics.accuracy - 1e-9
