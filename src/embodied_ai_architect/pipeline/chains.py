"""What one search step learns as it goes: measured candidates, fallback chains, drops.

A step's candidates are judged against its parent and the best kept so far (the incumbent).
These rules decide when a technique's fallback chain stops and when a candidate is not worth
evaluating, so that the search spends its time on candidates that can still win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.optimization.base import get_technique
from embodied_ai_architect.agents.planning.planner import EXPORT_ONNX
from embodied_ai_architect.agents.planning.priors import best_effect
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.pipeline.objective import could_beat, pick_best
from embodied_ai_architect.schemas.constraints import Objective
from embodied_ai_architect.schemas.results import (
    AttemptRecord,
    ConstraintVerdict,
    PlanStep,
    StepCandidate,
    VersionMetrics,
)

if TYPE_CHECKING:
    from embodied_ai_architect.pipeline.state import RunState


@dataclass
class Measured:
    candidate: StepCandidate
    handle: ModelHandle
    packed: Path
    metrics: VersionMetrics
    verdicts: list[ConstraintVerdict]
    attempt: AttemptRecord
    notes: list[str] = field(default_factory=list)
    source: str = (
        ""  # the version the technique read (the parent, or its nearest readable ancestor)
    )
    slow: str | None = None  # why it was timed but never evaluated: it loses on speed anyway


MIN_FIDELITY_MOVE = 0.002  # a retry raising the chain's best score less than this is not converging
SLOW_DROP = 1.5  # a first variant this much slower than its parent drops the technique
# A chain this far below the floor whose first retry gained nothing will not close the gap one
# FP32 layer at a time (ViT-S static INT8 stayed at 31-39 % across 8 exclusion sets).
HOPELESS_GAP = 0.25
# How far a kept version's alone-timed p50 may be off: ResNet-34's BF16 IR read 4.77 ms timed
# alone, 9.45 ms in alternation with its FP32 parent and 5.04 ms later on the AMX Xeon. A best
# case is held against the incumbent only after allowing for that.
ALONE_TIMING_SLACK = 1.5


@dataclass
class StepSearch:
    """What one step has learnt so far: kept versions, per-technique fallback chains, drops."""

    parent_metrics: VersionMetrics
    kept: list[Measured] = field(default_factory=list)
    chains: dict[str, list[float]] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    # Techniques whose fallback chain stopped far below the floor: why their planned variants
    # (another preset, BF16 for the unquantized layers) are not applied.
    hopeless: dict[str, str] = field(default_factory=dict)

    def note_stop(self, technique: str, verdicts: list[ConstraintVerdict]) -> None:
        """After ``technique``'s chain stopped: remember it when its best score stayed more than
        ``HOPELESS_GAP`` below the floor. A variant of the same quantizer changes how it rounds,
        not what it rounds: ResNet-34's OpenVINO INT8 read 62.5 % with FP32 and with BF16 for
        the unquantized layers, 35.5 points short of a 98 % floor."""
        chain = self.chains.get(technique, [])
        floor = next((v.limit for v in verdicts if v.constraint == "accuracy"), None)
        if floor is None or not chain or floor - max(chain) <= HOPELESS_GAP:
            return
        self.hopeless[technique] = (
            f"{technique} read at most {max(chain) * 100:.2f} % here, "
            f"{(floor - max(chain)) * 100:.1f} points short of the floor {floor * 100:.2f} %, "
            "and its fallback stopped: a variant of the same quantizer does not close that"
        )

    def incumbent(self, state: RunState, objective: str) -> VersionMetrics:
        """The version a new candidate must beat: the best kept so far, else the parent."""
        if not self.kept:
            return self.parent_metrics
        best = pick_best(state.constraints, [(m.metrics, m) for m in self.kept], objective)
        return best.metrics


def size_needed(state: RunState, parent: VersionMetrics, objective: str) -> bool:
    """Whether a smaller-but-slower version can still be worth keeping in this run."""
    c = state.constraints
    return objective == Objective.SIZE or (
        c.max_size_mb is not None and parent.size_mb > c.max_size_mb
    )


def stop_reason(
    state: RunState, search: StepSearch, measured: Measured, objective: str
) -> str | None:
    """Why a candidate that lost accuracy gets no gentler retry (None: retry)."""
    technique = measured.candidate.technique
    m = measured.metrics
    chain = search.chains.setdefault(technique, [])
    chain.append(m.accuracy if m.accuracy is not None else 0.0)
    parent = search.parent_metrics
    if (
        len(chain) == 1
        and m.p50_ms > parent.p50_ms * SLOW_DROP
        and not size_needed(state, parent, objective)
    ):
        search.dropped[technique] = (
            f"first variant p50 {m.p50_ms:.3g} ms is {m.p50_ms / max(parent.p50_ms, 1e-9):.1f}× "
            f"its parent's {parent.p50_ms:.3g} ms and no size limit needs it"
        )
        return f"{technique} dropped for this model: {search.dropped[technique]}"
    # Converging means raising the chain's best score: on a small selection set the score of a
    # hopeless chain jitters (50 → 37.5 → 43.8 % on ResNet-34), which "moved" but never gained.
    if len(chain) >= 3 and all(
        chain[i] < max(chain[:i]) + MIN_FIDELITY_MOVE for i in (len(chain) - 1, len(chain) - 2)
    ):
        return (
            f"{technique}: the last two retries did not raise the best score by "
            f"{MIN_FIDELITY_MOVE * 100:.1f} points or more "
            f"({', '.join(f'{v * 100:.2f}' for v in chain)} %), fallback stops"
        )
    floor = next((v.limit for v in measured.verdicts if v.constraint == "accuracy"), None)
    if (
        len(chain) == 2
        and floor is not None
        and chain[1] < chain[0] + MIN_FIDELITY_MOVE
        and floor - max(chain) > HOPELESS_GAP
    ):
        return (
            f"{technique}: its first retry did not raise the score ({chain[0] * 100:.2f} → "
            f"{chain[1] * 100:.2f} %) and it is {(floor - max(chain)) * 100:.1f} points short of "
            f"the floor {floor * 100:.2f} %, fallback stops"
        )
    incumbent = search.incumbent(state, objective)
    if not could_beat(state.constraints, incumbent, m, objective):
        return f"{technique}: even at full accuracy it could not beat the incumbent, fallback stops"
    return None


def slow_cut(state: RunState, step: PlanStep, parent: VersionMetrics) -> float | None:
    """The p50 past which a candidate of ``step`` loses on speed alone (None: none applies).

    Timed alone, a candidate over ``SLOW_DROP`` × its parent is rolled back whatever its
    accuracy unless a size limit needs it, so it is not evaluated at all (a 950 ms ORT dynamic
    INT8 ResNet-34 against its 403 ms parent spent 30 s in evaluation for that verdict)."""
    if step.required or size_needed(state, parent, step.objective):
        return None
    return parent.p50_ms * SLOW_DROP


def beyond_reach(
    state: RunState, search: StepSearch, candidate: StepCandidate, objective: str
) -> str | None:
    """Why even the technique's best case on record cannot beat what the step has kept (None:
    it might, or nothing is kept yet). Such a candidate is not applied at all: on MiniLM, INT4
    GPTQ spent 200 s quantizing once INT8 versions twice as fast as its best case were kept.

    The incumbent was timed alone, so the best case must lose by more than that timing can be
    off (``ALONE_TIMING_SLACK``): ResNet-34's INT8 candidates were once skipped against a BF16
    version whose alone-timed 4.77 ms was half its interleaved figure."""
    if not search.kept or candidate.technique == EXPORT_ONNX:
        return None
    best = best_effect(get_technique(candidate.technique))
    parent = search.parent_metrics
    latency = best.latency / ALONE_TIMING_SLACK
    optimistic = parent.model_copy(
        update={
            "p50_ms": parent.p50_ms * latency,
            "p95_ms": parent.p95_ms * latency,
            "size_bytes": int(parent.size_bytes * best.size),
        }
    )
    incumbent = search.incumbent(state, objective)
    if could_beat(state.constraints, incumbent, optimistic, objective):
        return None
    return (
        f"even its best case on record (latency ×{best.latency:g}, size ×{best.size:g} of the "
        f"parent), with {ALONE_TIMING_SLACK:g}× slack for timing alone (p50 "
        f"{optimistic.p50_ms:.3g} ms, {optimistic.size_mb:.3g} MB), cannot beat the step's best "
        f"so far (p50 {incumbent.p50_ms:.3g} ms, {incumbent.size_mb:.3g} MB)"
    )
