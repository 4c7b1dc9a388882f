"""The planner plans ort_threads / openvino_threads (fewer ONNX Runtime intra-op / OpenVINO
inference threads, timed on the final model) only when the run has more than one thread and the
model can run on that runtime (the step applies each only to a version that runs there)."""

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
        by_runtime: dict[str, list[int]] = {}
        for candidate in last.candidates:
            by_runtime.setdefault(candidate.technique, []).append(
                candidate.config[DECLARED_THREADS]
            )
        assert by_runtime == {"ort_threads": counts, "openvino_threads": counts}
    assert thread_counts(threads) == counts


def test_a_one_thread_run_plans_no_thread_step_and_says_why() -> None:
    plans, skipped = make_plans(_input(1))
    assert all(s.id != "threads" for p in plans for s in p.steps)
    assert any(s.startswith("ort_threads:") and "1 thread" in s for s in skipped)


@pytest.mark.parametrize(
    "runtime, takes, technique, other",
    [
        ("openvino", {Framework.ONNX, Framework.TORCH}, "openvino_threads", "ort_threads"),
        ("onnxruntime", {Framework.ONNX}, "ort_threads", "openvino_threads"),
    ],
)
def test_a_target_gets_the_thread_step_of_its_own_runtime(
    runtime: str, takes: set[Framework], technique: str, other: str
) -> None:
    inp = _input(2, target=runtime, target_runtime=runtime, target_takes=frozenset(takes))
    plans, skipped = make_plans(inp)
    assert plans and all(p.steps[-1].id == "threads" for p in plans)
    assert all({c.technique for c in p.steps[-1].candidates} == {technique} for p in plans)
    assert any(s.startswith(f"{other}:") and runtime in s for s in skipped), skipped
