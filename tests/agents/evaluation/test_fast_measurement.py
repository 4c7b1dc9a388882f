"""Fast search support: adaptive timing that stops once the ranking is clear, subset screening."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_ai_architect.agents.evaluation.accuracy import FidelityEvaluator
from embodied_ai_architect.agents.evaluation.latency import (
    measure_latency,
    median_interval,
    ranking_clear,
)
from embodied_ai_architect.testing.models import build_mlp_policy


def test_median_interval_and_ranking() -> None:
    rng = np.random.default_rng(0)
    steady = list(10 + rng.normal(0, 0.01, 30))
    median, low, high = median_interval(steady)
    assert low <= median <= high and median == pytest.approx(10, abs=0.02)
    assert ranking_clear(steady, None)  # pinned down to ±2 %
    noisy = list(10 * rng.lognormal(0, 0.3, 30))
    assert not ranking_clear(noisy, None)
    assert not ranking_clear(noisy, 10.0)  # could still be either side of the parent
    assert ranking_clear(noisy, 100.0)  # clearly faster than a 100 ms parent
    assert ranking_clear(noisy, 1.0)  # clearly slower than a 1 ms parent


def test_timing_stops_early_when_the_ranking_is_clear() -> None:
    from embodied_ai_architect.modelio.torch_io import handle_from_module

    handle = handle_from_module(build_mlp_policy(), name="mlp")
    # A tiny policy against a 1-second parent: 15 runs settle it, not 400.
    stats = measure_latency(handle, threads=1, runs=400, reference_ms=1000.0, max_seconds=30)
    assert stats.runs == 15
    # Without a clear ranking the requested runs are made (the median of a µs-scale model on a
    # shared CPU is rarely within ±2 % after 15 runs, but when it is the early stop is right).
    full = measure_latency(handle, threads=1, runs=20, max_seconds=30)
    assert full.runs in (15, 20)


def test_screen_scores_a_subset() -> None:
    from embodied_ai_architect.modelio.torch_io import handle_from_module

    handle = handle_from_module(build_mlp_policy(), name="mlp")
    spec = handle.inputs[0]
    rng = np.random.default_rng(3)
    feeds = {spec.name: rng.normal(size=(100, *spec.shape[1:])).astype(np.float32)}
    evaluator = FidelityEvaluator(feeds)
    screened = evaluator.screen(handle, reference=handle, samples=32)
    assert screened.samples == 32 and screened.value == pytest.approx(1.0)
    assert evaluator.evaluate(handle, reference=handle).samples == 100


def test_the_original_scored_against_itself_runs_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """v0 against itself agrees by definition: one pass over the data, not two (the same file
    opened with other threads counts as the same model; a different model is still run)."""
    import torch

    from embodied_ai_architect.agents.evaluation.accuracy import _same_model
    from embodied_ai_architect.agents.evaluation.metrics import pinned
    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.torch_io import handle_from_module

    original = export_onnx(handle_from_module(build_mlp_policy(), name="mlp"), tmp_path / "a.onnx")
    torch.manual_seed(1)
    other = export_onnx(handle_from_module(build_mlp_policy(), name="mlp"), tmp_path / "b.onnx")
    calls: list[str] = []
    for handle in (original, other):
        run = handle.run

        def counted(feeds, run=run, name=handle.name + str(handle.path)):  # type: ignore[no-untyped-def]
            calls.append(name)
            return run(feeds)

        handle.run = counted  # type: ignore[method-assign]
    spec = original.inputs[0]
    feeds = {spec.name: np.random.default_rng(0).normal(size=(16, *spec.shape[1:])).astype("f4")}
    evaluator = FidelityEvaluator(feeds)
    assert evaluator.evaluate(original, reference=original).value == pytest.approx(1.0)
    one_pass = len(calls)
    assert one_pass >= 1 and set(calls) == {"mlp" + str(original.path)}
    assert evaluator.evaluate(other, reference=original).value < 1.0
    assert len(calls) == 2 * one_pass  # the other model ran once; the reference stayed cached
    assert _same_model(pinned(original, 1), original) or original.threads == 1
    assert not _same_model(other, original)
    from types import SimpleNamespace  # a benchmark's wrapped runtime session: no path

    assert not _same_model(SimpleNamespace(run=other.run), original)  # type: ignore[arg-type]
