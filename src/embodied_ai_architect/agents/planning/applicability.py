"""Which techniques the planner may use here, and why each other one is left out.

A technique is applicable when it is available on this host, suits the model's family, has the
data it needs, takes the model's framework, produces something the target runs, is not vetoed
by the profile, and could win under the run's objective. :class:`PlanningInput` is what the
planner knows about the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueFamily,
    TechniqueSpec,
    can_take,
    load_techniques,
)
from embodied_ai_architect.agents.planning.priors import Effect, best_effect, typical_effect
from embodied_ai_architect.agents.planning.profile_rules import (
    opportunity_scores,
    profile_veto,
    threads_veto,
)
from embodied_ai_architect.agents.planning.skills import SkillStats
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.schemas.results import StepCandidate, VersionMetrics


@dataclass(frozen=True)
class PlanningInput:
    """What the planner sees: the profile, limits, the measured baseline and the data at hand."""

    profile: ModelProfile | None
    family: str
    constraints: Constraints
    baseline: VersionMetrics
    framework: str
    has_training_data: bool
    has_calibration_data: bool
    skills: dict[str, SkillStats] = field(default_factory=dict)
    # A TorchScript / torch.export graph runs and exports, but cannot be edited layer by layer.
    torch_graph: bool = False
    # The target's runtime (None: 'cpu', every CPU runtime competes) and the model frameworks
    # its FP32 conversion can take (a structural step's output must still reach the target).
    target: str = "cpu"
    target_runtime: str | None = None
    target_takes: frozenset[Framework] = frozenset()
    # The FP32 conversion onto the target's runtime (None: the model already runs there).
    target_step: StepCandidate | None = None


@dataclass(frozen=True)
class Applicable:
    spec: TechniqueSpec
    effect: Effect
    history: SkillStats | None
    opportunity: float = 0.0  # the analysis' score for it on this model (0: not suggested)


def family_matches(family: str, allowed: list[str]) -> bool:
    """Manifests may name a family coarsely ("cnn" for "cnn_classifier"); match on prefixes."""
    return any(family == a or family.startswith(a) or a.startswith(family) for a in allowed)


def applicable_techniques(inp: PlanningInput) -> tuple[list[Applicable], list[str]]:
    """Techniques that can run here on this model, and a note for each one left out."""
    usable: list[Applicable] = []
    skipped: list[str] = []
    suggested = opportunity_scores(inp.profile)
    for name, spec in load_techniques().items():
        ok, reason = spec.availability()
        manifest = spec.manifest
        if not ok:
            skipped.append(f"{name}: {reason}")
            continue
        if manifest.model_families is not None and not family_matches(
            inp.family, manifest.model_families
        ):
            skipped.append(f"{name}: suits {', '.join(manifest.model_families)}, not {inp.family}")
            continue
        if manifest.needs_data == "training" and not inp.has_training_data:
            skipped.append(f"{name}: needs training data (--train-data)")
            continue
        if manifest.needs_eager_module and inp.torch_graph:
            skipped.append(
                f"{name}: edits torch layers, and this model is a TorchScript / torch.export "
                "graph (load its state dict with --arch to allow it)"
            )
            continue
        if not can_take(manifest, Framework(inp.framework)) and not _reached_later(inp, spec):
            skipped.append(f"{name}: takes {[f.value for f in manifest.input_frameworks]} models")
            continue
        if manifest.output_framework not in _TIMED_OUTPUTS:
            skipped.append(f"{name}: its output cannot be timed on this host")
            continue
        if (why := _off_target(inp, spec)) is not None:
            skipped.append(f"{name}: {why}")
            continue
        if (
            why := profile_veto(spec, inp.profile, inp.target_runtime)
            or threads_veto(spec, inp.baseline.threads, inp.framework)
        ) is not None:
            skipped.append(f"{name}: {why}")
            continue
        if (why := _host_veto(inp, spec)) is not None:
            skipped.append(f"{name}: {why}")
            continue
        if (why := _cannot_win(inp, spec)) is not None:
            skipped.append(f"{name}: {why}")
            continue
        history = inp.skills.get(name)
        effect = typical_effect(spec)
        if history is not None and history.passes:
            # Measured outcomes on similar models replace the prior.
            effect = Effect(
                history.size_factor if history.size_factor is not None else effect.size,
                history.latency_factor if history.latency_factor is not None else effect.latency,
            )
        usable.append(Applicable(spec, effect, history, suggested.get(name, 0.0)))
    return usable, skipped


_TIMED_OUTPUTS = frozenset(
    {Framework.ONNX, Framework.TORCH, Framework.OPENVINO, Framework.TFLITE, Framework.TENSORRT}
)


def _reached_later(inp: PlanningInput, spec: TechniqueSpec) -> bool:
    """Whether a runtime-settings technique for OpenVINO models (openvino_threads) will find one:
    the plan's runtime, precision or target step converts an ONNX or torch model to OpenVINO,
    and the step applies it only where the final version runs there (another target's runtime
    rules it out later, in ``_off_target``)."""
    manifest = spec.manifest
    return (
        manifest.family is TechniqueFamily.RUNTIME
        and manifest.input_frameworks == [Framework.OPENVINO]
        and inp.framework in ("onnx", "torch")
    )


def _off_target(inp: PlanningInput, spec: TechniqueSpec) -> str | None:
    """Why a technique produces nothing the target runs (None: it does, or the target is cpu)."""
    if inp.target_runtime is None:
        return None
    manifest = spec.manifest
    if manifest.family in (TechniqueFamily.QUANTIZATION, TechniqueFamily.RUNTIME):
        if manifest.runtime != inp.target_runtime:
            return f"runs on {manifest.runtime}, not on target {inp.target} ({inp.target_runtime})"
        return None
    if manifest.output_framework not in inp.target_takes:
        return (
            f"its {manifest.output_framework.value} output cannot be converted for target "
            f"{inp.target}"
        )
    return None


def _host_veto(inp: PlanningInput, spec: TechniqueSpec) -> str | None:
    """Why this CPU cannot run a technique's precision fast (None: it can, or nothing to say).
    BF16 compute keeps FP32 weights, so its only gain is speed, and emulated BF16 is slower
    than FP32: it is planned only where the host has it natively (the profile's capability
    matrix; without a profile, the host asked directly)."""
    manifest = spec.manifest
    if "bf16" not in [p.lower() for p in manifest.precisions] or manifest.runtime != "openvino":
        return None
    if inp.profile is None:
        from embodied_ai_architect.agents.analysis.host import openvino_bf16

        fast, why = openvino_bf16()
    else:
        rows = [
            c
            for c in inp.profile.capabilities
            if c.runtime == manifest.runtime and c.precision == "bf16"
        ]
        fast = bool(rows) and rows[0].fast
        why = rows[0].reason if rows else "the host analysis lists no BF16 for OpenVINO"
    return None if fast else f"no native BF16 compute on this CPU ({why})"


_CONV_OPS = frozenset({"Conv", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose", "ConvTranspose2d"})


def _convolutions_share(profile: ModelProfile | None) -> float:
    """How much of the model is convolutions: the larger of their share of the weights (the op
    census, every layer) and of the MACs of the layers the profile lists (the largest ones);
    0 when the profile does not say."""
    if profile is None:
        return 0.0
    weights = sum(c.parameter_share for c in profile.op_census if c.op_type in _CONV_OPS)
    listed = sum(layer.macs or 0 for layer in profile.layers if layer.op_type in _CONV_OPS)
    return max(weights, listed / profile.macs if profile.macs else 0.0)


def _cannot_win(inp: PlanningInput, spec: TechniqueSpec) -> str | None:
    """Why a technique cannot win this run (None: it can). With the latency objective and no
    size limit only a faster version is kept, so one that is never faster, even at its best
    (lossless packing runs the same bytes), is not tried: zstd-19 packing of ResNet-34 took
    123 s on a loaded 2-core host and could only be rolled back."""
    c = inp.constraints
    if c.objective.value != "latency" or c.max_size_mb is not None:
        return None
    if spec.name == "ort_int8_dynamic" and (share := _convolutions_share(inp.profile)) >= 0.5:
        return (
            f"it is {share:.0%} convolutions, which dynamic INT8 runs as ConvInteger: "
            "4.6–7.3× slower than FP32 on every host measured (ResNet-34 5.9×, YOLOv8s 4.9×, "
            "PP-OCR cls 7.3×, AMX Xeon and EPYC), and the latency objective with no size "
            "limit keeps only faster versions"
        )
    best = best_effect(spec).latency
    if best < 1.0:
        return None
    return (
        f"never faster (best case latency ×{best:g}), and the latency objective with no size "
        "limit keeps only faster versions"
    )
