"""Executing a plan step: apply each candidate to the current version, measure, judge, keep the best.

A candidate that raises is recorded as failed and rolled back (the current version is untouched:
it lives in the store and techniques only ever see a handle to read). A candidate that loses too
much accuracy gets a gentler fallback (mixed precision, lower ratio) while it still beats the
current version on speed or size; one that does not improve the step's objective is rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.evaluation.criteria import all_passed, failures, judge
from embodied_ai_architect.agents.optimization.base import (
    get_technique,
)
from embodied_ai_architect.agents.planning.gentler import fallback
from embodied_ai_architect.agents.planning.planner import EXPORT_ONNX
from embodied_ai_architect.errors import ConstraintError, EAAError, InputError
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.pipeline.apply import apply_candidate, inapplicable, readable_source
from embodied_ai_architect.pipeline.chains import (
    Measured,
    StepSearch,
    beyond_reach,
    slow_cut,
    stop_reason,
)
from embodied_ai_architect.pipeline.near_miss import rescue
from embodied_ai_architect.pipeline.objective import improves, pick_best
from embodied_ai_architect.pipeline.parallel import PrepareOutcome
from embodied_ai_architect.pipeline.prefetch import Prefetcher
from embodied_ai_architect.pipeline.retime import confirm_kept
from embodied_ai_architect.pipeline.versions import pack_artifact
from embodied_ai_architect.schemas.constraints import Objective
from embodied_ai_architect.schemas.progress import EventKind
from embodied_ai_architect.schemas.results import (
    AttemptRecord,
    PlanStep,
    Replan,
    StepCandidate,
    StepStatus,
    VersionMetrics,
)

if TYPE_CHECKING:
    from embodied_ai_architect.pipeline.state import RunState


RETIME_WITHIN = 1.5  # alone-timed this close to the parent, the interleaved re-timing decides


def run_step(
    state: RunState,
    step: PlanStep,
    span: tuple[float, float],
    later: Sequence[PlanStep] = (),
) -> str | None:
    """Run one step on the current version; returns the new version id, or None (rolled back).
    ``later``: the plan's steps after this one (a near miss may get their compaction now)."""
    queue = list(step.candidates)
    parent = state.current
    search = StepSearch(state.registry.get(parent).metrics)
    objective = step.objective
    first_only = step.id == "structure"  # each retrains: keep the first one that helps
    # With search workers, candidates are applied and checked ahead in parallel batches and
    # consumed here in planned order (pipeline/prefetch.py); without, each runs in turn below.
    ahead = Prefetcher(state, step.id, parent, span, state.search_pool())
    tried = 0
    while queue:
        if stop := state.budget_exhausted(queue[0]):
            state.bus.emit(span[0], "optimization", stop, kind=EventKind.WARNING, step=step.id)
            ahead.discard_all(stop)
            break
        ahead.prepare_ahead(queue, search.dropped)
        candidate = queue.pop(0)
        if candidate.technique in search.dropped:
            ahead.discard(candidate, f"{candidate.technique} was dropped for this model")
            continue
        if (hopeless := search.hopeless.get(candidate.technique)) is not None:
            ahead.discard(candidate, hopeless)
            state.skip(state.new_attempt(step.id, candidate, parent), hopeless)
            continue
        if (out_of_reach := beyond_reach(state, search, candidate, objective)) is not None:
            ahead.discard(candidate, out_of_reach)
            state.skip(state.new_attempt(step.id, candidate, parent), out_of_reach)
            continue
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
        measured = try_candidate(
            state, step, candidate, parent, (low, low + width), ahead.take(candidate)
        )
        if measured is None:
            continue
        if measured.slow is not None:
            search.dropped[candidate.technique] = measured.slow
            why = f"{candidate.technique} dropped for this model: {measured.slow}"
            state.reject(measured.attempt, f"rolled back without evaluation: {why}")
            state.bus.emit(low, "planning", why, kind=EventKind.DECISION, step=step.id)
            continue
        accuracy_ok = all(v.passed for v in measured.verdicts if v.constraint == "accuracy")
        if not accuracy_ok:
            reason = failures([v for v in measured.verdicts if v.constraint == "accuracy"])
            if candidate.technique == EXPORT_ONNX:
                state.reject(measured.attempt, reason)
                continue
            why_stop = stop_reason(state, search, measured, objective)
            nxt = _fallback(state, candidate) if why_stop is None else None
            # The attempt's own record says what happens next, not only the run's events.
            state.reject(measured.attempt, f"{reason}; {_next_move(why_stop, nxt)}")
            if nxt is not None:
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
            elif why_stop is not None:
                search.note_stop(candidate.technique, measured.verdicts)
                state.bus.emit(low, "planning", why_stop, kind=EventKind.DECISION, step=step.id)
            continue
        if step.required:
            # The target needs this conversion whatever it costs against a runtime it lacks.
            measured.notes.append(f"required: {step.rationale}")
            search.kept.append(measured)
            break
        ok, why = improves(state.constraints, search.parent_metrics, measured.metrics, objective)
        if not ok and not (
            objective != Objective.SIZE
            and measured.metrics.p50_ms <= search.parent_metrics.p50_ms * RETIME_WITHIN
        ):
            state.reject(measured.attempt, f"rolled back: {why}")
            continue
        if not ok:
            # Timed alone on a busy CPU a real winner can read slower: one within reach goes
            # to the interleaved re-timing against the parent, which decides (confirm_kept).
            why = f"timed alone it read slower ({why}); kept for the interleaved re-timing"
        measured.notes.append(why)
        search.kept.append(measured)
        if first_only:
            break
    ahead.discard_all(f"the {step.id} step ended before reaching them")
    if not step.required:
        # Alone-timed figures screened the candidates; the kept ones are re-timed in alternation
        # with the parent before one is shipped (sequential timing on a loaded CPU misranks them).
        search.kept = confirm_kept(state, parent, search.kept, objective)
    if not search.kept:
        step.status = StepStatus.REJECTED if tried else StepStatus.SKIPPED
        step.outcome = "no candidate improved the model; kept " + parent
        return None
    best = pick_best(state.constraints, [(m.metrics, m) for m in search.kept], objective)
    rescued = rescue(
        state, step, parent, search.kept, best, objective, later, span, trial=try_candidate
    )
    if rescued is not None:
        won = state.registry.get(rescued)
        winner = f"the compacted near miss {rescued}"
        _reject_others(state, search.kept, objective, winner, won.metrics)
        step.status = StepStatus.ACCEPTED
        step.outcome = f"near miss {won.parent} compacted by {won.technique} → {rescued}"
        return rescued
    _reject_others(state, search.kept, objective, best.candidate.technique, best.metrics, best)
    vid = state.accept(best, best.source or parent)
    step.status = StepStatus.ACCEPTED
    step.outcome = f"{best.candidate.technique} → {vid}: {'; '.join(best.notes)}"
    return vid


