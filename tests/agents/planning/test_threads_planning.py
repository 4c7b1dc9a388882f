"""The planner plans ort_threads (fewer ONNX Runtime intra-op threads, timed on the final model)
only when the run has more than one thread and the model can run on ONNX Runtime."""

from __future__ import annotations

import pytest
from tests.agents.planning.test_planner import _input as planning_input

from embodied_ai_architect.agents.planning.planner import PlanningInput, make_plans
from embodied_ai_architect.agents.planning.profile_rules import thread_counts
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.results import VersionMetrics


def _input(threads: int, **kwargs: object) -> PlanningInput:
    baseline = VersionMetrics(
        size_bytes=100_000,
        parameters=25_000,
        runtime="onnxruntime",
        p50_ms=0.05,
        p95_ms=0.06,
        throughput_per_s=20_000,
        threads=threads,
    )
    return planning_input(
        Constraints(max_accuracy_drop=1),
        **{
            "family": "policy",
            "baseline": baseline,
            "framework": "onnx",
            "has_training_data": False,
            **kwargs,
        },
    )


@pytest.mark.parametrize("threads, counts", [(2, [1]), (4, [1, 2]), (8, [1, 2, 4])])
def test_every_plan_ends_with_the_thread_counts_below_the_runs(
    threads: int, counts: list[int]
) -> None:
    plans, skipped = make_plans(_input(threads))
    assert plans and not any(s.startswith("ort_threads:") for s in skipped)
    for plan in plans:
        last = plan.steps[-1]
        assert last.id == "threads", [s.id for s in plan.steps]
        assert [c.technique for c in last.candidates] == ["ort_threads"] * len(counts)
        assert [c.config[DECLARED_THREADS] for c in last.candidates] == counts
    assert thread_counts(threads) == counts


def test_a_one_thread_run_plans_no_thread_step_and_says_why() -> None:
    plans, skipped = make_plans(_input(1))
    assert all(s.id != "threads" for p in plans for s in p.steps)
    assert any(s.startswith("ort_threads:") and "1 thread" in s for s in skipped)


@pytest.mark.parametrize(
    "runtime, takes, planned",
    [
        ("openvino", {Framework.ONNX, Framework.TORCH}, False),
        ("onnxruntime", {Framework.ONNX}, True),
    ],
)
def test_only_the_cpu_and_onnxruntime_targets_get_the_thread_step(
    runtime: str, takes: set[Framework], planned: bool
) -> None:
    inp = _input(2, target=runtime, target_runtime=runtime, target_takes=frozenset(takes))
    plans, skipped = make_plans(inp)
    assert plans and all((p.steps[-1].id == "threads") is planned for p in plans)
    assert planned or any(s.startswith("ort_threads:") and runtime in s for s in skipped)
