"""Executing a plan step: apply each candidate to the current version, measure, judge, keep the best.

A candidate that raises is recorded as failed and rolled back (the current version is untouched:
it lives in the store and techniques only ever see a handle to read). A candidate that loses too
much accuracy gets a gentler fallback (mixed precision, lower ratio) while it still beats the
current version on speed or size; one that does not improve the step's objective is rolled back.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.evaluation.criteria import all_passed, failures, judge
from embodied_ai_architect.agents.optimization.base import (
    TechniqueContext,
    apply_technique,
    get_technique,
)
from embodied_ai_architect.agents.planning.planner import EXPORT_ONNX, fallback
from embodied_ai_architect.errors import ConstraintError, EAAError, InputError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle
from embodied_ai_architect.pipeline.versions import pack_artifact
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.progress import EventKind
from embodied_ai_architect.schemas.results import (
    AttemptRecord,
    ConstraintVerdict,
    PlanStep,
    Replan,
    StepCandidate,
    StepStatus,
    VersionMetrics,
)

if TYPE_CHECKING:
    from embodied_ai_architect.pipeline.state import RunState

NOISE = 0.03  # latency changes under 3 % are timer noise on a shared CPU, not gains


@dataclass
class Measured:
    candidate: StepCandidate
    handle: ModelHandle
    packed: Path
    metrics: VersionMetrics
    verdicts: list[ConstraintVerdict]
    attempt: AttemptRecord
    notes: list[str] = field(default_factory=list)


def deficit(c: Constraints, m: VersionMetrics) -> float:
    """How far a version is from the size and latency limits (0 when within both)."""
    total = 0.0
    if c.max_size_mb is not None and m.size_mb > c.max_size_mb:
        total += math.log(m.size_mb / c.max_size_mb)
    if c.max_latency_ms is not None and m.p95_ms > c.max_latency_ms:
        total += math.log(m.p95_ms / c.max_latency_ms)
    return total


def improves(
    c: Constraints, current: VersionMetrics, new: VersionMetrics, objective: str
) -> tuple[bool, str]:
    """Whether ``new`` is worth keeping over ``current`` for the step's objective, and why."""
    before, after = deficit(c, current), deficit(c, new)
    if after < before - 1e-3:
        return True, f"closer to the limits (deficit {before:.2f} → {after:.2f})"
    if after > before + 1e-3:
        return False, f"further from the limits (deficit {before:.2f} → {after:.2f})"
    # Gains are judged on the median: p95 on a shared CPU is dominated by scheduling noise.
    if objective == "latency":
        if new.p50_ms < current.p50_ms * (1 - NOISE):
            return True, f"p50 {current.p50_ms:.3g} → {new.p50_ms:.3g} ms"
        if new.size_bytes < current.size_bytes * 0.9 and new.p50_ms <= current.p50_ms * (1 + NOISE):
            return True, f"size {current.size_mb:.3g} → {new.size_mb:.3g} MB at equal speed"
        return False, f"no latency gain (p50 {new.p50_ms:.3g} ms vs {current.p50_ms:.3g} ms)"
    if new.size_bytes < current.size_bytes * 0.95:
        return True, f"size {current.size_mb:.3g} → {new.size_mb:.3g} MB"
    return False, f"no size gain ({new.size_mb:.3g} MB vs {current.size_mb:.3g} MB)"


def pick_best(c: Constraints, items: list[tuple[VersionMetrics, object]], objective: str) -> object:
    """The item with the smallest deficit, then the best objective; latencies within the noise
    margin of the fastest count as equal, so the smaller model wins such near-ties."""
    lowest = min(round(deficit(c, m), 3) for m, _ in items)
    pool = [(m, item) for m, item in items if round(deficit(c, m), 3) == lowest]
    if objective == "size":
        return min(pool, key=lambda pair: (pair[0].size_bytes, pair[0].p50_ms))[1]
    fastest = min(m.p50_ms for m, _ in pool)
    band = [(m, item) for m, item in pool if m.p50_ms <= fastest * (1 + NOISE)]
    return min(band, key=lambda pair: (pair[0].size_bytes, pair[0].p50_ms))[1]


