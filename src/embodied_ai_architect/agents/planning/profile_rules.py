"""What the profile rules out before anything is measured, and how it orders equal candidates.

Each rule reads a measured fact of *this* model (its MACs, its foldable BatchNorms, the
analysis' ranked opportunities), never its name, and says why in the user's terms. A technique
left out here lands in the run's "not planned" evidence with that sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embodied_ai_architect.agents.optimization.base import TechniqueFamily, TechniqueSpec
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.schemas.results import PlanStep, StepCandidate


@dataclass(frozen=True)
class CallOverhead:
    """A runtime whose fixed cost per inference call outweighs its faster kernels on small
    models: below ``min_macs`` it is not planned (unless the target runs it)."""

    min_macs: int
    evidence: str


# Measured on the 2-core AVX2 EPYC (docs/benchmarks.md): OpenVINO FP32 was 5× slower than ONNX
# Runtime on a 136 k-MAC MLP policy and 2.9× slower, timed in alternation, on the 16 M-MAC
# PP-OCR direction classifier; on MiniLM (0.7 GMACs) it was within 7 % of ORT and on YOLOv8s
# (14 GMACs) its INT8 was 2× faster than ORT FP32. 50 M MACs keeps both losses out.
CALL_OVERHEAD = {
    # Above this it depends on the host, so it is measured: the 16 M-MAC PP-OCR classifier ran
    # 2.9× slower on OpenVINO than on ONNX Runtime on the AVX2 EPYC, 1.29× faster on the AMX
    # Xeon (1 thread each, docs/benchmarks.md run 8).
    "openvino": CallOverhead(
        min_macs=5_000_000,
        evidence="its per-call and per-kernel overhead lost to ONNX Runtime on models this "
        "small on every host measured (5–10× slower on a 136 k-MAC MLP policy, 3.2× on the "
        "1.1 M-MAC reach VLA)",
    ),
}


def _foldable(profile: ModelProfile, spec: TechniqueSpec) -> str | None:
    if profile.foldable_batchnorms != 0:
        return None  # some to fold, or not counted (an older profile): let the technique try
    return (
        "the analysis found no BatchNorm directly after a Conv (foldable_batchnorms = 0), so "
        "folding has nothing to fold and cannot make the model faster or smaller"
    )


# Techniques that only act on a structure the profile counts: name → why it has nothing to do.
NEEDS_STRUCTURE: dict[str, Callable[[ModelProfile, TechniqueSpec], str | None]] = {
    "fold_batchnorm": _foldable,
}


def profile_veto(
    spec: TechniqueSpec, profile: ModelProfile | None, target_runtime: str | None
) -> str | None:
    """Why the profile says ``spec`` cannot pay off on this model (None: it may)."""
    if profile is None:
        return None
    rule = NEEDS_STRUCTURE.get(spec.name)
    if rule is not None and (why := rule(profile, spec)) is not None:
        return why
    overhead = CALL_OVERHEAD.get(spec.manifest.runtime)
    if (
        overhead is not None
        and target_runtime != spec.manifest.runtime  # the user asked for that runtime
        and profile.macs is not None
        and profile.macs < overhead.min_macs
    ):
        return (
            f"the model computes {profile.macs / 1e6:.3g} M MACs per inference, under the "
            f"{overhead.min_macs / 1e6:.0f} M where {spec.manifest.runtime} pays off on CPU: "
            f"{overhead.evidence}"
        )
    return None


def opportunity_scores(profile: ModelProfile | None) -> dict[str, float]:
    """The analysis' score per suggested technique (its best one), 0 for the rest."""
    scores: dict[str, float] = {}
    for item in profile.opportunities if profile is not None else []:
        scores[item.technique] = max(scores.get(item.technique, 0.0), item.score)
    return scores


# -- the run's thread count: runtime-settings techniques (ort_threads) -------------------------
def threads_veto(spec: TechniqueSpec, threads: int, framework: str) -> str | None:
    """Why a runtime-settings technique has nothing to try in this run (None: it has)."""
    if spec.manifest.family is not TechniqueFamily.RUNTIME:
        return None
    if threads <= 1:
        return (
            f"the run times every version with {threads} thread (--threads): there is no "
            "smaller intra-op thread count to measure"
        )
    if framework not in ("torch", "onnx"):
        return f"a {framework} model has no ONNX Runtime or OpenVINO session to set"
    return None


def thread_counts(threads: int) -> list[int]:
    """Intra-op thread counts below the run's to measure: 1, 2, 4, … (the run's own count is
    the parent's)."""
    counts: list[int] = []
    count = 1
    while count < threads:
        counts.append(count)
        count *= 2
    return counts


