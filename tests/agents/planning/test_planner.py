"""Planning agent: ranked plans from the registry, determinism, fallbacks, feasibility, skills."""

from __future__ import annotations

import pytest

from embodied_ai_architect.agents.optimization.base import get_technique, load_techniques
from embodied_ai_architect.agents.planning.feasibility import unreachable_evidence
from embodied_ai_architect.agents.planning.gentler import fallback
from embodied_ai_architect.agents.planning.planner import (
    EXPORT_ONNX,
    PlanningInput,
    applicable_techniques,
    make_plans,
)
from embodied_ai_architect.agents.planning.skills import SkillRecord, summarize
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.results import StepCandidate, VersionMetrics

BASE = VersionMetrics(
    size_bytes=4_000_000,
    parameters=1_000_000,
    runtime="torch",
    p50_ms=9.0,
    p95_ms=10.0,
    throughput_per_s=111,
    threads=2,
    accuracy=0.97,
)


def _input(constraints: Constraints, **kwargs: object) -> PlanningInput:
    values: dict[str, object] = {
        "profile": None,
        "family": "cnn_classifier",
        "constraints": constraints,
        "baseline": BASE,
        "framework": "torch",
        "has_training_data": True,
        "has_calibration_data": True,
    }
    values.update(kwargs)
    return PlanningInput(**values)  # type: ignore[arg-type]


def test_plans_are_ranked_deterministic_and_follow_priorities() -> None:
    inp = _input(Constraints(max_latency_ms=3, max_accuracy_drop=1))
    plans, skipped = make_plans(inp)
    again, _ = make_plans(inp)
    assert [p.model_dump(exclude={"steps"}) for p in plans] == [
        p.model_dump(exclude={"steps"}) for p in again
    ]
    assert [s.model_dump() for s in plans[0].steps] == [s.model_dump() for s in again[0].steps]
    assert plans == sorted(plans, key=lambda p: -p.score)
    best = plans[0]
    ids = [s.id for s in best.steps]
    # Latency is unmet and training data exists: structural shrinking first, runtime before precision.
    assert ids[0] == "structure" and ids.index("runtime") < ids.index("precision")
    runtime = next(s for s in best.steps if s.id == "runtime")
    assert runtime.candidates[0].technique == EXPORT_ONNX
    for step in best.steps:
        assert step.rationale and step.objective in ("latency", "size")
        for candidate in step.candidates:
            if candidate.technique != EXPORT_ONNX:
                assert get_technique(candidate.technique).availability()[0]
    # CUDA-only techniques are left out with a reason on this CPU host.
    if "bnb_int8" in load_techniques():
        assert any(s.startswith("bnb_int8:") for s in skipped)


def test_without_training_data_no_retraining_step_and_reasons_given() -> None:
    inp = _input(Constraints(max_size_mb=2, max_accuracy_drop=1), has_training_data=False)
    usable, skipped = applicable_techniques(inp)
    needs_training = [
        name for name, spec in load_techniques().items() if spec.manifest.needs_data == "training"
    ]
    assert not any(u.spec.name in needs_training for u in usable)
    for name in needs_training:
        assert any(s.startswith(f"{name}:") and "training data" in s for s in skipped)
    plans, _ = make_plans(inp)
    assert plans[0].title != "structure-then-precision"


def test_a_torchscript_graph_gets_no_layer_editing_technique() -> None:
    constraints = Constraints(max_latency_ms=3, max_accuracy_drop=1)
    editing = {n for n, spec in load_techniques().items() if spec.manifest.needs_eager_module}
    assert {"prune_magnitude", "weight_sharing", "torch_int8_dynamic"} <= editing
    eager, _ = applicable_techniques(_input(constraints))
    assert {u.spec.name for u in eager} & editing  # an eager module may use them
    usable, skipped = applicable_techniques(_input(constraints, torch_graph=True))
    assert not {u.spec.name for u in usable} & editing
    for name in editing & {u.spec.name for u in eager}:
        assert any(s.startswith(f"{name}:") and "TorchScript" in s for s in skipped), name
    # What stays: export-based runtimes and precisions still plan for the graph.
    plans, _ = make_plans(_input(constraints, torch_graph=True))
    steps = {s.id for s in plans[0].steps}
    assert "structure" not in steps and {"runtime", "precision"} <= steps