def run_step(state: RunState, step: PlanStep, span: tuple[float, float]) -> str | None:
    """Run one step on the current version; returns the new version id, or None (rolled back)."""
    queue = list(step.candidates)
    kept: list[Measured] = []
    parent = state.current
    parent_metrics = state.registry.get(parent).metrics
    first_only = step.id == "structure"  # each retrains: keep the first one that helps
    tried = 0
    while queue:
        if stop := state.budget_exhausted():
            state.bus.emit(span[0], "optimization", stop, kind=EventKind.WARNING, step=step.id)
            break
        candidate = queue.pop(0)
        tried += 1
        width = (span[1] - span[0]) / max(1, len(step.candidates) + 1)
        low = min(span[1], span[0] + width * (tried - 1))
        state.bus.emit(
            low,
            "optimization",
            f"{step.id}: trying {candidate.technique} {candidate.config or ''}".strip(),
            step=step.id,
            data={"technique": candidate.technique, "config": candidate.config},
        )
        measured = try_candidate(state, step, candidate, parent, (low, low + width))
        if measured is None:
            continue
        accuracy_ok = all(v.passed for v in measured.verdicts if v.constraint == "accuracy")
        if not accuracy_ok:
            reason = failures([v for v in measured.verdicts if v.constraint == "accuracy"])
            state.reject(measured.attempt, reason)
            gain = (
                measured.metrics.p50_ms < parent_metrics.p50_ms * (1 - NOISE)
                or measured.metrics.size_bytes < parent_metrics.size_bytes * 0.95
            )
            nxt = None if candidate.technique == EXPORT_ONNX else _fallback(state, candidate)
            if nxt is not None and gain:
                queue.insert(0, nxt[0])
                state.replans.append(
                    Replan(
                        after_step=f"{step.id}:{candidate.technique}",
                        reason=f"{reason}; retry: {nxt[1]}",
                        added_steps=[f"{nxt[0].technique} {nxt[0].config}"],
                    )
                )
                state.bus.emit(
                    low, "planning", f"re-plan: {reason}; {nxt[1]}", kind=EventKind.DECISION
                )
            elif nxt is not None:
                state.bus.emit(
                    low,
                    "planning",
                    f"{candidate.technique}: no speed or size benefit left, fallback stops",
                    kind=EventKind.DECISION,
                )
            continue
        ok, why = improves(state.constraints, parent_metrics, measured.metrics, step.objective)
        if not ok:
            state.reject(measured.attempt, f"rolled back: {why}")
            continue
        measured.notes.append(why)
        kept.append(measured)
        if first_only:
            break
    if not kept:
        step.status = StepStatus.REJECTED if tried else StepStatus.SKIPPED
        step.outcome = "no candidate improved the model; kept " + parent
        return None
    best = pick_best(state.constraints, [(m.metrics, m) for m in kept], step.objective)
    assert isinstance(best, Measured)
    for other in (m for m in kept if m is not best):
        state.reject(
            other.attempt,
            f"measured but not kept: {best.candidate.technique} ranks better "
            f"(p95 {best.metrics.p95_ms:.3g} ms, {best.metrics.size_mb:.3g} MB)",
        )
    vid = state.accept(best, parent)
    step.status = StepStatus.ACCEPTED
    step.outcome = f"{best.candidate.technique} → {vid}: {'; '.join(best.notes)}"
    return vid


def _fallback(state: RunState, candidate: StepCandidate) -> tuple[StepCandidate, str] | None:
    return fallback(candidate, get_technique(candidate.technique), state.profile)


