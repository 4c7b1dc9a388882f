"""Learned skills: what each technique did on similar models (same family and target) before.

Pure functions over plain records, so the planner stays independent of the database; the
pipeline reads them from the store and writes new ones after each run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SkillRecord:
    family: str
    target: str
    technique: str
    config: dict[str, Any]
    effect: dict[str, float]  # size_factor, latency_factor, accuracy_delta
    passed: bool


@dataclass(frozen=True)
class SkillStats:
    technique: str
    tries: int
    passes: int
    size_factor: float | None
    latency_factor: float | None

    @property
    def pass_rate(self) -> float:
        return self.passes / self.tries if self.tries else 0.0

    def describe(self) -> str:
        parts = [f"passed {self.passes}/{self.tries} before"]
        if self.latency_factor is not None:
            parts.append(f"latency ×{self.latency_factor:.2f}")
        if self.size_factor is not None:
            parts.append(f"size ×{self.size_factor:.2f}")
        return ", ".join(parts)


def summarize(records: list[SkillRecord]) -> dict[str, SkillStats]:
    """Per technique: how often it passed and its median measured effect when it passed."""
    by_technique: dict[str, list[SkillRecord]] = {}
    for record in records:
        by_technique.setdefault(record.technique, []).append(record)
    stats: dict[str, SkillStats] = {}
    for technique, items in sorted(by_technique.items()):
        passed = [r for r in items if r.passed]
        stats[technique] = SkillStats(
            technique=technique,
            tries=len(items),
            passes=len(passed),
            size_factor=_median([r.effect.get("size_factor") for r in passed]),
            latency_factor=_median([r.effect.get("latency_factor") for r in passed]),
        )
    return stats


def _median(values: list[float | None]) -> float | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    middle = len(present) // 2
    if len(present) % 2:
        return present[middle]
    return (present[middle - 1] + present[middle]) / 2
