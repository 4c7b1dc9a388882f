"""Decisions on interleaved timing: a step's kept candidates against their parent, and the final
choice among the run's versions.

A candidate is first timed alone, right after it is built (cheap, good enough to screen). On a
shared CPU that figure can be off by a factor of two or three depending on what else ran at that
moment, so every decision that ships a version (a step keeping one, the run picking its result)
re-times the versions it compares in alternation (``measure_interleaved``) and decides on those
figures. The re-timed metrics replace the sequential ones and say so (``timing``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.evaluation.criteria import judge
from embodied_ai_architect.agents.evaluation.latency import measure_interleaved
from embodied_ai_architect.agents.evaluation.metrics import effective_threads, pinned
from embodied_ai_architect.pipeline.objective import improves
from embodied_ai_architect.schemas.progress import EventKind
from embodied_ai_architect.schemas.results import VersionMetrics, VersionRecord

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.handle import ModelHandle
    from embodied_ai_architect.pipeline.chains import Measured
    from embodied_ai_architect.pipeline.state import RunState


def retimed(
    state: RunState,
    labels: list[str],
    handles: list[ModelHandle],
    metrics: list[VersionMetrics],
) -> list[VersionMetrics] | None:
    """``metrics`` with p50/p95 from one interleaved timing of ``handles`` (the first is the
    reference, e.g. the parent); None when a model cannot be timed (the caller keeps the
    sequential figures)."""
    started = time.perf_counter()
    try:
        timing = measure_interleaved(
            [pinned(h, state.threads) for h in handles], threads=state.threads
        )
    except Exception as exc:  # runtimes raise their own types; the sequential figures stand
        state.bus.emit(
            state.bus_percent(),
            "evaluation",
            f"interleaved timing of {', '.join(labels)} failed ({type(exc).__name__}: {exc}); "
            "deciding on the sequential figures",
            kind=EventKind.WARNING,
        )
        return None
    finally:
        state.timings.measurement_s += time.perf_counter() - started
    out: list[VersionMetrics] = []
    for index, (label, before) in enumerate(zip(labels, metrics, strict=True)):
        p50, p95 = timing.p50_ms[index], timing.p95_ms[index]
        # Each model ran with its own session: the count it declares (ort_threads) or the run's.
        threads = effective_threads(handles[index], state.threads)
        others = [other for other in labels if other != label]
        out.append(
            before.model_copy(
                update={
                    "p50_ms": p50,
                    "p95_ms": max(p95, p50),
                    "throughput_per_s": 1000.0 / p50 if p50 > 0 else 0.0,
                    "threads": threads,
                    "timing": f"interleaved with {', '.join(others)} "
                    f"({len(timing.rounds[index])} rounds; alone it read p50 "
                    f"{before.p50_ms:.3g} ms)",
                }
            )
        )
    state.bus.emit(
        state.bus_percent(),
        "evaluation",
        "interleaved timing: "
        + ", ".join(f"{label} p50 {m.p50_ms:.3g} ms" for label, m in zip(labels, out, strict=True)),
        kind=EventKind.METRIC,
    )
    return out


def confirm_kept(
    state: RunState, parent: str, kept: list[Measured], objective: str
) -> list[Measured]:
    """The kept candidates that still improve on ``parent`` when timed in alternation with it.

    The others are rejected with the interleaved figures as the reason: a step never keeps a
    version slower than its parent (beyond noise) unless it closes a limit the user set."""
    if not kept:
        return kept
    record = state.registry.get(parent)
    labels = [parent] + [f"a{m.attempt.index} ({m.candidate.technique})" for m in kept]
    handles = [state.registry.handle(parent)] + [m.handle for m in kept]
    figures = retimed(state, labels, handles, [record.metrics] + [m.metrics for m in kept])
    if figures is None:
        return kept
    parent_now = figures[0]
    survivors: list[Measured] = []
    for measured, metrics in zip(kept, figures[1:], strict=True):
        measured.metrics = metrics
        measured.attempt.metrics = metrics
        measured.verdicts = judge(state.constraints, state.baseline.metrics, metrics)
        measured.attempt.verdicts = measured.verdicts
        ok, why = improves(state.constraints, parent_now, metrics, objective)
        if ok:
            measured.notes = [f"{why} (timed in alternation with {parent})"]
            survivors.append(measured)
        else:
            state.reject(
                measured.attempt,
                f"rolled back: timed in alternation with {parent}, {why}",
            )
    return survivors


def retime_versions(state: RunState, versions: list[VersionRecord]) -> list[VersionRecord]:
    """``versions`` re-timed together (the registry's records are updated too), for the final
    choice: the result is then never slower than the original beyond noise, and the ranking
    does not depend on when each version happened to be timed."""
    if len(versions) < 2:
        return versions
    figures = retimed(
        state,
        [v.id for v in versions],
        [state.registry.handle(v.id) for v in versions],
        [v.metrics for v in versions],
    )
    if figures is None:
        return versions
    by_version = {v.id: metrics for v, metrics in zip(versions, figures, strict=True)}
    for attempt in getattr(state, "attempts", []):
        if attempt.version in by_version:  # the attempt that made a version shows its figures
            attempt.metrics = by_version[attempt.version]
    return [state.registry.replace_metrics(vid, metrics) for vid, metrics in by_version.items()]
