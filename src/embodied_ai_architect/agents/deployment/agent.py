"""DeploymentAgent: ``branes deploy run`` as a one-step plan through the optimize pipeline.

The agent checks the request (target, precision, model, calibration data) before any work, then
hands the orchestrator a :class:`~embodied_ai_architect.pipeline.deployment.FixedPlan`: one
required step whose only candidate is the conversion technique the target registers for the
precision (none when the target runs the model as it is at FP32), followed by the same
Deployment stage ``branes optimize --target`` ends with (package, ``deployment.json``,
``validation.json``). No search, no retries; the run is recorded like any other
(``branes runs show``).

:func:`deploy_model` is the one function every surface (CLI, REST, LLM tools, MCP) calls.

Example:
    >>> from embodied_ai_architect.agents.base import AgentContext
    >>> from embodied_ai_architect.settings import get_settings
    >>> request = DeployRequest(model_path=Path("cnn.onnx"), precision="fp16")  # doctest: +SKIP
    >>> result = deploy_model(request, AgentContext(settings=get_settings()))  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.base import Agent, AgentContext
from embodied_ai_architect.agents.deployment.convert import check_conversion, conversion_spec
from embodied_ai_architect.agents.deployment.targets.base import (
    Conversion,
    DeploymentTarget,
    get_target,
)
from embodied_ai_architect.errors import ConfigError, DeploymentError, EAAError, InputError
from embodied_ai_architect.schemas.deployment import (
    DeploymentPrecision,
    DeploymentResult,
    DeployRequest,
)
from embodied_ai_architect.schemas.progress import EventKind, ProgressEvent

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import ModelHandle
    from embodied_ai_architect.schemas.results import OptimizeReport, OptimizeRequest, Plan
    from embodied_ai_architect.settings import Settings

DEPLOY_STEP = "deploy"
RUN_START = 5.0  # percent of the progress bar where the run starts (the checks come first)
RUN_LATENCY_RUNS = 5  # the run's own timing of v0 and v1; the validation times both again
RUN_EVAL_SAMPLES = 8  # the run's fidelity sample (too few for a held-out part: none is made)


class DeploymentAgent(Agent[DeployRequest, DeploymentResult]):
    """Builds and validates a deployment artifact for one target (a one-step optimize run).

    ``job_id``: the service's job row the run records under (None: the run creates its own)."""

    name = "deployment"
    stage = "deployment"

    def __init__(self, ctx: AgentContext, *, job_id: str | None = None):
        super().__init__(ctx)
        self.job_id = job_id

    def run(self, request: DeployRequest) -> DeploymentResult:
        from embodied_ai_architect.pipeline.deployment import DeploySpec, FixedPlan
        from embodied_ai_architect.pipeline.orchestrator import Orchestrator

        started = time.perf_counter()
        threads = request.threads or self.ctx.settings.num_threads
        self.emit_progress(1, f"checking target {request.target!r}", step="validate")
        target = get_target(request.target)
        check_request_against_target(request, target)
        handle = load_checked_model(request, threads)
        conversion = check_conversion_for(request, target, handle)
        calibration = build_calibration(request, handle)
        if calibration is not None and request.calibration is not None:
            available = calibration.num_samples
            if available < request.calibration.num_samples:
                self.emit_progress(
                    2,
                    f"calibrating on {available} sample(s): only that many were found "
                    f"(asked for {request.calibration.num_samples})",
                    kind=EventKind.WARNING,
                    step="validate",
                )
        plan = deploy_plan(request, target, handle, conversion, calibration)
        out_dir = resolve_out_dir(request, handle.name, self.ctx)
        settings = self.ctx.settings.model_copy(update={"num_threads": threads})
        scratch = settings.ensure_workspace() / "work" / f"deploy-{out_dir.name}-{time.time_ns()}"
        try:
            calibration_file = write_calibration(calibration, scratch)
            spec = DeploySpec(
                precision=request.precision,
                validation=request.validation,
                request=request.model_dump(mode="json"),
                calibration_samples=calibration.num_samples if calibration else None,
            )
            report = Orchestrator(
                optimize_request(request, out_dir, calibration_file, self.ctx.seed),
                settings=settings,
                sink=self._overall,
                # A service job records under its own row; else the run is a deploy job of its
                # own (`branes runs show`), whose events and status the run writes.
                job_id=self.job_id or deploy_job(request, settings),
                owns_job=self.job_id is None,
                fixed=FixedPlan(plan=plan, original=handle, deploy=spec),
            ).run()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        result = report.deployment
        if result is None:
            raise step_error(report)
        if result.error is not None and result.artifact is None:
            raise _as_error(result.error)
        result.seconds = time.perf_counter() - started
        return result

    def _overall(self, event: ProgressEvent) -> None:
        """The run's events, mapped onto this agent's slice of the caller's progress bar."""
        # The checks before the run took 0-5 %.
        percent = RUN_START + (100 - RUN_START) * event.percent / 100
        self.ctx.sink(event.model_copy(update={"percent": self.ctx.overall(percent)}))


