"""What a search worker does with one candidate: apply the technique, then check its fidelity.

A worker (a spawned local process, or a Ray task) gets a :class:`PrepareJob`: paths and small
pydantic configs only. It reads the version the technique modifies from the run's files (the
original model file, a stored artifact, or an ONNX export under the run's work folder), writes
its output under the run's work folder, and returns a :class:`PrepareOutcome`: paths, scores,
the technique's progress events and, on failure, the error as data. No model ever travels as a
pickle: a torch output is packed to a file (``pack_artifact``) and loaded back by the parent.

Latency timing is not done here: it stays in the parent, one model at a time (see
``pipeline/prefetch.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from embodied_ai_architect import errors
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.evaluation import TaskScore
from embodied_ai_architect.schemas.profile import ModelProfile, OutputHead
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.schemas.results import OptimizeRequest
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from embodied_ai_architect.modelio.handle import ModelHandle
    from embodied_ai_architect.schemas.evaluation import TaskEvaluator


class HandleRef(BaseModel):
    """A model handle as files plus its signature: what crosses a process boundary.

    ``kind``: ``request`` loads the run's original model as the orchestrator did; ``onnx``
    reopens an ONNX file; ``artifact`` loads a packed artifact (sha256-checked)."""

    kind: Literal["request", "onnx", "artifact"]
    path: Path
    sha256: str | None = None
    name: str
    source_format: ModelFormat
    inputs: list[TensorSpec]
    outputs: list[TensorSpec] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(
        cls,
        handle: ModelHandle,
        *,
        kind: Literal["request", "onnx", "artifact"],
        path: Path,
        sha256: str | None = None,
    ) -> HandleRef:
        return cls(
            kind=kind,
            path=path,
            sha256=sha256,
            name=handle.name,
            source_format=handle.source_format,
            inputs=list(handle.inputs),
            outputs=list(handle.outputs),
            metadata=dict(handle.metadata),
        )

    def open(self, request: OptimizeRequest, threads: int) -> ModelHandle:
        from embodied_ai_architect.modelio.handle import OnnxModelHandle

        if self.kind == "request":
            from embodied_ai_architect.modelio.loader import load_model

            return load_model(request.model_path, request.load_options, threads=threads)
        if self.kind == "onnx":
            from embodied_ai_architect.modelio.onnx_io import declared_threads

            return OnnxModelHandle(
                self.path,
                # A version made by ort_threads runs with the count it declares.
                threads=declared_threads(self) or threads,
                name=self.name,
                source_format=self.source_format,
                inputs=self.inputs,
                outputs=self.outputs,
                metadata=dict(self.metadata),
            )
        from embodied_ai_architect.pipeline.versions import load_artifact

        assert self.sha256 is not None, "a packed artifact is always referenced with its hash"
        handle = load_artifact(self.path, self.sha256)
        # The artifact carries the weights, not the producer's labels: keep those.
        handle.name, handle.metadata = self.name, dict(self.metadata)
        return handle


def output_ref(handle: ModelHandle, packed: Path) -> HandleRef:
    """How the parent reopens a technique's output: its ONNX file, else the packed artifact."""
    from embodied_ai_architect.modelio.handle import OnnxModelHandle
    from embodied_ai_architect.store.artifacts import sha256_file

    if isinstance(handle, OnnxModelHandle):
        return HandleRef.of(handle, kind="onnx", path=handle.onnx_path)
    return HandleRef.of(handle, kind="artifact", path=packed, sha256=sha256_file(packed))


class EvaluatorArgs(BaseModel):
    """``build_evaluator``'s arguments besides the reference model (a worker rebuilds it)."""

    constraints: Constraints
    eval_data: Path | None
    eval_sim: str | None
    max_samples: int
    seed: int
    detector: bool = False
    head: OutputHead | None = None
    metric: str | None = None
    has_calibration_data: bool = False


class ScreenBound(BaseModel):
    """A fidelity screen: score ``samples`` samples, fail below ``floor - margin``."""

    samples: int
    floor: float
    margin: float


class RunSpec(BaseModel):
    """What every job of one run shares (a worker builds its evaluator once per run)."""

    run_id: str
    request: OptimizeRequest
    evaluator: EvaluatorArgs | None
    profile: ModelProfile | None
    seed: int
    threads: int
    search_workers: int


class PrepareJob(BaseModel):
    """One candidate to apply and fidelity-check."""

    run: RunSpec
    technique: str
    config: dict[str, Any]
    source: HandleRef
    workdir: Path
    calibration: Path | None = Field(
        default=None, description="Calibration inputs file; None with needs_calibration: random."
    )
    needs_calibration: bool = False
    screen: ScreenBound | None = None
    span: tuple[float, float] = (0.0, 100.0)


class PrepareOutcome(BaseModel):
    """What came of one job. ``error_stage``: ``apply`` (the technique failed) or ``measure``
    (its output could not be packed or scored)."""

    output: HandleRef | None = None
    packed: Path | None = None
    technique_seconds: float = 0.0
    screened: TaskScore | None = Field(default=None, description="A failed screen's score.")
    evaluated: TaskScore | None = Field(default=None, description="The full score (screen passed).")
    evaluate_seconds: float = 0.0
    error: dict[str, Any] | None = None
    error_type: str | None = None
    error_stage: Literal["apply", "measure"] | None = None
    events: list[ProgressEvent] = Field(default_factory=list)

    def exception(self) -> BaseException:
        """The worker's error rebuilt in the parent (same class, message and hint)."""
        assert self.error is not None
        kind = getattr(errors, self.error_type or "", None)
        if isinstance(kind, type) and issubclass(kind, errors.EAAError):
            # Past any subclass __init__ (some take other arguments): the same fields, the
            # class's own code, so ``to_dict()`` is what the worker's error gave.
            exc = kind.__new__(kind)
            errors.EAAError.__init__(
                exc,
                self.error["message"],
                self.error.get("hint", ""),
                self.error.get("details"),
                field=self.error.get("field"),
            )
            return exc
        return RemoteFailure(self.error["message"])


