"""A step's near miss: a candidate that beats the step's pick but is a little over the size limit.

Limits bind the delivered model, not each step's output. A static INT8 CNN 4× faster than the
step's feasible pick yet 3 % over the size limit is brought within it by the plan's own later
compaction (ORT graph optimization removes ~10 % of a small INT8 graph). Dropping it for the
slower feasible sibling would ship the worse model; so the step applies that compaction to the
near miss at once, measures the result like any candidate, and keeps the pair (the near miss,
then its compaction) when the result meets every limit and still wins on the objective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.evaluation.criteria import all_passed
from embodied_ai_architect.agents.optimization.base import can_take, get_technique
from embodied_ai_architect.pipeline.chains import Measured
from embodied_ai_architect.pipeline.objective import deficit, improves
from embodied_ai_architect.schemas.results import PlanStep, StepCandidate

if TYPE_CHECKING:
    from embodied_ai_architect.pipeline.state import RunState

COMPACTION = "onnx_graph_optimize"  # lossless: same numerics up to float rounding, fewer bytes
NEAR_MISS = 0.15  # over the size limit by at most this fraction: what compaction can recover

# try_candidate(state, step, candidate, parent, span) from pipeline.search.
Trial = Callable[["RunState", PlanStep, StepCandidate, str, tuple[float, float]], Measured | None]


def planned_compaction(later: Sequence[PlanStep]) -> StepCandidate | None:
    """The compaction a later step of the plan would apply (None: the plan has none, e.g. a
    target whose runtime cannot read ORT's contrib ops)."""
    for step in later:
        for candidate in step.candidates:
            if candidate.technique == COMPACTION:
                return candidate
    return None


def near_misses(
    state: RunState, kept: Sequence[Measured], best: Measured, objective: str
) -> list[Measured]:
    """Kept candidates over the size limit by at most ``NEAR_MISS`` (and meeting every other
    limit) that would beat ``best`` were the size limit met, best first."""
    c = state.constraints
    limit = c.max_size_mb
    if limit is None or deficit(c, best.metrics) > 0:
        return []
    unlimited = c.model_copy(update={"max_size_mb": None})
    found = [
        m
        for m in kept
        if m is not best
        and limit < m.metrics.size_mb <= limit * (1 + NEAR_MISS)
        and deficit(unlimited, m.metrics) == 0
        and improves(unlimited, best.metrics, m.metrics, objective)[0]
    ]
    return sorted(found, key=lambda m: (m.metrics.p50_ms, m.metrics.size_bytes))


def rescue(
    state: RunState,
    step: PlanStep,
    parent: str,
    kept: Sequence[Measured],
    best: Measured,
    objective: str,
    later: Sequence[PlanStep],
    span: tuple[float, float],
    trial: Trial,
) -> str | None:
    """Give the best near miss the plan's compaction now; the version id of the compacted
    model when it meets every constraint and beats ``best`` (both then stored: the near miss
    and its compaction), else None (nothing changed but the records of what was tried)."""
    compact = planned_compaction(later)
    misses = near_misses(state, kept, best, objective)
    if compact is None or not misses:
        return None
    miss = misses[0]
    manifest = get_technique(compact.technique).manifest
    if not can_take(manifest, miss.handle.framework) or state.budget_exhausted(compact):
        return None
    over = miss.metrics.size_mb / (state.constraints.max_size_mb or 1) - 1
    miss.notes.append(
        f"{over * 100:.1f} % over the size limit but better for {objective} than "
        f"{best.candidate.technique}: given the plan's {compact.technique} at once to close the gap"
    )
    source = state.accept(miss, miss.source or parent)
    compacted = trial(state, step, compact, source, span)
    if compacted is None:
        return None
    if not all_passed(compacted.verdicts):
        state.reject(
            compacted.attempt,
            f"compaction of the near miss {source} left it over a limit "
            f"({compacted.metrics.size_mb:.3g} MB > {state.constraints.max_size_mb:g} MB)",
        )
        return None
    ok, why = improves(state.constraints, best.metrics, compacted.metrics, objective)
    if not ok:
        state.reject(
            compacted.attempt,
            f"compacted near miss does not beat {best.candidate.technique}: {why}",
        )
        return None
    compacted.notes.append(f"near miss {source} compacted within the limits; vs {why}")
    return state.accept(compacted, source)
