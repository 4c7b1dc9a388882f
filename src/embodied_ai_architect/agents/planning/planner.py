"""The planner: ranked candidate plans from the profile, the constraints and the registry.

Decisions come from the profile (family, sensitivity), the technique manifests and their
availability, and learned skills — never from per-model configs. A plan is a TODO list of
steps; each step names an objective and the technique applications to *measure* for it (the
runtime and precision are chosen by measurement, not assumed).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from embodied_ai_architect.agents.optimization.base import TechniqueFamily
from embodied_ai_architect.agents.planning.applicability import (
    Applicable,
    PlanningInput,
    applicable_techniques,
)
from embodied_ai_architect.agents.planning.priors import predict, relative_cost
from embodied_ai_architect.agents.planning.profile_rules import (
    precision_variants,
    single_thread_runtimes,
    threads_step,
)
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.schemas.results import Plan, PlanStep, StepCandidate

# The planner's inputs and its technique filter live in ``applicability``; callers import them
# from here, beside make_plans.
__all__ = ["EXPORT_ONNX", "Applicable", "PlanningInput", "applicable_techniques", "make_plans"]

EXPORT_ONNX = "onnx_export"  # built-in: the original graph, run by ONNX Runtime (FP32)
# (latency, size) weights of the log gains that rank plans, per objective.
_OBJECTIVE_WEIGHTS = {"latency": (1.0, 0.5), "size": (0.5, 1.0), "balanced": (1.0, 1.0)}


def _failed_before(item: Applicable) -> float:
    # Techniques that never passed on similar models (two tries or more) go last.
    return (
        1.0
        if item.history is not None and item.history.tries >= 2 and not item.history.passes
        else 0.0
    )


def _history_rank(item: Applicable) -> tuple[float, float]:
    return (_failed_before(item), item.effect.latency * item.effect.size)


def _objective_rank(item: Applicable, objective: str) -> tuple[float, float, float, float]:
    # The run's objective orders the candidates: with the latency objective INT4 (small, rarely
    # fast on CPUs) must not use the budget before INT8 does. Between equal priors (three INT8
    # paths) the analysis' opportunity score for this model decides: ORT dynamic INT8 for a
    # MatMul-heavy encoder, OpenVINO / static INT8 for a conv net.
    effect = item.effect
    if objective == "latency":
        return (_failed_before(item), effect.latency, -item.opportunity, effect.size)
    if objective == "size":
        return (_failed_before(item), effect.size, -item.opportunity, effect.latency)
    return (_failed_before(item), effect.latency * effect.size, -item.opportunity, effect.latency)


def _structural_rank(item: Applicable) -> tuple[float, float, float]:
    # The structure step keeps the first method that helps, so cheaper methods go first.
    return (_failed_before(item), relative_cost(item.spec), item.effect.latency * item.effect.size)


def _candidate(item: Applicable, note: str = "") -> StepCandidate:
    return StepCandidate(technique=item.spec.name, config={}, note=note)


def _rationale(prefix: str, items: list[Applicable]) -> tuple[str, bool]:
    notes = []
    used_history = False
    for item in items:
        if item.history is not None:
            used_history = True
            notes.append(f"{item.spec.name}: history decided the order ({item.history.describe()})")
    text = prefix + (" " + "; ".join(notes) if notes else "")
    return text, used_history


def _prior_step(
    step_id: str,
    objective: str,
    items: list[Applicable],
    prefix: str,
    *,
    best_by: Callable[[Applicable], float],
) -> tuple[PlanStep, bool]:
    """A step over ``items`` in their ranked order, predicted from its best item's prior; and
    whether history decided that order."""
    text, used_history = _rationale(prefix, items)
    best = min(items, key=best_by)
    step = PlanStep(
        id=step_id,
        objective=objective,
        candidates=[_candidate(u) for u in items],
        rationale=text,
        predicted={"latency_factor": best.effect.latency, "size_factor": best.effect.size},
    )
    return step, used_history


def make_plans(inp: PlanningInput) -> tuple[list[Plan], list[str]]:
    """Ranked candidate plans (best first) and notes on techniques left out."""
    usable, skipped = applicable_techniques(inp)
    structural = sorted(
        (
            u
            for u in usable
            if u.spec.manifest.family
            in (TechniqueFamily.PRUNING, TechniqueFamily.DISTILLATION, TechniqueFamily.NAS)
            and Framework(inp.framework) in u.spec.manifest.input_frameworks
        ),
        key=_structural_rank,
    )
    quant = [u for u in usable if u.spec.manifest.family is TechniqueFamily.QUANTIZATION]
    runtime = [
        u for u in quant if [p.lower() for p in u.spec.manifest.precisions] in ([], ["fp32"])
    ]
    precision = sorted(
        (u for u in quant if u not in runtime),
        key=lambda u: _objective_rank(u, inp.constraints.objective.value),
    )
    compression = sorted(
        (u for u in usable if u.spec.manifest.family is TechniqueFamily.COMPRESSION),
        key=_history_rank,
    )
    # Torch-only clean-ups must run before the model leaves torch (the runtime step exports it).
    graph = [u for u in compression if Framework.ONNX in u.spec.manifest.input_frameworks]
    torch_graph = [u for u in compression if u not in graph and inp.framework == "torch"]
    c = inp.constraints
    # Every step serves the run's objective; the user's limits come first inside each step
    # (pipeline.objective.improves), so a size limit still lets a slower, smaller version in.
    objective = c.objective.value
    accuracy_text = (
        "keeps accuracy ≥ the floor (re-validated after the step)" if c.has_accuracy_bound() else ""
    )
    steps: dict[str, PlanStep] = {}
    used_history = False
    if structural:
        steps["structure"], hist = _prior_step(
            "structure",
            objective,
            structural,
            f"{inp.family}: weights and MACs sit in layers a structural method can shrink; "
            "tried in order until one helps (each retrains, so the first that passes is kept). "
            + accuracy_text,
            best_by=lambda u: u.effect.latency,
        )
        used_history |= hist
    runtime_candidates = [_candidate(u) for u in runtime]
    runtime_candidates += single_thread_runtimes(
        inp.profile, runtime_candidates, inp.baseline.threads
    )
    if inp.framework == "torch" and inp.target_runtime in (None, "onnxruntime"):
        # An ONNX source already is its ONNX Runtime FP32 version: re-timing it is only noise.
        runtime_candidates.insert(0, StepCandidate(technique=EXPORT_ONNX, note="ONNX Runtime FP32"))
    if inp.target_step is not None:
        steps["target"] = PlanStep(
            id="target",
            objective=objective,
            candidates=[inp.target_step],
            rationale=f"target {inp.target} runs {inp.target_runtime}: the model is converted "
            "once at FP32, and every later step is measured against that version there",
            predicted={"latency_factor": 1.0, "size_factor": 1.0},
            required=True,
        )
    if inp.target_runtime is not None:
        runtime_candidates = []  # the runtime is the target's, not a choice
    if inp.framework in ("torch", "onnx") and runtime_candidates:
        steps["runtime"] = PlanStep(
            id="runtime",
            objective=objective,
            candidates=runtime_candidates,
            rationale="the fastest runtime differs per model: every available FP32 runtime is "
            "timed and the fastest kept",
            predicted={"latency_factor": 0.8, "size_factor": 1.0},
        )
    if precision:
        steps["precision"], hist = _prior_step(
            "precision",
            objective,
            precision,
            "lower precision shrinks weights ~4× (INT8) but is not always faster on this CPU: "
            "each precision/runtime is measured and the best passing one kept; sensitive layers "
            "go back to FP32 if accuracy drops. " + accuracy_text,
            best_by=lambda u: u.effect.latency * u.effect.size,
        )
        steps["precision"].candidates = [
            variant
            for candidate in steps["precision"].candidates
            for variant in [candidate, *precision_variants(inp.profile, candidate)]
        ]
        used_history |= hist
    clean_ups = (
        (
            "compress",
            torch_graph,
            "module-level compression (BN folding, low-rank, weight sharing) works on "
            "the torch model, so it runs before export; kept only if it measurably helps",
            0.9,
        ),
        (
            "graph",
            graph,
            "graph-level clean-ups (BN folding, fusion, compact weights) are cheap; "
            "kept only if they measurably help",
            0.95,
        ),
    )
    for step_id, items, rationale, size_factor in clean_ups:
        if items:
            steps[step_id] = PlanStep(
                id=step_id,
                objective=objective,
                candidates=[_candidate(u) for u in items],
                rationale=rationale,
                predicted={"latency_factor": 0.95, "size_factor": size_factor},
            )
    if sessions := [u for u in usable if u.spec.manifest.family is TechniqueFamily.RUNTIME]:
        # Last in every plan: the thread count that suits the final model (ort_threads).
        steps["threads"] = threads_step(
            [u.spec.name for u in sessions],
            inp.baseline.threads,
            objective=objective,
            latency_factor=min(u.effect.latency for u in sessions),
        )
    # Risk: how likely a plan costs accuracy. Structural steps retrain (less risky with data).
    structure_risk = 0.3 if inp.has_training_data else 1.5
    # (title, step order, the step that defines the shape (None: any), accuracy risk)
    shapes: list[tuple[str, list[str], str | None, float]] = [
        (
            "structure-then-precision",
            ["structure", "compress", "target", "runtime", "precision", "graph", "threads"],
            "structure",
            structure_risk,
        ),
        (
            "precision-only",
            ["compress", "target", "runtime", "precision", "graph", "threads"],
            "precision",
            0.1,
        ),
        ("runtime-only", ["compress", "target", "runtime", "graph", "threads"], None, 0.0),
    ]
    plans: list[Plan] = []
    for index, (title, order, defining, risk) in enumerate(shapes):
        if defining is not None and defining not in steps:
            # Without its defining step a shape is a copy of a later one under the wrong title
            # and risk (no structure step left "structure-then-precision" = precision-only at
            # the structural risk, which then lost to runtime-only).
            continue
        if "target" in steps and inp.target_runtime != "onnxruntime":
            # ONNX clean-ups are measured on ONNX Runtime: they go before the conversion to
            # the target's runtime, after which everything is measured there.
            order = [s for s in order if s != "graph"]
            order.insert(order.index("target"), "graph")
        chosen = [steps[s].model_copy(deep=True) for s in order if s in steps]
        if not chosen or any([s.id for s in p.steps] == [s.id for s in chosen] for p in plans):
            continue
        size, latency = predict(inp.baseline, chosen)
        deficit = c.deficit(size / 1e6, latency)
        # Meeting the limits dominates; then the objective's order (default: faster first, then
        # smaller — log gains, halving latency counts twice as much as halving size), minus risk.
        latency_weight, size_weight = _OBJECTIVE_WEIGHTS[objective]
        gain = -latency_weight * math.log(
            latency / max(inp.baseline.p95_ms, 1e-9)
        ) - size_weight * math.log(size / max(inp.baseline.size_bytes, 1))
        plans.append(
            Plan(
                id=f"plan-{index + 1}",
                title=title,
                steps=chosen,
                score=round(-10 * deficit + gain - risk, 4),
                rationale=f"predicted size {size / 1e6:.3g} MB, p95 {latency:.3g} ms for "
                f"{c.describe()}; "
                + ("meets the limits by prior" if deficit == 0 else f"deficit {deficit:.2f}")
                + f"; gain {gain:.2f}, accuracy risk {risk:.1f}",
                predicted_size_mb=size / 1e6,
                predicted_p95_ms=latency,
                history_used=used_history,
            )
        )
    plans.sort(key=lambda p: (-p.score, p.id))
    return plans, skipped
