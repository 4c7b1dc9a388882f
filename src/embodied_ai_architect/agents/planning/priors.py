"""Prior expectations per technique *family and precision* (never per model), used to rank plans;
a technique its family's prior misstates gets its own (``_TECHNIQUE_TYPICAL``).

Measured effects always win: priors only order what is tried first and bound what is possible.
Each entry: (size_factor, latency_factor) for a typical application; the ``optimistic`` ones are
the best case we have ever seen such a method reach, used to prove a goal unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass

from embodied_ai_architect.agents.optimization.base import TechniqueFamily, TechniqueSpec
from embodied_ai_architect.schemas.results import PlanStep, VersionMetrics


@dataclass(frozen=True)
class Effect:
    size: float
    latency: float


# Typical effects (ENVIRONMENT.md: INT8 at best ~2× FP32 on AVX2; FP16 no faster on this CPU).
_PRECISION_TYPICAL = {
    "int8": Effect(0.27, 0.7),
    "fp16": Effect(0.5, 1.0),
    "int4": Effect(0.18, 1.0),
    "nf4": Effect(0.18, 1.5),
    "fp32": Effect(1.0, 0.8),
    # FP32 weights computed in BF16: same file, planned only where BF16 is native.
    "bf16": Effect(1.0, 0.6),
}
_PRECISION_BEST = {
    # INT8 on VNNI/AMX hosts: OpenVINO INT8 of a ResNet-34 ran at 0.12× ORT FP32 (3.07 vs 25.8
    # ms) on the 2-vCPU AMX Xeon, YOLOv8s at 0.23× (docs/benchmarks.md); 0.45 had been the best
    # on the AVX2 EPYC.
    "int8": Effect(0.25, 0.1),
    "fp16": Effect(0.5, 0.9),
    "int4": Effect(0.13, 0.9),
    "nf4": Effect(0.13, 1.0),
    "fp32": Effect(1.0, 0.6),
    # OpenVINO BF16 on the 2-vCPU AMX Xeon: ResNet-34 0.19× ORT FP32 (5.0 vs 25.8 ms), YOLOv8s
    # 0.27× (0.29× its own FP32).
    "bf16": Effect(1.0, 0.18),
}
_FAMILY_TYPICAL = {
    TechniqueFamily.PRUNING: Effect(0.5, 0.6),
    TechniqueFamily.DISTILLATION: Effect(0.3, 0.4),
    TechniqueFamily.NAS: Effect(0.3, 0.4),
    TechniqueFamily.COMPRESSION: Effect(0.9, 0.95),
    # Session settings (ort_threads) keep the file; 1 thread instead of 2 made the reach VLA
    # 1.21× faster on the 2-core EPYC (docs/benchmarks.md run 4), bigger models lose.
    TechniqueFamily.RUNTIME: Effect(1.0, 0.95),
}
# Structure-changing methods can shrink a model a lot, but a student that keeps the task has a
# floor; 10× fewer MACs / bytes is the most aggressive setting our search spaces allow.
_FAMILY_BEST = {
    TechniqueFamily.PRUNING: Effect(0.1, 0.1),
    TechniqueFamily.DISTILLATION: Effect(0.1, 0.1),
    TechniqueFamily.NAS: Effect(0.1, 0.1),
    TechniqueFamily.COMPRESSION: Effect(0.8, 0.9),
    TechniqueFamily.RUNTIME: Effect(1.0, 0.8),
}


# Techniques whose effect their family's prior misstates. Lossless packing (zstd) shrinks the
# stored file only: the model that runs is byte-identical, so its latency cannot change.
_TECHNIQUE_TYPICAL = {"pack_zstd": Effect(0.8, 1.0)}
_TECHNIQUE_BEST = {"pack_zstd": Effect(0.6, 1.0)}


def _precision(spec: TechniqueSpec) -> str | None:
    precisions = spec.manifest.precisions
    return precisions[0].lower() if precisions else None


def _prior(
    spec: TechniqueSpec,
    by_technique: dict[str, Effect],
    by_precision: dict[str, Effect],
    by_family: dict[TechniqueFamily, Effect],
    unknown_precision: Effect,
) -> Effect:
    """The technique's own entry, else its precision's (quantization), else its family's."""
    if spec.name in by_technique:
        return by_technique[spec.name]
    if spec.manifest.family is TechniqueFamily.QUANTIZATION:
        return by_precision.get(_precision(spec) or "int8", unknown_precision)
    return by_family.get(spec.manifest.family, Effect(1.0, 1.0))


def typical_effect(spec: TechniqueSpec) -> Effect:
    return _prior(spec, _TECHNIQUE_TYPICAL, _PRECISION_TYPICAL, _FAMILY_TYPICAL, Effect(0.5, 1.0))


def best_effect(spec: TechniqueSpec) -> Effect:
    return _prior(spec, _TECHNIQUE_BEST, _PRECISION_BEST, _FAMILY_BEST, Effect(0.5, 0.9))


# Relative cost of trying a structural method (training epochs it needs): pruning keeps the
# trained weights and fine-tunes briefly; distillation trains a student; NAS trains several.
_FAMILY_COST = {
    TechniqueFamily.PRUNING: 1.0,
    TechniqueFamily.DISTILLATION: 3.0,
    TechniqueFamily.NAS: 5.0,
}


def relative_cost(spec: TechniqueSpec) -> float:
    return _FAMILY_COST.get(spec.manifest.family, 1.0)


def predict(baseline: VersionMetrics, steps: list[PlanStep]) -> tuple[float, float]:
    """(size in bytes, p95 in ms) after ``steps``, each at its predicted factors."""
    size = float(baseline.size_bytes)
    latency = baseline.p95_ms
    for step in steps:
        size *= step.predicted.get("size_factor", 1.0)
        latency *= step.predicted.get("latency_factor", 1.0)
    return size, latency