def _reject_others(
    state: RunState,
    kept: Sequence[Measured],
    objective: str,
    winner: str,
    won: VersionMetrics,
    skip: Measured | None = None,
) -> None:
    """Record why each kept candidate not stored as a version lost to ``winner``."""
    for other in kept:
        if other is skip or other.attempt.status is not StepStatus.PENDING:
            continue
        state.reject(
            other.attempt,
            f"measured but not kept: {winner} ranks better for {objective} (p50 "
            f"{won.p50_ms:.3g} ms, {won.size_mb:.3g} MB vs p50 {other.metrics.p50_ms:.3g} ms, "
            f"{other.metrics.size_mb:.3g} MB)",
        )


def _next_move(why_stop: str | None, nxt: tuple[StepCandidate, str] | None) -> str:
    if why_stop is not None:
        return f"no gentler retry: {why_stop}"
    if nxt is not None:
        return f"retry: {nxt[1]}"
    return "no gentler setting left to try"


def _fallback(state: RunState, candidate: StepCandidate) -> tuple[StepCandidate, str] | None:
    return fallback(candidate, get_technique(candidate.technique), state.profile)


def try_candidate(
    state: RunState,
    step: PlanStep,
    candidate: StepCandidate,
    parent: str,
    span: tuple[float, float],
    prepared: PrepareOutcome | None = None,
) -> Measured | None:
    """Apply + measure one candidate; failures are recorded and return None. ``prepared``:
    the candidate already applied and fidelity-checked by a search worker (only timing is
    left; the same records as when it runs here)."""
    attempt = state.new_attempt(step.id, candidate, parent)
    if (why := inapplicable(state, candidate, parent)) is not None:
        state.skip(attempt, why)
        return None
    source = readable_source(state, candidate.technique, parent)
    if prepared is not None:
        return _consume(state, step, candidate, parent, span, attempt, prepared, source)
    workdir = state.workdir / f"a{attempt.index}"
    started = time.perf_counter()
    try:
        handle = apply_candidate(state, candidate, source, workdir, span)
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
        # Fidelity on a small subset first: a clear miss is only timed briefly (enough to decide
        # on a retry), never run through the full timing and evaluation.
        screened = state.screen(handle)
        parent_metrics = state.registry.get(parent).metrics
        cut = slow_cut(state, step, parent_metrics)
        metrics = state.measure(
            handle,
            packed,
            reference_ms=parent_metrics.p50_ms,
            score=screened,
            slower_than=cut,
            parent=parent,
        )
    except ConstraintError:  # a user error (e.g. a --fidelity metric the outputs lack) stops
        raise
    except Exception as exc:  # an output that cannot run or be timed is a failed attempt
        state.fail(attempt, exc, 0.0)
        return None
    measured = _measured(state, step, candidate, span, attempt, handle, packed, metrics, source)
    if cut is not None and metrics.p50_ms > cut and metrics.accuracy is None and state.evaluator:
        measured.slow = (
            f"p50 {metrics.p50_ms:.3g} ms is {metrics.p50_ms / max(parent_metrics.p50_ms, 1e-9):.1f}× "
            f"its parent's {parent_metrics.p50_ms:.3g} ms and no size limit needs it"
        )
    return measured