def try_candidate(
    state: RunState,
    step: PlanStep,
    candidate: StepCandidate,
    parent: str,
    span: tuple[float, float],
) -> Measured | None:
    """Apply + measure one candidate; failures are recorded and return None."""
    attempt = state.new_attempt(step.id, candidate, parent)
    if (why := inapplicable(state, candidate, parent)) is not None:
        state.skip(attempt, why)
        return None
    workdir = state.workdir / f"a{attempt.index}"
    started = time.perf_counter()
    try:
        handle = apply_candidate(state, candidate, parent, workdir, span)
    except (ConstraintError, InputError) as exc:
        if isinstance(exc, ConstraintError):
            raise
        state.fail(attempt, exc, time.perf_counter() - started)
        return None
    except EAAError as exc:
        state.fail(attempt, exc, time.perf_counter() - started)
        return None
    except Exception as exc:  # defence in depth: a bug in a technique never stops the run
        state.fail(attempt, exc, time.perf_counter() - started)
        return None
    attempt.technique_seconds = time.perf_counter() - started
    state.timings.technique_s += attempt.technique_seconds
    try:
        packed = pack_artifact(handle, workdir / "packed")
        metrics = state.measure(handle, packed)
    except Exception as exc:  # an output that cannot run or be timed is a failed attempt
        state.fail(attempt, exc, 0.0)
        return None
    attempt.metrics = metrics
    attempt.measure_seconds = metrics.measure_seconds
    verdicts = judge(state.constraints, state.baseline.metrics, metrics)
    attempt.verdicts = verdicts
    state.bus.emit(
        span[1],
        "evaluation",
        f"{candidate.technique}: p95 {metrics.p95_ms:.3g} ms, {metrics.size_mb:.3g} MB"
        + (f", accuracy {metrics.accuracy * 100:.2f} %" if metrics.accuracy is not None else "")
        + (" — meets all constraints" if all_passed(verdicts) else f" — {failures(verdicts)}"),
        kind=EventKind.METRIC,
        step=step.id,
        data={"metrics": metrics.model_dump(mode="json")},
    )
    return Measured(candidate, handle, packed, metrics, verdicts, attempt)


def inapplicable(state: RunState, candidate: StepCandidate, parent: str) -> str | None:
    """Why ``candidate`` cannot take the current version (a planning fact, not a failure)."""
    if candidate.technique == EXPORT_ONNX:
        return None
    accepts = get_technique(candidate.technique).manifest.input_frameworks
    framework = state.registry.handle(parent).framework
    if framework in accepts or (Framework.ONNX in accepts and framework is Framework.TORCH):
        return None
    return (
        f"takes {[f.value for f in accepts]} models; the current version {parent} is "
        f"{framework.value}"
    )


def apply_candidate(
    state: RunState,
    candidate: StepCandidate,
    parent: str,
    workdir: Path,
    span: tuple[float, float],
) -> ModelHandle:
    handle = state.registry.handle(parent)
    if candidate.technique == EXPORT_ONNX:
        return state.as_onnx(parent, handle)
    spec = get_technique(candidate.technique)
    accepts = spec.manifest.input_frameworks
    if handle.framework not in accepts:
        if Framework.ONNX in accepts and handle.framework is Framework.TORCH:
            handle = state.as_onnx(parent, handle)
        else:
            raise InputError(
                f"{candidate.technique} takes {[f.value for f in accepts]} models; the current "
                f"version {parent} is {handle.framework.value}",
                hint="the planner orders torch-only steps first; this step is skipped",
            )
    ctx = TechniqueContext(
        workdir=workdir,
        sink=state.bus,
        seed=state.seed,
        threads=state.threads,
        calibration=state.calibration(handle) if spec.manifest.needs_data != "none" else None,
        training_data=state.training_data,
        profile=state.profile,
        span=span,
        extras={"reference": state.registry.handle("v0")},
    )
    config: dict[str, Any] = dict(candidate.config)
    return apply_technique(candidate.technique, handle, ctx, config).handle
