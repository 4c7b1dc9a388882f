"""Pareto front over (size, p50 latency, accuracy) of every evaluated model."""

from __future__ import annotations

from embodied_ai_architect.schemas.results import ParetoPoint


def _dominates(a: ParetoPoint, b: ParetoPoint) -> bool:
    acc_a = a.accuracy if a.accuracy is not None else 0.0
    acc_b = b.accuracy if b.accuracy is not None else 0.0
    # Median latency when known: it is what the search optimises (p95 is scheduling noise).
    lat_a = a.p50_ms if a.p50_ms is not None and b.p50_ms is not None else a.p95_ms
    lat_b = b.p50_ms if a.p50_ms is not None and b.p50_ms is not None else b.p95_ms
    no_worse = a.size_mb <= b.size_mb and lat_a <= lat_b and acc_a >= acc_b
    better = a.size_mb < b.size_mb or lat_a < lat_b or acc_a > acc_b
    return no_worse and better


def mark_front(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """The same points with ``on_front`` set: no other point is at least as good everywhere."""
    return [
        p.model_copy(update={"on_front": not any(_dominates(q, p) for q in points if q is not p)})
        for p in points
    ]