# Below this many MACs the fastest thread count at batch 1 can be 1, and the runtime that wins
# on 1 thread can lose on 2: the PP-OCR classifier (16 M MACs) ran OpenVINO FP32 0.91 ms on 1
# thread and ORT FP32 1.39, yet at 2 threads the two were within noise and the runtime step
# twice kept ORT (docs/benchmarks.md, run 18). The threads step only sees the kept runtime.
SINGLE_THREAD_MACS = 100_000_000


def single_thread_runtimes(
    profile: ModelProfile | None, candidates: list[StepCandidate], threads: int
) -> list[StepCandidate]:
    """The runtime step's OpenVINO FP32 candidates again on 1 thread, for a small model timed
    with more (so each runtime is compared at the count that suits it); [] otherwise."""
    if (
        threads <= 1
        or profile is None
        or profile.macs is None
        or profile.macs >= SINGLE_THREAD_MACS
    ):
        return []
    return [
        StepCandidate(
            technique=c.technique,
            config={**c.config, DECLARED_THREADS: 1},
            note=f"on 1 thread: {profile.macs / 1e6:.3g} M MACs is small enough for the thread "
            "pool's synchronisation to cost more than the second thread gains",
        )
        for c in candidates
        if c.technique == "openvino_ir"
    ]


def threads_step(
    techniques: list[str], threads: int, *, objective: str, latency_factor: float
) -> PlanStep:
    """The last step of every plan: the final model timed with fewer intra-op threads."""
    return PlanStep(
        id="threads",
        objective=objective,
        candidates=[
            StepCandidate(
                technique=name,
                config={DECLARED_THREADS: count},
                note=f"{count} intra-op thread(s)",
            )
            for name in techniques
            for count in thread_counts(threads)
        ],
        rationale="at batch 1 a small model can lose time to synchronising its runtime's "
        "thread pool (the reach VLA ran 1.21× faster on 1 thread than on 2): fewer intra-op "
        f"threads than the run's {threads} are timed on the final model and kept only if "
        "faster; the version then runs and ships with that count",
        predicted={"latency_factor": latency_factor, "size_factor": 1.0},
    )


# -- configurations worth timing beside a technique's default --------------------------------
# Non-ReLU activations, as torch modules or ONNX ops (SiLU is Sigmoid · x in most exports).
_SIGNED_ACTIVATION_OPS = frozenset(
    {"Sigmoid", "HardSigmoid", "HardSwish", "Gelu", "Erf", "Softplus", "Elu", "Selu", "Mish"}
    | {"SiLU", "GELU", "Hardswish", "Hardsigmoid"}
)


def precision_variants(
    profile: ModelProfile | None, candidate: StepCandidate
) -> list[StepCandidate]:
    """Configurations timed right after ``candidate`` because their speed differs by host.

    ``openvino_int8``'s ``preset="auto"`` picks NNCF's mixed preset (asymmetric activations) for
    non-ReLU activations: more faithful on YOLOv8s on the AVX2 EPYC, but on the AMX Xeon NNCF's
    symmetric ``performance`` preset ran the same detector 1.18× faster at the same held-out
    fidelity (docs/benchmarks.md, peers run 6). Both are timed; the step keeps the better.

    Where the CPU computes BF16 natively (the profile's capability matrix), that variant runs
    its unquantized layers in BF16 (``compute="bf16"``): on the AMX Xeon the symmetric INT8 of
    YOLOv8s ran 30.4 ms with FP32 and 27.5 ms with BF16 for the layers NNCF leaves alone."""
    if candidate.technique != "openvino_int8" or candidate.config or profile is None:
        return []
    bf16 = any(
        c.runtime == "openvino" and c.precision == "bf16" and c.fast for c in profile.capabilities
    )
    signed = bool({c.op_type for c in profile.op_census} & _SIGNED_ACTIVATION_OPS)
    if not signed and not bf16:
        return []  # 'auto' already resolves to 'performance'
    config: dict[str, Any] = {"preset": "performance"} if signed else {}
    notes = (
        [
            "symmetric activations: faster INT8 kernels on VNNI/AMX hosts, timed beside the "
            "mixed preset the non-ReLU activations would pick"
        ]
        if signed
        else []
    )
    if bf16:
        config["compute"] = "bf16"
        notes.append("unquantized layers in BF16, native on this CPU")
    return [StepCandidate(technique="openvino_int8", config=config, note="; ".join(notes))]