class RemoteFailure(Exception):
    """A non-platform exception raised in a worker; ``str()`` is its ``Type: message`` text."""


def screen_score(
    evaluator: TaskEvaluator, handle: ModelHandle, reference: ModelHandle, bound: ScreenBound
) -> TaskScore | None:
    """The screen's score when it is a clear miss (None: it passes or cannot be screened)."""
    score = evaluator.screen(handle, reference=reference, samples=bound.samples)
    if score is None or score.value >= bound.floor - bound.margin:
        return None
    return score.model_copy(update={"details": {**score.details, "screened_on": bound.samples}})


class _WorkerRun:
    """The per-run objects a worker process builds once and reuses across jobs."""

    def __init__(self, spec: RunSpec):
        from embodied_ai_architect.agents.evaluation.agent import build_evaluator

        self.spec = spec
        from embodied_ai_architect.modelio.loader import load_model

        # v0 as the orchestrator loaded it: the reference every score is taken against.
        request = spec.request
        self.reference = load_model(request.model_path, request.load_options, threads=spec.threads)
        self.evaluator = (
            build_evaluator(reference=self.reference, **dict(spec.evaluator))
            if spec.evaluator is not None
            else None
        )
        self.training_data: tuple[np.ndarray, np.ndarray] | None = None
        if spec.request.train_data is not None:
            from embodied_ai_architect.pipeline.orchestrator import load_training

            self.training_data = load_training(spec.request.train_data)


# A worker process serves one run (the pool lives as long as the run): its evaluator and
# reference model are built on the first job and reused by the next ones.
_RUNS: dict[str, _WorkerRun] = {}


def _worker_run(spec: RunSpec) -> _WorkerRun:
    if spec.run_id not in _RUNS:
        _RUNS.clear()
        _RUNS[spec.run_id] = _WorkerRun(spec)
    return _RUNS[spec.run_id]


class _Events(list[ProgressEvent]):
    """A progress sink that keeps the events (they are replayed by the parent, in order)."""

    def __call__(self, event: ProgressEvent) -> None:
        self.append(event)


def _failed(
    exc: BaseException, stage: Literal["apply", "measure"], **fields: Any
) -> PrepareOutcome:
    if isinstance(exc, errors.EAAError):
        error, kind = exc.to_dict(), type(exc).__name__
    else:
        error, kind = {"message": f"{type(exc).__name__}: {exc}"}, None
    return PrepareOutcome(error=error, error_type=kind, error_stage=stage, **fields)


def prepare_candidate(job: PrepareJob) -> PrepareOutcome:
    """Apply ``job``'s technique and check the output's fidelity (runs in a worker).

    Never raises for a failing technique or output: the error comes back as data and the
    parent records it on the attempt, in planned order."""
    from embodied_ai_architect.agents.evaluation.metrics import pinned
    from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
    from embodied_ai_architect.modelio.handle import torch_threads
    from embodied_ai_architect.pipeline.versions import pack_artifact

    events = _Events()
    started = time.perf_counter()
    try:
        run = _worker_run(job.run)
        source = job.source.open(job.run.request, job.run.threads)
        calibration = None
        if job.needs_calibration:
            from embodied_ai_architect.data.calibration import provider_from_path, random_provider

            calibration = (
                provider_from_path(job.calibration, source.inputs, num_samples=128)
                if job.calibration is not None
                else random_provider(source.inputs, num_samples=64, seed=job.run.seed)
            )
        ctx = TechniqueContext(
            workdir=job.workdir,
            sink=events,
            seed=job.run.seed,
            threads=job.run.threads,
            calibration=calibration,
            training_data=run.training_data,
            profile=job.run.profile,
            span=job.span,
            extras={"reference": run.reference, "search_workers": job.run.search_workers},
        )
        handle = apply_technique(job.technique, source, ctx, dict(job.config)).handle
    except Exception as exc:  # recorded on the attempt by the parent, as a sequential run does
        return _failed(exc, "apply", technique_seconds=time.perf_counter() - started, events=events)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    try:
        packed = pack_artifact(handle, job.workdir / "packed")
        screened = evaluated = None
        if run.evaluator is not None and job.screen is not None:
            screened = screen_score(run.evaluator, handle, run.reference, job.screen)
        if screened is None and run.evaluator is not None:
            # As measure_version scores a version: the session pinned, torch pinned.
            with torch_threads(job.run.threads):
                evaluated = run.evaluator.evaluate(
                    pinned(handle, job.run.threads), reference=run.reference
                )
        output = output_ref(handle, packed)
    except Exception as exc:
        return _failed(exc, "measure", technique_seconds=seconds, events=events)
    return PrepareOutcome(
        output=output,
        packed=packed,
        technique_seconds=seconds,
        screened=screened,
        evaluated=evaluated,
        evaluate_seconds=time.perf_counter() - started,
        events=events,
    )