def _consume(
    state: RunState,
    step: PlanStep,
    candidate: StepCandidate,
    parent: str,
    span: tuple[float, float],
    attempt: AttemptRecord,
    prepared: PrepareOutcome,
    source: str,
) -> Measured | None:
    """A worker's outcome recorded as the in-process path records it, then timed here."""
    for event in prepared.events:  # the technique's progress, in planned order
        state.bus(event)
    attempt.technique_seconds = prepared.technique_seconds
    if prepared.error is not None:
        exc = prepared.exception()
        if isinstance(exc, ConstraintError):
            raise exc  # a user error stops the run, as it does in process
        seconds = prepared.technique_seconds if prepared.error_stage == "apply" else 0.0
        state.fail(attempt, exc, seconds, counted=True)
        return None
    assert prepared.output is not None and prepared.packed is not None
    try:
        handle = prepared.output.open(state.request, state.threads)
        metrics = state.measure(
            handle,
            prepared.packed,
            reference_ms=state.registry.get(parent).metrics.p50_ms,
            score=prepared.screened,
            evaluated=prepared.evaluated,
        )
    except ConstraintError:
        raise
    except Exception as exc:  # an output that cannot run or be timed is a failed attempt
        state.fail(attempt, exc, 0.0)
        return None
    return _measured(
        state, step, candidate, span, attempt, handle, prepared.packed, metrics, source
    )


def _measured(
    state: RunState,
    step: PlanStep,
    candidate: StepCandidate,
    span: tuple[float, float],
    attempt: AttemptRecord,
    handle: ModelHandle,
    packed: Path,
    metrics: VersionMetrics,
    source: str,
) -> Measured:
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
    return Measured(candidate, handle, packed, metrics, verdicts, attempt, source=source)
