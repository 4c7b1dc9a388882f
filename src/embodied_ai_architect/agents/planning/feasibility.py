"""Early stop: prove that no plan can meet the constraints, and say why with numbers."""

from __future__ import annotations

from embodied_ai_architect.agents.optimization.base import TechniqueFamily
from embodied_ai_architect.agents.planning.applicability import Applicable, PlanningInput
from embodied_ai_architect.agents.planning.priors import _PRECISION_BEST, best_effect

# A model whose accuracy the user requires above its own can only get there by luck.
_ACCURACY_SLACK = 0.01


def optimistic_factors(usable: list[Applicable]) -> tuple[float, float, list[str]]:
    """Best-case (size, latency) factors of the most aggressive plan: every group at its best."""
    size, latency = 1.0, 1.0
    steps: list[str] = []
    groups: dict[str, list[Applicable]] = {}
    for item in usable:
        family = item.spec.manifest.family
        key = (
            "structure"
            if family
            in (TechniqueFamily.PRUNING, TechniqueFamily.DISTILLATION, TechniqueFamily.NAS)
            else family.value
        )
        groups.setdefault(key, []).append(item)
    # Switching runtime is always possible for torch / ONNX models.
    runtime = _PRECISION_BEST["fp32"]
    latency *= runtime.latency
    steps.append(f"fastest FP32 runtime (latency ×{runtime.latency})")
    for key, items in sorted(groups.items()):
        best_size = min(min(best_effect(i.spec).size, i.effect.size) for i in items)
        best_latency = min(min(best_effect(i.spec).latency, i.effect.latency) for i in items)
        size *= best_size
        latency *= best_latency
        steps.append(f"{key} (size ×{best_size:g}, latency ×{best_latency:g})")
    return size, latency, steps


def unreachable_evidence(inp: PlanningInput, usable: list[Applicable]) -> list[str]:
    """Reasons the constraints cannot be met even by the most aggressive plan (empty: may be)."""
    c = inp.constraints
    evidence: list[str] = []
    base = inp.baseline
    if (
        c.min_accuracy is not None
        and base.accuracy is not None
        and c.min_accuracy > base.accuracy + _ACCURACY_SLACK
    ):
        evidence.append(
            f"the original model scores {base.accuracy * 100:.2f} % but at least "
            f"{c.min_accuracy * 100:.2f} % is required; compression does not add accuracy"
        )
    size_factor, latency_factor, steps = optimistic_factors(usable)
    chain = " → ".join(steps)
    if c.max_latency_ms is not None:
        best = base.p95_ms * latency_factor
        if best > c.max_latency_ms:
            evidence.append(
                f"even the most aggressive plan ({chain}) reaches at best p95 "
                f"{best:.3g} ms (baseline {base.p95_ms:.3g} ms × {latency_factor:.3g}), "
                f"{best / c.max_latency_ms:.1f}× the {c.max_latency_ms:g} ms limit"
            )
    if c.max_size_mb is not None:
        best_mb = base.size_bytes / 1e6 * size_factor
        if best_mb > c.max_size_mb:
            evidence.append(
                f"even the most aggressive plan ({chain}) reaches at best {best_mb:.3g} MB "
                f"(baseline {base.size_mb:.3g} MB × {size_factor:.3g}), "
                f"{best_mb / c.max_size_mb:.1f}× the {c.max_size_mb:g} MB limit"
            )
    return evidence
