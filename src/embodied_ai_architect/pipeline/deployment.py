"""The Deployment stage of an optimize run: package and validate the chosen version for its target.

``--target cpu`` (the default) packages the winner on the runtime it was measured on, when that
runtime is a registered target (ONNX Runtime, OpenVINO, LiteRT); a torch winner's stored
artifact is the deliverable. A named target (``openvino``, ``jetson:orin-nano``, ...) gets the
winner converted at FP32 if the search left it on another framework (e.g. a pruned torch model),
through the same conversion techniques ``branes deploy run`` uses. Validation compares the
packaged file with the version it came from, on the run's evaluation data where that is an
input file, else on the run's calibration inputs (a simulation suite's observations), else on
seeded random inputs (said in the record).

``branes deploy run`` is a :class:`FixedPlan` through the same orchestrator: one required step
(the conversion technique the target registers for the precision; none when the target runs the
model as it is) and this stage with a :class:`DeploySpec`: the requested precision, the user's
validation (against the FP32 original, the precision loss being the point), the report beside
the artifact in ``--out``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.deployment.convert import takes_at_fp32, to_target
from embodied_ai_architect.agents.deployment.targets.base import (
    Conversion,
    DeployContext,
    DeploymentTarget,
    get_target,
    load_targets,
)
from embodied_ai_architect.agents.deployment.targets.profiles import (
    HOST_TARGET,
    ResolvedTarget,
    resolve_target,
)
from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.deployment import (
    DeploymentPrecision,
    DeploymentResult,
    ValidationConfig,
)
from embodied_ai_architect.schemas.progress import EventKind
from embodied_ai_architect.schemas.results import Plan, StepCandidate, StepStatus

if TYPE_CHECKING:
    from embodied_ai_architect.agents.optimization.base import TechniqueContext
    from embodied_ai_architect.pipeline.state import RunState
    from embodied_ai_architect.schemas.results import VersionRecord

DEPLOYMENT_DIR = "deployment"
DEPLOYMENT_REPORT = "deployment.json"
VALIDATION_REPORT = "validation.json"
VALIDATION_SAMPLES = 16
_PRECISIONS = {p.value: p for p in DeploymentPrecision}


@dataclass(frozen=True)
class DeploySpec:
    """How the Deployment stage treats a fixed deploy plan's output (``branes deploy run``).

    ``validation`` None: no validation (the request asked for none). ``request``: the
    DeployRequest as JSON, written into ``deployment.json``."""

    precision: DeploymentPrecision
    validation: ValidationConfig | None
    request: dict[str, Any]
    calibration_samples: int | None = None  # what the data really held (None: no calibration)


@dataclass(frozen=True)
class FixedPlan:
    """A plan given to the orchestrator instead of one it makes: no analysis, no planning, no
    choice (the plan's last output is the result), then the Deployment stage per ``deploy``.
    ``original``: the model already loaded and checked by the face that built the plan."""

    plan: Plan
    original: ModelHandle
    deploy: DeploySpec

    def completed(self) -> bool:
        """Whether every step made its version (else there is nothing to deploy)."""
        return all(step.status is StepStatus.ACCEPTED for step in self.plan.steps)


def check_target(constraints: Constraints) -> tuple[Constraints, ResolvedTarget]:
    """Resolve ``constraints.target``; refuse an unavailable target before any work.

    A device profile's model-size limit tightens ``max_size_mb`` (never loosens it).
    """
    resolved = resolve_target(constraints.target)
    if resolved.target != HOST_TARGET:
        get_target(resolved.target).check_available()  # TargetUnavailableError naming the gap
    profile = resolved.profile
    if profile is not None and (
        constraints.max_size_mb is None or constraints.max_size_mb > profile.max_model_mb
    ):
        constraints = constraints.model_copy(update={"max_size_mb": profile.max_model_mb})
    return constraints, resolved


def planning_facts(
    resolved: ResolvedTarget, source: ModelHandle
) -> tuple[str | None, frozenset[Framework], StepCandidate | None]:
    """What the planner needs to know about the target: its runtime, the frameworks its FP32
    conversion takes, and the step that converts ``source`` onto it (None: runs there already).
    For ``cpu`` there is no filter and no conversion step."""
    if resolved.target == HOST_TARGET:
        return None, frozenset(), None
    from embodied_ai_architect.agents.planning.planner import EXPORT_ONNX

    target = get_target(resolved.target)
    takes = frozenset(f for f in Framework if takes_at_fp32(target, f))
    step: StepCandidate | None = None
    if not target.runs(source):
        conversion = target.conversion(DeploymentPrecision.FP32, "static", source.framework)
        if conversion.technique is not None:
            step = StepCandidate(
                technique=conversion.technique,
                config=dict(conversion.config),
                note=f"FP32 on {target.runtime}",
            )
        elif Framework.ONNX in target.frameworks:
            step = StepCandidate(technique=EXPORT_ONNX, note="ONNX Runtime FP32")
    return target.runtime, takes, step


def runs_on_target(state: RunState, version: VersionRecord) -> bool:
    """Whether the run's target runs ``version`` as it is (always, for ``cpu``)."""
    if state.target.target == HOST_TARGET:
        return True
    return get_target(state.target.target).runs(state.registry.handle(version.id))


def host_target_for(handle: ModelHandle) -> DeploymentTarget | None:
    """For ``--target cpu``: the registered target that runs this version as it is."""
    for _, cls in load_targets().items():
        target = cls()
        if target.runs(handle) and target.is_available()[0]:
            return target
    return None


def version_precision(state: RunState, version: VersionRecord) -> DeploymentPrecision:
    """The lowest precision along the version's lineage (a pruned INT8 model is INT8)."""
    from embodied_ai_architect.agents.optimization.base import load_techniques

    registry = load_techniques()
    found = DeploymentPrecision.FP32
    for record in state.registry.lineage(version.id):
        # v0 has no technique, and the built-in ONNX export is not a registered one
        if record.technique is not None and record.technique in registry:
            spec = registry.get(record.technique)
            named = str(record.config.get("precision") or "").split("_")[0]
            for value in [named, *spec.manifest.precisions]:
                if value in _PRECISIONS:
                    found = _lower(found, _PRECISIONS[value])
                    break
    return found


def _lower(a: DeploymentPrecision, b: DeploymentPrecision) -> DeploymentPrecision:
    order = [
        DeploymentPrecision.FP32,
        DeploymentPrecision.BF16,
        DeploymentPrecision.FP16,
        DeploymentPrecision.INT8,
    ]
    return max(a, b, key=order.index)


def deploy_chosen(
    state: RunState,
    version: VersionRecord,
    out_dir: Path,
    resolved: ResolvedTarget,
    spec: DeploySpec | None = None,
) -> DeploymentResult | None:
    """Package and validate ``version`` for the run's target; None when there is nothing to
    package (``--target cpu`` with a torch winner). Failures are recorded, not raised.

    ``spec`` (a deploy run): the report goes into ``out_dir`` itself, at the requested
    precision, validated as the request says against the FP32 original."""
    started = time.perf_counter()
    handle = state.registry.handle(version.id)
    if resolved.target == HOST_TARGET:
        target = host_target_for(handle)
        if target is None:
            state.bus.emit(
                92,
                "deployment",
                f"{version.id} runs on {handle.framework.value}: its stored artifact is the "
                "deliverable (name a target with --target to package it for a runtime)",
            )
            return None
    else:
        target = get_target(resolved.target)
    precision = spec.precision if spec is not None else version_precision(state, version)
    where = out_dir if spec is not None else out_dir / DEPLOYMENT_DIR
    dctx = DeployContext(
        out_dir=where, threads=state.threads, seed=state.seed, sink=state.bus, span=(91, 97)
    )
    state.bus.emit(
        91,
        "deployment",
        f"packaging {version.id} ({precision.value}) for {resolved.name}",
        kind=EventKind.DECISION,
    )
    try:
        result = _package(state, version, target, precision, dctx, spec)
    except EAAError as exc:
        result = DeploymentResult(
            success=False,
            target=target.name,
            precision=precision,
            logs=dctx.logs,
            error={"code": exc.code, "message": exc.message, "hint": exc.hint},
        )
        state.bus.emit(
            97,
            "deployment",
            f"deployment failed: {exc.message}",
            kind=EventKind.WARNING,
        )
    result.seconds = time.perf_counter() - started
    result.report_path = where / DEPLOYMENT_REPORT
    where.mkdir(parents=True, exist_ok=True)
    request = spec.request if spec is not None else state.request.model_dump(mode="json")
    # The same fields whichever command asked: the run (`branes runs show`), the version
    # packaged, the target as named, the request that asked for it, then the result.
    payload = {
        "run_id": state.recorder.job_id,
        "version": version.id,
        "target": resolved.name,
        "request": request,
        **json.loads(result.model_dump_json(exclude={"target"})),
    }
    result.report_path.write_text(json.dumps(payload, indent=2))
    return result


def _package(
    state: RunState,
    version: VersionRecord,
    target: DeploymentTarget,
    precision: DeploymentPrecision,
    dctx: DeployContext,
    spec: DeploySpec | None,
) -> DeploymentResult:
    handle = state.registry.handle(version.id)
    conversion = (
        Conversion(None)
        if target.runs(handle)
        else target.conversion(DeploymentPrecision.FP32, "static", handle.framework)
    )
    converted = to_target(
        handle,
        target,
        conversion,
        technique_context(dctx.out_dir / "work", dctx),
    )
    dctx.logs.extend(converted.changes)
    artifact = target.package(converted.handle, precision, dctx)
    artifact.details.update(converted.details)
    artifact.details.update(conversion_details(made_by(state, version)))
    if spec is not None and spec.calibration_samples is not None:
        artifact.details["calibration_samples"] = spec.calibration_samples
    artifact.details["version"] = version.id
    reference, config = _validation(state, target, converted.reference, spec)
    validation = None
    if config is not None:
        validation = target.validate(
            artifact, reference_handle(reference, state.threads), config, dctx
        )
        (dctx.out_dir / VALIDATION_REPORT).write_text(validation.model_dump_json(indent=2))
    shutil.rmtree(dctx.out_dir / "work", ignore_errors=True)  # conversion scratch
    verdict = (
        "not asked for"
        if validation is None
        else "passed"
        if validation.passed
        else "FAILED: " + "; ".join(validation.reasons)
    )
    passed = validation is None or validation.passed
    state.bus.emit(
        97,
        "deployment",
        f"{artifact.path.name} ({artifact.size_bytes / 1e6:.3g} MB) on {artifact.runtime}: "
        f"validation {verdict}"
        + (f" (speedup {validation.speedup:.2f}x)" if validation is not None else ""),
        kind=EventKind.METRIC if passed else EventKind.WARNING,
        data={"deployment": {"path": str(artifact.path), "passed": passed}},
    )
    return DeploymentResult(
        success=passed,
        target=target.name,
        precision=precision,
        artifact=artifact,
        validation=validation,
        logs=dctx.logs,
    )


def _validation(
    state: RunState, target: DeploymentTarget, packaged_from: ModelHandle, spec: DeploySpec | None
) -> tuple[ModelHandle, ValidationConfig | None]:
    """What the packaged file is compared with, and how.

    optimize: the version it came from (the packaged file must compute what was measured), on
    the run's evaluation data where that is an input file, else on its calibration inputs.
    deploy run: the FP32 original, on the request's test data (the precision loss is what is
    checked); ONNX Runtime on the original's ONNX export when the target runs ONNX, so the
    speedup is against ORT FP32."""
    if spec is not None:
        original = state.registry.handle("v0")
        if Framework.ONNX in target.frameworks and original.framework is not Framework.ONNX:
            original = state.as_onnx("v0", original)
        return original, spec.validation
    data = state.request.eval_data
    usable = data is not None and (data.is_dir() or data.suffix in (".npy", ".npz"))
    if not usable:
        # No input file to evaluate on (a simulation suite, a user metric): real inputs that
        # never selected a version (the calibration observations) still beat random ones.
        data = state.observed_inputs_path(packaged_from)
        usable = data is not None
    config = ValidationConfig(
        test_data_path=data if usable else None,
        allow_random_inputs=not usable,
        num_samples=VALIDATION_SAMPLES,
        latency_runs=min(30, state.request.latency_runs),
        # The packaged file must compute what the measured version computed: graph
        # optimizations and FP32 conversions move outputs by float rounding only.
        tolerance_percent=1.0,
    )
    return packaged_from, config


def made_by(state: RunState, version: VersionRecord) -> VersionRecord:
    """The version whose technique made ``version``'s model: runtime settings (ort_threads,
    openvino_threads) change how a model runs — the target records that as
    ``intra_op_threads`` — not what was converted."""
    from embodied_ai_architect.agents.optimization.base import TechniqueFamily, load_techniques

    registry = load_techniques()
    record = version
    while (
        record.parent is not None
        and record.technique is not None
        and record.technique in registry
        and registry.get(record.technique).manifest.family is TechniqueFamily.RUNTIME
    ):
        record = state.registry.get(record.parent)
    return record


def conversion_details(version: VersionRecord) -> dict[str, str | int | float | bool | None]:
    """The registered conversion that made ``version`` and its settings (none: the original or
    the built-in ONNX export, packaged as it is)."""
    from embodied_ai_architect.agents.optimization.base import load_techniques, parse_config

    registry = load_techniques()
    if version.technique is None or version.technique not in registry:
        return {}
    # The full settings, defaults included, as the technique read them.
    config = parse_config(registry.get(version.technique), version.config).model_dump(mode="json")
    details: dict[str, str | int | float | bool | None] = {"conversion": version.technique}
    details.update(
        (key, value)
        for key, value in config.items()
        if key != "version" and (value is None or isinstance(value, str | int | float | bool))
    )
    return details


def technique_context(workdir: Path, dctx: DeployContext) -> TechniqueContext:
    """A conversion technique's context: the stage's progress span, threads and seed."""
    from embodied_ai_architect.agents.optimization.base import TechniqueContext

    return TechniqueContext(
        workdir=workdir, sink=dctx.sink, seed=dctx.seed, threads=dctx.threads, span=dctx.span
    )


def reference_handle(reference: ModelHandle, threads: int) -> ModelHandle:
    """A fresh FP32 session of an ONNX reference with the measured thread count (the baseline)."""
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

    if not isinstance(reference, OnnxModelHandle):
        return reference
    return reference.with_threads(threads)


def deployment_summary(result: DeploymentResult) -> str:
    """One clause for the run summary."""
    if not result.success or result.artifact is None:
        reason = (result.error or {}).get("message") or "; ".join(
            result.validation.reasons if result.validation else []
        )
        return f"deployment to {result.target} FAILED: {reason}"
    return (
        f"packaged for {result.target} ({result.precision.value}, "
        f"{result.artifact.size_bytes / 1e6:.3g} MB, validated)"
    )
