"""The run's objective orders a step's candidates, so the budget goes where the user gains."""

from __future__ import annotations

from embodied_ai_architect.agents.planning.planner import PlanningInput, make_plans
from embodied_ai_architect.schemas.constraints import parse_constraints
from embodied_ai_architect.schemas.results import VersionMetrics


def _precision_order(objective: str) -> list[str]:
    baseline = VersionMetrics(
        size_bytes=90_000_000,
        parameters=22_000_000,
        runtime="onnxruntime",
        p50_ms=250.0,
        p95_ms=260.0,
        throughput_per_s=4.0,
        threads=2,
    )
    plans, _ = make_plans(
        PlanningInput(
            profile=None,
            family="transformer_encoder",
            constraints=parse_constraints({"max_accuracy_drop": 2, "objective": objective}),
            baseline=baseline,
            framework="onnx",
            has_training_data=False,
            has_calibration_data=True,
        )
    )
    step = next(s for p in plans for s in p.steps if s.id == "precision")
    return [c.technique for c in step.candidates]


def test_latency_objective_tries_int8_before_int4() -> None:
    order = _precision_order("latency")
    int4 = [i for i, name in enumerate(order) if name.startswith("ort_int4")]
    int8 = [i for i, name in enumerate(order) if name.startswith("ort_int8")]
    assert int4 and int8 and max(int8) < min(int4), order


def test_size_objective_tries_int4_first() -> None:
    order = _precision_order("size")
    assert order[0].startswith("ort_int4"), order