def test_mixed_precision_fallback_is_greedy_then_stops() -> None:
    static = get_technique("ort_int8_static")
    candidate = StepCandidate(technique="ort_int8_static")
    steps = []
    for _ in range(3):
        nxt = fallback(candidate, static, None)
        assert nxt is not None
        candidate, why = nxt
        steps.append(candidate.config["exclude_top_sensitive"])
        assert "most sensitive" in why
    assert steps == [1, 2, 3]
    exhausted = StepCandidate(technique="ort_int8_static", config={"exclude_top_sensitive": 8})
    assert fallback(exhausted, static, None) is None


def test_pruning_fallback_lowers_the_ratio() -> None:
    spec = get_technique("prune_structured")
    default_ratio = spec.config_type().ratio  # type: ignore[attr-defined]
    nxt = fallback(StepCandidate(technique="prune_structured"), spec, None)
    assert nxt is not None
    assert nxt[0].config["ratio"] < default_ratio
    assert "lower ratio" in nxt[1]


def test_unreachable_latency_and_accuracy_give_evidence() -> None:
    inp = _input(Constraints(max_latency_ms=0.001, min_accuracy=0.995))
    usable, _ = applicable_techniques(inp)
    evidence = unreachable_evidence(inp, usable)
    assert any("most aggressive plan" in e and "0.001 ms limit" in e for e in evidence)
    assert any("97.00 %" in e and "99.50 %" in e for e in evidence)
    reachable = _input(Constraints(max_latency_ms=5, max_accuracy_drop=1))
    assert unreachable_evidence(reachable, usable) == []


def test_skills_reorder_candidates_and_are_named_in_the_rationale() -> None:
    constraints = Constraints(max_latency_ms=3, max_accuracy_drop=1)
    plain, _ = make_plans(_input(constraints))
    precision = next(s for s in plain[0].steps if s.id == "precision")
    first = precision.candidates[0].technique
    history = [
        SkillRecord("cnn_classifier", "cpu", first, {}, {"latency_factor": 1.4}, False),
        SkillRecord("cnn_classifier", "cpu", first, {}, {"latency_factor": 1.5}, False),
    ]
    learned, _ = make_plans(_input(constraints, skills=summarize(history)))
    step = next(s for s in learned[0].steps if s.id == "precision")
    assert step.candidates[-1].technique == first  # failed twice on similar models: tried last
    assert "history decided" in step.rationale and learned[0].history_used


def test_summarize_takes_median_of_passing_runs() -> None:
    records = [
        SkillRecord("cnn", "cpu", "t", {}, {"size_factor": f, "latency_factor": f}, True)
        for f in (0.2, 0.3, 0.9)
    ] + [SkillRecord("cnn", "cpu", "t", {}, {}, False)]
    stats = summarize(records)["t"]
    assert stats.tries == 4 and stats.passes == 3
    assert stats.size_factor == pytest.approx(0.3)


def test_without_a_structure_step_precision_is_still_planned() -> None:
    # No training data and a TorchScript graph: no structural method can run. The precision
    # plan must keep its own title and risk, and beat runtime-only when size is worth winning.
    inp = _input(Constraints(max_accuracy_drop=5), has_training_data=False, torch_graph=True)
    plans, _ = make_plans(inp)
    titles = [p.title for p in plans]
    assert "structure-then-precision" not in titles
    assert titles[0] == "precision-only" and "runtime-only" in titles
    assert "precision" in {s.id for s in plans[0].steps}
    assert "accuracy risk 0.1" in plans[0].rationale
