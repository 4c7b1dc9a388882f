"""The planner: ranked candidate plans from the profile, the constraints and the registry.

Decisions come from the profile (family, sensitivity), the technique manifests and their
availability, and learned skills — never from per-model configs. A plan is a TODO list of
steps; each step names an objective and the technique applications to *measure* for it (the
runtime and precision are chosen by measurement, not assumed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueFamily,
    TechniqueSpec,
    can_take,
    load_techniques,
)
from embodied_ai_architect.agents.planning.priors import (
    Effect,
    best_effect,
    predict,
    relative_cost,
    typical_effect,
)
from embodied_ai_architect.agents.planning.profile_rules import (
    opportunity_scores,
    profile_veto,
    threads_step,
    threads_veto,
)
from embodied_ai_architect.agents.planning.skills import SkillStats
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.schemas.results import Plan, PlanStep, StepCandidate, VersionMetrics

EXPORT_ONNX = "onnx_export"  # built-in: the original graph, run by ONNX Runtime (FP32)
# (latency, size) weights of the log gains that rank plans, per objective.
_OBJECTIVE_WEIGHTS = {"latency": (1.0, 0.5), "size": (0.5, 1.0), "balanced": (1.0, 1.0)}


@dataclass(frozen=True)
class PlanningInput:
    """What the planner sees: the profile, limits, the measured baseline and the data at hand."""

    profile: ModelProfile | None
    family: str
    constraints: Constraints
    baseline: VersionMetrics
    framework: str
    has_training_data: bool
    has_calibration_data: bool
    skills: dict[str, SkillStats] = field(default_factory=dict)
    # A TorchScript / torch.export graph runs and exports, but cannot be edited layer by layer.
    torch_graph: bool = False
    # The target's runtime (None: 'cpu', every CPU runtime competes) and the model frameworks
    # its FP32 conversion can take (a structural step's output must still reach the target).
    target: str = "cpu"
    target_runtime: str | None = None
    target_takes: frozenset[Framework] = frozenset()
    # The FP32 conversion onto the target's runtime (None: the model already runs there).
    target_step: StepCandidate | None = None


@dataclass(frozen=True)
class Applicable:
    spec: TechniqueSpec
    effect: Effect
    history: SkillStats | None
    opportunity: float = 0.0  # the analysis' score for it on this model (0: not suggested)


def family_matches(family: str, allowed: list[str]) -> bool:
    """Manifests may name a family coarsely ("cnn" for "cnn_classifier"); match on prefixes."""
    return any(family == a or family.startswith(a) or a.startswith(family) for a in allowed)


def applicable_techniques(inp: PlanningInput) -> tuple[list[Applicable], list[str]]:
    """Techniques that can run here on this model, and a note for each one left out."""
    usable: list[Applicable] = []
    skipped: list[str] = []
    suggested = opportunity_scores(inp.profile)
    for name, spec in load_techniques().items():
        ok, reason = spec.availability()
        manifest = spec.manifest
        if not ok:
            skipped.append(f"{name}: {reason}")
            continue
        if manifest.model_families is not None and not family_matches(
            inp.family, manifest.model_families
        ):
            skipped.append(f"{name}: suits {', '.join(manifest.model_families)}, not {inp.family}")
            continue
        if manifest.needs_data == "training" and not inp.has_training_data:
            skipped.append(f"{name}: needs training data (--train-data)")
            continue
        if manifest.needs_eager_module and inp.torch_graph:
            skipped.append(
                f"{name}: edits torch layers, and this model is a TorchScript / torch.export "
                "graph (load its state dict with --arch to allow it)"
            )
            continue
        if not can_take(manifest, Framework(inp.framework)):
            skipped.append(f"{name}: takes {[f.value for f in manifest.input_frameworks]} models")
            continue
        if manifest.output_framework not in _TIMED_OUTPUTS:
            skipped.append(f"{name}: its output cannot be timed on this host")
            continue
        if (why := _off_target(inp, spec)) is not None:
            skipped.append(f"{name}: {why}")
            continue
        if (
            why := profile_veto(spec, inp.profile, inp.target_runtime)
            or threads_veto(spec, inp.baseline.threads, inp.framework)
        ) is not None:
            skipped.append(f"{name}: {why}")
            continue
        if (why := _cannot_win(inp, spec)) is not None:
            skipped.append(f"{name}: {why}")
            continue
        history = inp.skills.get(name)
        effect = typical_effect(spec)
        if history is not None and history.passes:
            # Measured outcomes on similar models replace the prior.
            effect = Effect(
                history.size_factor if history.size_factor is not None else effect.size,
                history.latency_factor if history.latency_factor is not None else effect.latency,
            )
        usable.append(Applicable(spec, effect, history, suggested.get(name, 0.0)))
    return usable, skipped


_TIMED_OUTPUTS = frozenset(
    {Framework.ONNX, Framework.TORCH, Framework.OPENVINO, Framework.TFLITE, Framework.TENSORRT}
)


def _off_target(inp: PlanningInput, spec: TechniqueSpec) -> str | None:
    """Why a technique produces nothing the target runs (None: it does, or the target is cpu)."""
    if inp.target_runtime is None:
        return None
    manifest = spec.manifest
    if manifest.family in (TechniqueFamily.QUANTIZATION, TechniqueFamily.RUNTIME):
        if manifest.runtime != inp.target_runtime:
            return f"runs on {manifest.runtime}, not on target {inp.target} ({inp.target_runtime})"
        return None
    if manifest.output_framework not in inp.target_takes:
        return (
            f"its {manifest.output_framework.value} output cannot be converted for target "
            f"{inp.target}"
        )
    return None


def _cannot_win(inp: PlanningInput, spec: TechniqueSpec) -> str | None:
    """Why a technique cannot win this run (None: it can). With the latency objective and no
    size limit only a faster version is kept, so one that is never faster, even at its best
    (lossless packing runs the same bytes), is not tried: zstd-19 packing of ResNet-34 took
    123 s on a loaded 2-core host and could only be rolled back."""
    c = inp.constraints
    if c.objective.value != "latency" or c.max_size_mb is not None:
        return None
    best = best_effect(spec).latency
    if best < 1.0:
        return None
    return (
        f"never faster (best case latency ×{best:g}), and the latency objective with no size "
        "limit keeps only faster versions"
    )


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
