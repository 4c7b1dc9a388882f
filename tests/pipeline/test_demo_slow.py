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
