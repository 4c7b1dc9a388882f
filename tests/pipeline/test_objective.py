"""Objective semantics: what a step keeps, what the run picks, and the sentence that says why."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from embodied_ai_architect.agents.planning.planner import PlanningInput, make_plans
from embodied_ai_architect.errors import ConstraintError
from embodied_ai_architect.pipeline.chains import Measured, StepSearch, stop_reason
from embodied_ai_architect.pipeline.objective import (
    dominates,
    explain_choice,
    improves,
    pick_best,
)
from embodied_ai_architect.pipeline.search import _next_move
from embodied_ai_architect.schemas.constraints import Constraints, parse_constraints
from embodied_ai_architect.schemas.results import AttemptRecord, StepCandidate, StepStatus
from embodied_ai_architect.schemas.results import VersionMetrics as VM


def m(p50: float, mb: float, accuracy: float | None = 0.99) -> VM:
    return VM(
        size_bytes=int(mb * 1e6),
        parameters=1,
        runtime="onnxruntime",
        p50_ms=p50,
        p95_ms=p50 * 1.1,
        throughput_per_s=1000 / p50,
        threads=2,
        accuracy=accuracy,
    )


FP32 = m(17.5, 12.0)
DYNAMIC = m(102.0, 3.2)  # the issue's ort_int8_dynamic: 4x smaller, 6x slower
OPENVINO = m(8.1, 3.6)


def test_smaller_but_slower_is_not_kept_without_a_size_limit() -> None:
    c = Constraints(max_accuracy_drop=2)
    ok, why = improves(c, FP32, DYNAMIC, c.objective.value)
    assert not ok and "slower" in why
    assert improves(c, FP32, OPENVINO, "latency")[0]
    # With a size limit the parent misses, the slower version closes it: kept.
    limited = Constraints(max_accuracy_drop=2, max_size_mb=5)
    assert improves(limited, FP32, DYNAMIC, "latency")[0]
    # The user asked for size: kept.
    assert improves(c, FP32, DYNAMIC, "size")[0]
    # Balanced never takes a slower version either.
    assert not improves(c, FP32, DYNAMIC, "balanced")[0]
    assert improves(c, FP32, m(17.4, 3.0), "balanced")[0]


def test_a_size_gain_under_the_threshold_says_so() -> None:
    # 0.221 MB vs 0.231 MB once read "no size gain": it is a gain, under the 5 % worth a version.
    ok, why = improves(Constraints(max_accuracy_drop=2), m(10.0, 0.231), m(10.0, 0.221), "size")
    assert not ok
    assert why.startswith("size gain under 5 %") and "0.221 MB vs 0.231 MB" in why


def test_step_choice_prefers_the_fast_candidate_the_issue_lost() -> None:
    c = Constraints(max_accuracy_drop=2)
    items = [(DYNAMIC, "ort_int8_dynamic"), (OPENVINO, "openvino_int8")]
    assert pick_best(c, items, "latency") == "openvino_int8"
    assert pick_best(c, items, "balanced") == "openvino_int8"
    assert pick_best(c, items, "size") == "ort_int8_dynamic"


def test_a_negligibly_smaller_deficit_does_not_outrank_a_faster_sibling() -> None:
    # The demo CNN: both steps leave the 0.0416 MB limit far off; 0.2 % less size once beat
    # a 27 % faster sibling ("lowrank_svd ranks better for latency", p50 0.185 vs 0.145 ms).
    c = Constraints(max_accuracy_drop=1, max_size_mb=0.0416)
    parent, folded, lowrank = m(0.18, 0.1248), m(0.145, 0.120549), m(0.185, 0.120356)
    assert pick_best(c, [(lowrank, "lowrank_svd"), (folded, "fold_batchnorm")], "latency") == (
        "fold_batchnorm"
    )
    # A real step toward the limit still counts, and so does reaching it, however small.
    assert improves(c, parent, folded, "latency")[0]
    ok, why = improves(c, lowrank, m(0.2, 0.1200), "latency")
    assert not ok and "slower" in why  # 0.3 % less size: a tie on the limits, then slower
    assert improves(c, m(0.01, 0.0420), m(0.05, 0.0415), "latency")[0]
    assert not improves(c, m(0.05, 0.0415), m(0.01, 0.0420), "latency")[0]
    feasible, near = m(0.09, 0.039), m(0.02, 0.0417)
    assert pick_best(c, [(near, "near"), (feasible, "feasible")], "latency") == "feasible"


def test_steps_follow_the_run_objective_not_a_hidden_size_goal() -> None:
    base = m(17.5, 12.0, 1.0)
    for objective in ("latency", "size", "balanced"):
        c = parse_constraints({"max_accuracy_drop": 2, "objective": objective})
        inp = PlanningInput(
            profile=None,
            family="detector",
            constraints=c,
            baseline=base,
            framework="onnx",
            has_training_data=False,
            has_calibration_data=True,
        )
        plans, _ = make_plans(inp)
        steps = [s for p in plans for s in p.steps]
        assert steps and {s.objective for s in steps} == {objective}


def test_unknown_objective_is_a_constraint_error() -> None:
    with pytest.raises(ConstraintError, match="objective"):
        parse_constraints({"max_accuracy_drop": 1, "objective": "speed"})


@pytest.mark.parametrize("objective", ["latency", "size", "balanced"])
def test_a_dominated_candidate_is_never_chosen(objective: str) -> None:
    rng = np.random.default_rng(7)
    for limit in (None, 4.0):
        c = Constraints(max_accuracy_drop=2, max_size_mb=limit)
        for _ in range(300):
            count = int(rng.integers(2, 7))
            items = [
                (
                    m(
                        float(rng.choice([10.0, 10.1, 10.2, 12.0, 20.0])),
                        float(rng.choice([3.0, 3.5, 6.0, 12.0])),
                        float(rng.choice([0.97, 0.98, 0.99])),
                    ),
                    i,
                )
                for i in range(count)
            ]
            chosen = pick_best(c, items, objective)
            metrics = items[chosen][0]
            # Limits first: nothing with a smaller deficit exists.
            same_deficit = [
                x
                for x, _ in items
                if (limit is None or x.size_mb <= limit)
                == (limit is None or metrics.size_mb <= limit)
            ]
            assert not any(dominates(other, metrics) for other in same_deficit)


def test_explanation_names_objective_and_why() -> None:
    c = Constraints(max_accuracy_drop=2)
    text = explain_choice(
        c, "v3", OPENVINO, [("v1", FP32), ("v3", OPENVINO)], technique="openvino_int8", met=True
    )
    assert text.startswith("Optimised p50 latency, then size within the accuracy bound")
    assert "no latency or size limit set" in text and "fastest of 2 feasible" in text
    sized = explain_choice(
        Constraints(max_accuracy_drop=2, objective="size"),
        "v2",
        DYNAMIC,
        [("v2", DYNAMIC), ("v3", OPENVINO)],
        technique="ort_int8_dynamic",
        met=True,
    )
    assert "Optimised size, then p50 latency" in sized and "smallest of 2" in sized


def _measured(technique: str, metrics: VM) -> Measured:
    attempt = AttemptRecord(
        index=1,
        step_id="precision",
        technique=technique,
        config={},
        parent_version="v1",
        status=StepStatus.REJECTED,
    )
    any_handle: Any = None
    return Measured(
        StepCandidate(technique=technique), any_handle, any_handle, metrics, [], attempt
    )


def test_a_fallback_chain_that_does_not_move_stops() -> None:
    state: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2))
    search = StepSearch(FP32)
    scores = [0.35, 0.351, 0.3515]
    reasons = [
        stop_reason(state, search, _measured("ort_int8_static", m(9.0, 3.2, s)), "latency")
        for s in scores
    ]
    assert reasons[:2] == [None, None]
    assert reasons[2] is not None and "did not raise the best score by 0.2 points" in reasons[2]
    # A chain that keeps moving goes on.
    moving = StepSearch(FP32)
    for score in (0.35, 0.6, 0.8):
        assert (
            stop_reason(state, moving, _measured("ort_int8_static", m(9.0, 3.2, score)), "latency")
            is None
        )


def test_slow_first_variant_drops_the_technique_unless_size_needs_it() -> None:
    state: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2))
    search = StepSearch(FP32)
    why = stop_reason(state, search, _measured("ort_int8_dynamic", DYNAMIC), "latency")
    assert why is not None and "dropped" in why and "ort_int8_dynamic" in search.dropped
    sized: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2, max_size_mb=5))
    assert (
        stop_reason(sized, StepSearch(FP32), _measured("ort_int8_dynamic", DYNAMIC), "latency")
        is None
    )


def test_fallback_stops_once_it_cannot_beat_the_incumbent() -> None:
    state: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2))
    search = StepSearch(FP32)
    search.kept.append(_measured("openvino_int8", OPENVINO))
    why = stop_reason(state, search, _measured("ort_int8_static", m(12.0, 3.2, 0.5)), "latency")
    assert why is not None and "incumbent" in why


def test_a_rejected_attempt_says_what_came_next() -> None:
    retry = (
        StepCandidate(technique="ort_int8_dynamic", config={"per_channel": True}),
        "per-channel",
    )
    assert _next_move(None, retry) == "retry: per-channel"
    assert _next_move("x dropped for this model: 2.3× slower", None) == (
        "no gentler retry: x dropped for this model: 2.3× slower"
    )
    assert _next_move(None, None) == "no gentler setting left to try"
