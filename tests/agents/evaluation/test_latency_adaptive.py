"""Cheaper timing for the search: a clear loser stops early, a slow model warms up briefly."""

from __future__ import annotations

import time

import torch

from embodied_ai_architect.agents.evaluation.latency import (
    MIN_ADAPTIVE_RUNS,
    MIN_SLOWER_RUNS,
    clearly_slower,
    measure_latency,
)
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.models import build_mlp_policy


class _SlowLinear(torch.nn.Module):
    """A real module whose forward takes ~``seconds`` (a stand-in for a large CNN's run)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)
        return torch.as_tensor(self.linear(x))


def test_clearly_slower_needs_every_run_beyond_the_margin() -> None:
    assert not clearly_slower([5.0] * 4, 1.0)  # fewer runs than MIN_SLOWER_RUNS decide nothing
    assert clearly_slower([5.0, 5.2, 4.9, 5.1, 5.3], 1.0)
    assert not clearly_slower([5.0, 5.2, 0.9, 5.1, 5.3], 1.0)  # one run as fast as the parent
    assert not clearly_slower([5.0] * 10, None)  # no parent: nothing to compare with


def test_a_clearly_slower_candidate_gets_fewer_timed_runs() -> None:
    handle = handle_from_module(build_mlp_policy(), name="mlp")
    # Against a parent a thousand times faster, five runs settle that it loses.
    slower = measure_latency(handle, threads=1, runs=400, reference_ms=1e-6, max_seconds=30)
    assert slower.runs == MIN_SLOWER_RUNS
    # A clear winner still gets the runs that pin its figure down for the ranking.
    faster = measure_latency(handle, threads=1, runs=400, reference_ms=1000.0, max_seconds=30)
    assert faster.runs == MIN_ADAPTIVE_RUNS


def test_a_slow_model_warms_up_twice_not_five_times() -> None:
    slow = handle_from_module(_SlowLinear(0.3), name="slow", input_shapes=[[1, 4]])
    stats = measure_latency(slow, threads=1, warmup=5, runs=5, max_seconds=30)
    assert stats.warmup == 2
    fast = handle_from_module(build_mlp_policy(), name="mlp")
    assert measure_latency(fast, threads=1, warmup=5, runs=5).warmup == 5