def deploy_model(
    request: DeployRequest, ctx: AgentContext, *, job_id: str | None = None
) -> DeploymentResult:
    """Deploy ``request.model_path`` to ``request.target``; raises EAAError on bad input or a
    conversion that fails. ``job_id``: the service job the run is recorded under.

    A failed validation is not an exception: the result says ``success=False`` with reasons.
    """
    return DeploymentAgent(ctx, job_id=job_id).execute(request)


def deploy_job(request: DeployRequest, settings: Settings) -> str:
    """A new deploy job row for a run no service started (CLI, LLM tools)."""
    from embodied_ai_architect.schemas.jobs import JobKind
    from embodied_ai_architect.store import Database
    from embodied_ai_architect.store.repo import jobs

    db = Database.from_settings(settings)
    db.upgrade()
    with db.session() as session:
        row = jobs.create_job(session, kind=JobKind.DEPLOY, request=request.model_dump(mode="json"))
        return row.id


def deploy_plan(
    request: DeployRequest,
    target: DeploymentTarget,
    handle: ModelHandle,
    conversion: Conversion,
    calibration: CalibrationProvider | None,
) -> Plan:
    """The one-step plan: the registered conversion for (runtime, precision, INT8 mode).

    At FP32 a target that runs the model as it is gets no step (its own ``package()`` is the
    deployment); one that does not gets the FP32 conversion ``optimize --target`` would add."""
    from embodied_ai_architect.agents.deployment.targets.profiles import resolve_target
    from embodied_ai_architect.pipeline.deployment import planning_facts
    from embodied_ai_architect.schemas.results import Plan, PlanStep, StepCandidate

    candidate: StepCandidate | None
    if request.precision is DeploymentPrecision.FP32:
        _, _, candidate = planning_facts(resolve_target(request.target), handle)
    else:
        assert conversion.technique is not None  # check_conversion_for refused it otherwise
        config = with_sample_count(conversion, calibration, request).config
        candidate = StepCandidate(
            technique=conversion.technique,
            config=dict(config),
            note=f"{request.precision.value} on {target.runtime}",
        )
    what = f"{target.name} at {request.precision.value}"
    steps = []
    if candidate is not None:
        steps.append(
            PlanStep(
                id=DEPLOY_STEP,
                objective="latency",
                candidates=[candidate],
                rationale=f"{candidate.technique}: the conversion registered for {what}",
                required=True,
            )
        )
    return Plan(
        id="deploy",
        title=f"deploy to {what}",
        steps=steps,
        score=0.0,
        rationale=f"branes deploy run: {what}, no search"
        + ("" if steps else f" ({target.name} runs the model as it is)"),
    )


def optimize_request(
    request: DeployRequest, out_dir: Path, calibration_file: Path | None, seed: int
) -> OptimizeRequest:
    """The run's request: the target as its only constraint and the checked calibration
    inputs. The run's own figures are brief (few timed runs, a small fidelity sample): the
    Deployment stage's validation is the check that counts, on the request's test data."""
    from embodied_ai_architect.schemas.constraints import parse_constraints
    from embodied_ai_architect.schemas.results import OptimizeRequest

    return OptimizeRequest(
        model_path=request.model_path,
        load_options=request.effective_load_options(),
        constraints=parse_constraints({"target": request.target}),
        calibration_data=calibration_file,
        out_dir=out_dir,
        seed=seed,
        latency_runs=RUN_LATENCY_RUNS,
        max_eval_samples=RUN_EVAL_SAMPLES,
        search_workers=1,
        model_memory=False,
    )


def write_calibration(calibration: CalibrationProvider | None, scratch: Path) -> Path | None:
    """The calibration inputs as the step reads them: the user's .npy/.npz as it is; an image
    folder once preprocessed as the request says, into an .npz (the run reads files, so that
    search workers would read the same inputs)."""
    if calibration is None:
        return None
    from embodied_ai_architect.data.calibration import ArrayProvider

    if isinstance(calibration, ArrayProvider):
        return calibration.path
    import numpy as np

    samples = list(calibration.samples())
    arrays = {name: np.concatenate([s[name] for s in samples]) for name in samples[0]}
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "calibration.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def step_error(report: OptimizeReport) -> EAAError:
    """The error of the plan's step that produced no version (the run recorded it)."""
    for attempt in reversed(report.attempts):
        if attempt.error is not None:
            return _as_error(attempt.error)
        if attempt.reason:
            return DeploymentError(
                f"{attempt.technique}: {attempt.reason}",
                hint=f"see `branes runs show {report.run_id}`",
            )
    return DeploymentError(
        "the deploy step produced no model", hint=f"see `branes runs show {report.run_id}`"
    )


