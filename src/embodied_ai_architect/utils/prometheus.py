"""A labelled Prometheus histogram, thread-safe, rendered in the text exposition format.

Used for job durations (the supervisor) and HTTP request latencies (the API).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence


class Histogram:
    """Cumulative bucket counts and a sum per label-value tuple.

    Example:
        >>> latency = Histogram("eaa_x_seconds", "X latency.", ("route",), (0.1, 1, float("inf")))
        >>> latency.observe(("/health",), 0.05)
        >>> latency.render()[2]
        'eaa_x_seconds_bucket{route="/health",le="0.1"} 1'
    """

    def __init__(
        self, name: str, help_text: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.name = name
        self.help_text = help_text
        self.labels = tuple(labels)
        self.buckets = tuple(buckets)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], list[int]] = defaultdict(
            lambda: [0] * len(self.buckets)
        )
        self._sums: dict[tuple[str, ...], float] = defaultdict(float)

    def observe(self, values: tuple[str, ...], seconds: float) -> None:
        with self._lock:
            counts = self._counts[values]
            for index, bound in enumerate(self.buckets):
                if seconds <= bound:
                    counts[index] += 1
            self._sums[values] += seconds

    def render(self) -> list[str]:
        name = self.name
        lines = [f"# HELP {name} {self.help_text}", f"# TYPE {name} histogram"]
        with self._lock:
            for values, counts in sorted(self._counts.items()):
                labels = ",".join(
                    f'{label}="{value}"' for label, value in zip(self.labels, values, strict=True)
                )
                for bound, count in zip(self.buckets, counts, strict=True):
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(f'{name}_bucket{{{labels},le="{le}"}} {count}')
                lines.append(f"{name}_sum{{{labels}}} {self._sums[values]:.6f}")
                lines.append(f"{name}_count{{{labels}}} {counts[-1]}")
        return lines
