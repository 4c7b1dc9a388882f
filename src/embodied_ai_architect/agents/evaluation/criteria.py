"""Pass/fail verdicts per constraint, each with a reason a user can read."""

from __future__ import annotations

from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.results import ConstraintVerdict, VersionMetrics


def judge(
    constraints: Constraints, baseline: VersionMetrics, candidate: VersionMetrics
) -> list[ConstraintVerdict]:
    """One verdict per constraint the user set, comparing ``candidate`` with the limits."""
    verdicts: list[ConstraintVerdict] = []
    if constraints.max_size_mb is not None:
        verdicts.append(_at_most("size", "size", candidate.size_mb, constraints.max_size_mb, "MB"))
    if constraints.max_latency_ms is not None:
        verdicts.append(
            _at_most("latency", "p95", candidate.p95_ms, constraints.max_latency_ms, "ms")
        )
    if constraints.has_accuracy_bound():
        verdicts.append(accuracy_verdict(constraints, baseline, candidate))
    return verdicts


def _at_most(
    constraint: str, label: str, actual: float, limit: float, unit: str
) -> ConstraintVerdict:
    ok = actual <= limit
    return ConstraintVerdict(
        constraint=constraint,
        passed=ok,
        actual=actual,
        limit=limit,
        reason=f"{label} {actual:.3g} {unit} {'≤' if ok else '>'} {limit:g} {unit}",
    )


def accuracy_verdict(
    constraints: Constraints, baseline: VersionMetrics, candidate: VersionMetrics
) -> ConstraintVerdict:
    base = baseline.accuracy if baseline.accuracy is not None else 1.0
    floor = constraints.accuracy_floor(base)
    actual = candidate.accuracy
    if actual is None:
        return ConstraintVerdict(
            constraint="accuracy",
            passed=False,
            actual=None,
            limit=floor,
            reason="accuracy was not measured",
        )
    # A tolerance of one part in a million keeps float noise from failing an equal score.
    ok = actual >= floor - 1e-6
    drop = (base - actual) * 100
    name = metric_name(candidate.accuracy_metric)
    return ConstraintVerdict(
        constraint="accuracy",
        passed=ok,
        actual=actual,
        limit=floor,
        reason=f"{name} {actual * 100:.2f} % {'≥' if ok else '<'} {floor * 100:.2f} % "
        f"(drop {drop:.2f} points vs {base * 100:.2f} %)",
    )


# The user's words for what was scored (the metric names the Evaluation agent records).
_METRIC_NAMES = {
    "success_rate": "success",
    "fidelity": "fidelity to the original",
    "top1_accuracy": "top-1 accuracy",
}


def metric_name(metric: str | None) -> str:
    """``fidelity_cosine`` → "cosine fidelity to the original"; unknown or None → "accuracy"."""
    if metric is None:
        return "accuracy"
    if metric in _METRIC_NAMES:
        return _METRIC_NAMES[metric]
    if metric.startswith("fidelity_"):
        return f"{metric.removeprefix('fidelity_')} fidelity to the original"
    return metric.replace("_", " ")


def all_passed(verdicts: list[ConstraintVerdict]) -> bool:
    return all(v.passed for v in verdicts)


def failures(verdicts: list[ConstraintVerdict]) -> str:
    return "; ".join(v.reason for v in verdicts if not v.passed)