def _as_error(error: dict[str, Any]) -> EAAError:
    """An error recorded as {code, message, hint} raised again as the class it was."""
    classes: list[type[EAAError]] = [EAAError]
    for cls in classes:
        classes.extend(cls.__subclasses__())
    kind = next((c for c in classes if c.code == error.get("code")), DeploymentError)
    return kind(
        str(error.get("message", "deployment failed")),
        hint=str(error.get("hint", "")),
        field=error.get("field"),
    )


def check_request_against_target(request: DeployRequest, target: DeploymentTarget) -> None:
    """Stop before any work when the target (or its conversion) cannot do what is asked."""
    target.check_available()
    caps = target.get_capabilities()
    if request.precision not in caps.precisions:
        raise ConfigError(
            f"target {target.name!r} does not support {request.precision.value}",
            hint=f"choose one of {[p.value for p in caps.precisions]}",
        )
    if request.precision is DeploymentPrecision.INT8 and request.int8_mode not in caps.int8_modes:
        raise ConfigError(
            f"target {target.name!r} does not support {request.int8_mode} INT8",
            hint=f"supported INT8 modes: {caps.int8_modes}",
        )
    if request.precision is not DeploymentPrecision.INT8 and request.calibration is not None:
        raise InputError(
            f"calibration data is only used for INT8, not {request.precision.value}",
            hint="drop `calibration.data_path` or use `precision` int8",
            field="calibration.data_path",
        )


def check_conversion_for(
    request: DeployRequest, target: DeploymentTarget, handle: ModelHandle
) -> Conversion:
    """The conversion for this model, refused before any work when it cannot run here."""
    conversion = target.conversion(request.precision, request.int8_mode, handle.framework)
    try:
        check_conversion(target, conversion, has_calibration=request.calibration is not None)
    except InputError as exc:
        alternative = (
            " or `int8_mode` dynamic" if "dynamic" in target.get_capabilities().int8_modes else ""
        )
        raise InputError(
            f"INT8 on {target.name!r} needs calibration data",
            hint=f"give `calibration.data_path`: a folder of 100–500 representative images or an "
            f".npy/.npz file{alternative}; `precision` fp16 needs none",
            field="calibration.data_path",
        ) from exc
    return conversion


def load_checked_model(request: DeployRequest, threads: int) -> ModelHandle:
    """Load the model and prove it runs on the requested input shape."""
    from embodied_ai_architect.modelio.loader import load_model

    if not request.model_path.exists():
        raise InputError(
            f"model file {str(request.model_path)!r} does not exist", hint="check the path"
        )
    handle = load_model(request.model_path, request.effective_load_options(), threads=threads)
    for spec in handle.inputs:
        spec.concrete_shape(1)  # raises InputError naming the dynamic dimension
    try:
        handle.run(handle.example_inputs(batch=1, seed=0))
    except EAAError:
        raise
    except Exception as exc:  # frameworks raise arbitrary types on shape mismatches
        shapes = {spec.name: list(spec.shape) for spec in handle.inputs}
        raise InputError(
            f"the model does not run on input shape(s) {shapes}: {str(exc).splitlines()[0]}",
            hint="give the shape the model was trained for in `input_shapes`, e.g. 1,3,224,224",
            field="input_shapes",
        ) from exc
    return handle


def build_calibration(request: DeployRequest, handle: ModelHandle) -> CalibrationProvider | None:
    """Open the calibration data and read every sample once, so bad files fail before export."""
    if request.calibration is None or request.precision is not DeploymentPrecision.INT8:
        return None
    from embodied_ai_architect.data.calibration import provider_from_path

    config = request.calibration
    provider = provider_from_path(
        config.data_path,
        handle.inputs,
        num_samples=config.num_samples,
        batch_size=config.batch_size,
        preprocessing=config.preprocessing,
    )
    count = sum(1 for _ in provider.samples())
    if count == 0:
        raise InputError(
            f"calibration data {str(config.data_path)!r} yielded no samples", hint="add samples"
        )
    # Record what will really be used (the folder / file may hold fewer than asked for).
    provider.num_samples = count
    return provider


def resolve_out_dir(request: DeployRequest, model_name: str, ctx: AgentContext) -> Path:
    if request.out_dir is not None:
        out = request.out_dir
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = (
            ctx.settings.workspace
            / "deployments"
            / f"{model_name}-{request.target}-{request.precision.value}-{stamp}"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def with_sample_count(
    conversion: Conversion, calibration: CalibrationProvider | None, request: DeployRequest
) -> Conversion:
    """Calibrate on as many samples as the data holds, in the request's batches (the
    technique's own defaults where it has no such setting)."""
    spec = conversion_spec(conversion)
    if spec is None or calibration is None or request.calibration is None:
        return conversion
    fields = spec.config_type.model_fields
    update: dict[str, int] = dict.fromkeys(
        [f for f in ("num_samples", "subset_size") if f in fields], calibration.num_samples
    )
    if "batch_size" in fields and "batch_size" in request.calibration.model_fields_set:
        update["batch_size"] = request.calibration.batch_size
    return Conversion(conversion.technique, {**conversion.config, **update})
