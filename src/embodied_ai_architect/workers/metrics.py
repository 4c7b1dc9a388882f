"""Job duration histogram kept by the supervisor, rendered in Prometheus text format."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))


class JobMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self._sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, *, kind: str, status: str, seconds: float) -> None:
        with self._lock:
            counts = self._counts[(kind, status)]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self._sums[(kind, status)] += seconds

    def render(self) -> list[str]:
        name = "eaa_job_duration_seconds"
        lines = [
            f"# HELP {name} Wall-clock time of finished jobs, from start to end.",
            f"# TYPE {name} histogram",
        ]
        with self._lock:
            for (kind, status), counts in sorted(self._counts.items()):
                labels = f'kind="{kind}",status="{status}"'
                for bound, count in zip(BUCKETS, counts, strict=True):
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(f'{name}_bucket{{{labels},le="{le}"}} {count}')
                lines.append(f"{name}_sum{{{labels}}} {self._sums[(kind, status)]:.6f}")
                lines.append(f"{name}_count{{{labels}}} {counts[-1]}")
        return lines
