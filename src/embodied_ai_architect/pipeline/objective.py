"""What a run optimises, in one place: step acceptance, ranking, Pareto filtering, the sentence.

Order of concerns, for every step and for the final choice:

1. the user's limits (size, p95 latency): meeting them always wins, and otherwise a smaller
   *deficit* to them does (deficits within ``DEFICIT_TIE`` of each other tie);
2. Pareto consistency: a candidate that another candidate dominates (no slower p50, no larger,
   no less accurate, better on one) is never picked;
3. the objective (``Constraints.objective``):

   * ``latency`` (default): minimise p50, then size. A version slower than its parent beyond
     the noise margin is never kept unless it closes a limit the user set;
   * ``size``: minimise size, then p50 (a smaller but slower version is kept: the user asked);
   * ``balanced``: minimise log p50 + log size; a step only takes moves that worsen neither
     axis beyond noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from embodied_ai_architect.schemas.constraints import Constraints, Objective
from embodied_ai_architect.schemas.results import VersionMetrics

NOISE = 0.03  # latency changes under 3 % are timer noise on a shared CPU, not gains
SIZE_GAIN = 0.05  # a size change under 5 % is not worth a new version
# Deficits (log units) this close are a tie: 0.2 % less size toward a limit still far away must
# not outrank a 25 % faster sibling (later steps close the gap; speed is what stays).
DEFICIT_TIE = math.log1p(NOISE)

T = TypeVar("T")


def deficit(c: Constraints, m: VersionMetrics) -> float:
    """How far a version is from the size and latency limits (0 when within both)."""
    return c.deficit(m.size_mb, m.p95_ms)


def _accuracy(m: VersionMetrics) -> float:
    return m.accuracy if m.accuracy is not None else 0.0


def dominates(a: VersionMetrics, b: VersionMetrics) -> bool:
    """``a`` is no worse than ``b`` on p50, size and accuracy, and better on at least one."""
    no_worse = (
        a.p50_ms <= b.p50_ms and a.size_bytes <= b.size_bytes and _accuracy(a) >= _accuracy(b)
    )
    better = a.p50_ms < b.p50_ms or a.size_bytes < b.size_bytes or _accuracy(a) > _accuracy(b)
    return no_worse and better


def pareto_front(items: Sequence[tuple[VersionMetrics, T]]) -> list[tuple[VersionMetrics, T]]:
    """The items no other item dominates (order kept)."""
    return [
        (m, item)
        for m, item in items
        if not any(dominates(other, m) for other, _ in items if other is not m)
    ]


def _balanced(m: VersionMetrics) -> float:
    return math.log(max(m.p50_ms, 1e-9)) + math.log(max(m.size_bytes, 1))


def closer(c: Constraints, before: VersionMetrics, after: VersionMetrics) -> int:
    """+1 when ``after`` is meaningfully closer to the limits than ``before``, -1 further, 0 a
    tie. Reaching every limit, or leaving one, always counts; other moves beyond the tie."""
    a, b = deficit(c, before), deficit(c, after)
    if b == 0 < a or b < a - DEFICIT_TIE:
        return 1
    if a == 0 < b or b > a + DEFICIT_TIE:
        return -1
    return 0


def least_deficit(
    c: Constraints, items: Sequence[tuple[VersionMetrics, T]]
) -> list[tuple[VersionMetrics, T]]:
    """The items meeting every limit, or when none does, those tied for the smallest deficit."""
    deficits = [deficit(c, m) for m, _ in items]
    lowest = min(deficits)
    reach = 0.0 if lowest == 0 else lowest + DEFICIT_TIE
    return [pair for pair, d in zip(items, deficits, strict=True) if d <= reach]


def pick_best(c: Constraints, items: Sequence[tuple[VersionMetrics, T]], objective: str) -> T:
    """The item with the smallest deficit, then (among the Pareto set) the best objective.

    Latencies within the noise margin of the fastest count as equal, so the smaller (then the
    more accurate) model wins such near-ties; the pick is never dominated by another item."""
    if not items:
        raise ValueError("pick_best needs at least one item")
    pool = pareto_front(least_deficit(c, items))
    if objective == Objective.SIZE:
        return min(pool, key=lambda p: (p[0].size_bytes, p[0].p50_ms, -_accuracy(p[0])))[1]
    if objective == Objective.BALANCED:
        return min(pool, key=lambda p: (round(_balanced(p[0]), 4), -_accuracy(p[0])))[1]
    fastest = min(m.p50_ms for m, _ in pool)
    band = [(m, item) for m, item in pool if m.p50_ms <= fastest * (1 + NOISE)]
    return min(band, key=lambda p: (p[0].size_bytes, -_accuracy(p[0]), p[0].p50_ms))[1]


def improves(
    c: Constraints, current: VersionMetrics, new: VersionMetrics, objective: str
) -> tuple[bool, str]:
    """Whether ``new`` is worth keeping over ``current`` (its parent) for ``objective``, and why."""
    before, after = deficit(c, current), deficit(c, new)
    if (move := closer(c, current, new)) > 0:
        return True, f"closer to the limits (deficit {before:.2f} → {after:.2f})"
    if move < 0:
        return False, f"further from the limits (deficit {before:.2f} → {after:.2f})"
    # Gains are judged on the median: p95 on a shared CPU is dominated by scheduling noise.
    faster = new.p50_ms < current.p50_ms * (1 - NOISE)
    slower = new.p50_ms > current.p50_ms * (1 + NOISE)
    smaller = new.size_bytes < current.size_bytes * (1 - SIZE_GAIN)
    larger = new.size_bytes > current.size_bytes * (1 + SIZE_GAIN)
    speed = f"p50 {current.p50_ms:.3g} → {new.p50_ms:.3g} ms"
    size = f"size {current.size_mb:.3g} → {new.size_mb:.3g} MB"
    if objective == Objective.SIZE:
        if smaller:
            return True, size
        if faster and not larger:
            return True, f"{speed} at equal size"
        # Name the threshold: "no gain" beside a smaller figure reads like a bug.
        return False, (
            f"size gain under {SIZE_GAIN * 100:.0f} % ({new.size_mb:.3g} MB vs {current.size_mb:.3g} MB) "
            "and not faster"
        )
    if slower:
        return False, f"slower than its parent ({speed}) and no limit needs it"
    if objective == Objective.BALANCED:
        gain = _balanced(current) - _balanced(new)
        if not larger and gain > NOISE:
            return True, f"{speed}, {size} (log p50 + log size −{gain:.2f})"
        return False, f"no balanced gain ({speed}, {size})"
    if faster:
        return True, speed
    if smaller:
        return True, f"{size} at equal speed"
    return False, f"no latency gain (p50 {new.p50_ms:.3g} ms vs {current.p50_ms:.3g} ms)"


def could_beat(
    c: Constraints, incumbent: VersionMetrics, candidate: VersionMetrics, objective: str
) -> bool:
    """Whether a more accurate variant of ``candidate`` (same speed and size) could still be
    kept over ``incumbent``: what a fallback chain needs to be worth continuing."""
    return improves(c, incumbent, candidate, objective)[0]


_OBJECTIVE_TEXT = {
    Objective.LATENCY: "p50 latency, then size",
    Objective.SIZE: "size, then p50 latency",
    Objective.BALANCED: "p50 latency × size (balanced)",
}


def explain_choice(
    c: Constraints,
    chosen_id: str,
    chosen: VersionMetrics,
    feasible: Sequence[tuple[str, VersionMetrics]],
    *,
    technique: str | None,
    met: bool,
) -> str:
    """One sentence: what was optimised and why the winner won."""
    objective = Objective(c.objective)
    limits = []
    if c.max_size_mb is not None:
        limits.append(f"size ≤ {c.max_size_mb:g} MB")
    if c.max_latency_ms is not None:
        limits.append(f"p95 ≤ {c.max_latency_ms:g} ms")
    bound = "the accuracy bound" if c.has_accuracy_bound() else "no accuracy bound"
    head = f"Optimised {_OBJECTIVE_TEXT[objective]}"
    head += (
        f" after meeting {' and '.join(limits)}, within {bound}"
        if limits
        else f" within {bound} (no latency or size limit set)"
    )
    name = f"{chosen_id} ({technique or 'original'})"
    figures = f"p50 {chosen.p50_ms:.3g} ms, {chosen.size_mb:.3g} MB"
    if not met:
        return f"{head}: no version met every constraint; {name} came closest ({figures})."
    others = [(vid, m) for vid, m in feasible if vid != chosen_id]
    if not others:
        return f"{head}: {name} won ({figures}), the only version meeting every constraint."
    if objective is Objective.SIZE:
        runner = min(others, key=lambda o: o[1].size_bytes)
        why = f"the smallest of {len(feasible)} feasible versions (next {runner[0]} at "
        why += f"{runner[1].size_mb:.3g} MB)"
    elif objective is Objective.BALANCED:
        runner = min(others, key=lambda o: _balanced(o[1]))
        why = f"the lowest p50 × size of {len(feasible)} feasible versions (next {runner[0]} at "
        why += f"p50 {runner[1].p50_ms:.3g} ms, {runner[1].size_mb:.3g} MB)"
    else:
        runner = min(others, key=lambda o: o[1].p50_ms)
        tie = runner[1].p50_ms < chosen.p50_ms
        why = (
            f"the smallest of the versions within {NOISE:.0%} of the fastest p50"
            if tie
            else f"the fastest of {len(feasible)} feasible versions"
        )
        why += f" (next {runner[0]} at p50 {runner[1].p50_ms:.3g} ms, {runner[1].size_mb:.3g} MB)"
    return f"{head}: {name} won at {figures}, {why}."
