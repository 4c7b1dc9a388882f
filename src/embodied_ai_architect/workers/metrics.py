"""Job duration histogram kept by the supervisor, rendered in Prometheus text format."""

from __future__ import annotations

from embodied_ai_architect.utils.prometheus import Histogram

BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))


class JobMetrics:
    def __init__(self) -> None:
        self._durations = Histogram(
            "eaa_job_duration_seconds",
            "Wall-clock time of finished jobs, from start to end.",
            ("kind", "status"),
            BUCKETS,
        )

    def observe(self, *, kind: str, status: str, seconds: float) -> None:
        self._durations.observe((kind, status), seconds)

    def render(self) -> list[str]:
        return self._durations.render()
