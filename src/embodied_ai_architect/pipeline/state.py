"""RunState: everything one optimize job carries between stages (one instance per job)."""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.agents.evaluation.metrics import (
    measure_version,
    score_fields,
    task_score,
)
from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle
from embodied_ai_architect.modelio.onnx_io import declared_threads
from embodied_ai_architect.pipeline.bus import EventBus
from embodied_ai_architect.pipeline.chains import Measured
from embodied_ai_architect.pipeline.deployment import check_target
from embodied_ai_architect.pipeline.environment import collect_environment
from embodied_ai_architect.pipeline.parallel import EvaluatorArgs, RemoteFailure, ScreenBound
from embodied_ai_architect.pipeline.recorder import RunRecorder
from embodied_ai_architect.pipeline.versions import VersionRegistry
from embodied_ai_architect.schemas.constraints import parse_constraints
from embodied_ai_architect.schemas.evaluation import BoundResolution, TaskEvaluator, TaskScore
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.schemas.progress import EventKind
from embodied_ai_architect.schemas.results import (
    AttemptRecord,
    OptimizeRequest,
    Replan,
    StepCandidate,
    StepStatus,
    Timings,
    VersionMetrics,
    VersionRecord,
)
from embodied_ai_architect.settings import Settings

if TYPE_CHECKING:
    from embodied_ai_architect.pipeline.prefetch import SearchPool

SCREEN_SAMPLES = 32  # a candidate's fidelity is checked on this many samples before timing
SCREENED_RUNS = 10  # a candidate that failed the screen is only timed this much
# Timed alone, a microsecond model's p50 swings 2× with what ran just before (the reach MLP's
# static INT8 read 2.0× its parent alone and 1.0× in alternation), so a candidate over the slow
# cut is re-timed in alternation with its parent when three rounds of both cost under this; on
# bigger models a 1.5× gap is not noise and the alone figure decides, as before.
CONFIRM_SLOW_MS = 1000.0


def session_setting(technique: str) -> bool:
    """Whether ``technique`` only changes how the same file is run (the ``runtime`` family)."""
    from embodied_ai_architect.agents.optimization.base import TechniqueFamily, technique_family

    return technique_family(technique) is TechniqueFamily.RUNTIME


class RunState:
    """Everything one job carries between stages (no globals: one instance per job)."""

    def __init__(self, request: OptimizeRequest, settings: Settings, bus: EventBus):
        self.request = request
        # The target is resolved and checked with the constraints: an unavailable target
        # (jetson here) stops before the model is even loaded.
        self.constraints, self.target = check_target(parse_constraints(request.constraints))
        self.settings = settings
        self.bus = bus
        self.seed = request.seed
        self.threads = settings.num_threads
        self.started = time.perf_counter()
        self.timings = Timings()
        self.attempts: list[AttemptRecord] = []
        self.replans: list[Replan] = []
        self.resolution: BoundResolution | None = None
        self.profile: ModelProfile | None = None
        self.training_data: tuple[np.ndarray, np.ndarray] | None = None
        self.evaluator: TaskEvaluator | None = None
        # How the evaluator was built, so that search workers can build the same one.
        self.evaluator_args: EvaluatorArgs | None = None
        self.search_workers = request.search_workers or settings.search_workers
        self.pool: SearchPool | None = None  # started by the first step that uses it
        self.environment = collect_environment(threads=self.threads, seed=self.seed)
        self._onnx_cache: dict[str, OnnxModelHandle] = {}
        self._measured: dict[str, VersionMetrics] = {}  # by artifact sha256
        # Set during the run:
        self.workdir: Path
        self.registry: VersionRegistry
        self.recorder: RunRecorder
        self.baseline: VersionRecord
        self.current = "v0"
        self.step_low = 30.0  # progress percent of the running step (for events it emits)

    # -- bookkeeping ---------------------------------------------------------------------------
    def attempts_left(self) -> int | None:
        """Attempts the budget still allows (None: no attempt limit)."""
        limit = self.constraints.budget.max_attempts
        if limit is None:
            return None
        return limit - self._counted_attempts()

    def _counted_attempts(self) -> int:
        return sum(
            1
            for a in self.attempts
            if a.status is not StepStatus.SKIPPED and not session_setting(a.technique)
        )

    def search_pool(self) -> SearchPool | None:
        """The run's parallel search workers (None: candidates run one by one, in process)."""
        if self.search_workers <= 1:
            return None
        if self.pool is None:
            from embodied_ai_architect.pipeline.prefetch import SearchPool

            self.pool = SearchPool(self.search_workers, self.settings)
        return self.pool

    def budget_exhausted(self, candidate: StepCandidate | None = None) -> str | None:
        """Why no further attempt (of ``candidate``) may start; None while the budget allows it.

        Session settings (``ort_threads``: the same file, one interleaved timing) are neither
        counted nor stopped by ``max_attempts``, which bounds conversions: a 4-attempt budget
        spent on INT8 retries must not cost a tiny model the 1.1-1.2x its thread count gives.
        The wall-clock limit holds for every attempt."""
        budget = self.constraints.budget
        tried = self._counted_attempts()
        exempt = candidate is not None and session_setting(candidate.technique)
        if budget.max_attempts is not None and tried >= budget.max_attempts and not exempt:
            return f"budget spent: {tried} attempts (max {budget.max_attempts})"
        elapsed = time.perf_counter() - self.started
        if budget.max_wall_seconds is not None and elapsed >= budget.max_wall_seconds:
            return f"budget spent: {elapsed:.0f} s (max {budget.max_wall_seconds:g} s)"
        return None

    def new_attempt(self, step_id: str, candidate: StepCandidate, parent: str) -> AttemptRecord:
        record = AttemptRecord(
            index=len(self.attempts) + 1,
            step_id=step_id,
            technique=candidate.technique,
            config=dict(candidate.config),
            parent_version=parent,
            status=StepStatus.PENDING,
        )
        self.attempts.append(record)
        return record

    def _persist(self, attempt: AttemptRecord) -> None:
        self.recorder.attempt(
            attempt,
            parent_row=self.registry.row_id(attempt.parent_version),
            result_row=self.registry.row_id(attempt.version) if attempt.version else None,
            environment=self.environment.model_dump(mode="json"),
        )

    def fail(
        self, attempt: AttemptRecord, exc: BaseException, seconds: float, *, counted: bool = False
    ) -> None:
        """Record a failed attempt. ``counted``: ``seconds`` ran in a search worker and are
        already in the run's technique time (as the wall time of their batch)."""
        attempt.status = StepStatus.FAILED
        attempt.technique_seconds = seconds
        if not counted:
            self.timings.technique_s += seconds
        if isinstance(exc, EAAError):
            attempt.error = exc.to_dict()
        else:
            # A worker's exception arrives as text already in the ``Type: message`` form.
            text = str(exc) if isinstance(exc, RemoteFailure) else f"{type(exc).__name__}: {exc}"
            attempt.error = {"code": "internal", "message": text, "hint": ""}
        attempt.reason = (
            f"failed, rolled back to {attempt.parent_version}: {attempt.error['message']}"
        )
        self._persist(attempt)
        self.bus.emit(
            self.bus_percent(),
            "optimization",
            f"{attempt.technique} failed (rolled back to {attempt.parent_version}): "
            f"{attempt.error['message']}",
            kind=EventKind.ERROR,
            step=attempt.step_id,
            data={"error": attempt.error},
        )

    def skip(self, attempt: AttemptRecord, reason: str) -> None:
        self._decline(attempt, StepStatus.SKIPPED, f"skipped: {reason}", "skipped", reason)

    def reject(self, attempt: AttemptRecord, reason: str) -> None:
        self._decline(attempt, StepStatus.REJECTED, reason, "rejected", reason)

    def _decline(
        self, attempt: AttemptRecord, status: StepStatus, recorded: str, verb: str, reason: str
    ) -> None:
        """Record a step that produced no version (``recorded`` is the stored reason) and tell
        the bus, as a decision rather than an error: nothing failed."""
        attempt.status = status
        attempt.reason = recorded
        self._persist(attempt)
        self.bus.emit(
            self.bus_percent(),
            "optimization",
            f"{attempt.technique} {verb}: {reason}",
            kind=EventKind.DECISION,
            step=attempt.step_id,
            # A candidate skipped before it was tried has no "trying" event: live views place
            # the decision by the attempt's own number.
            data={"technique": attempt.technique, "attempt": attempt.index},
        )

    def accept(self, measured: Measured, parent: str) -> str:
        attempt = measured.attempt
        record = self.registry.register(
            measured.handle,
            measured.packed,
            parent=parent,
            technique=measured.candidate.technique,
            config=dict(measured.candidate.config),
            metrics=measured.metrics,
        )
        attempt.status = StepStatus.ACCEPTED
        attempt.version = record.id
        attempt.reason = "; ".join(measured.notes)
        self._persist(attempt)
        self.current = record.id
        return record.id

    def bus_percent(self) -> float:
        return self.step_low

    # -- data and measurement ------------------------------------------------------------------
    def _slow_retimed(
        self,
        handle: ModelHandle,
        metrics: VersionMetrics,
        parent: str | None,
        reference_ms: float | None,
        slower_than: float,
    ) -> VersionMetrics | None:
        """The candidate's metrics re-timed in alternation with its parent when that is cheap and
        shows it within the cut after all; None when the alone verdict (slow) stands."""
        from embodied_ai_architect.pipeline.retime import retimed

        if parent is None or not reference_ms:
            return None
        if 3 * (metrics.p50_ms + reference_ms) > CONFIRM_SLOW_MS:
            return None
        record = self.registry.get(parent)
        counted = self.timings.measurement_s
        figures = retimed(
            self,
            [parent, "candidate"],
            [self.registry.handle(parent), handle],
            [record.metrics, metrics],
        )
        self.timings.measurement_s = counted  # measure() counts its whole duration once
        if figures is None:
            return None
        parent_now, now = figures
        factor = slower_than / reference_ms
        return now if now.p50_ms <= parent_now.p50_ms * factor else None

    def measure(
        self,
        handle: ModelHandle,
        packed: Path,
        *,
        reference_ms: float | None = None,
        score: TaskScore | None = None,
        evaluated: TaskScore | None = None,
        slower_than: float | None = None,
        parent: str | None = None,
    ) -> VersionMetrics:
        """Time and score one version. A byte-identical artifact measured before (a fallback
        whose settings changed nothing) reuses that measurement. ``score``: a failed screen —
        the version is then timed briefly, enough to decide whether a retry could pay off.
        ``evaluated``: the full score, already taken by a search worker (only timing is left).
        ``slower_than``: a p50 (ms) past which the version loses whatever its accuracy — it is
        then timed only, never evaluated (``accuracy`` stays None; the search rejects it) unless
        a cheap re-timing in alternation with ``parent`` (whose p50 is ``reference_ms``) finds
        it within the cut after all (:data:`CONFIRM_SLOW_MS`)."""
        from embodied_ai_architect.store.artifacts import sha256_file

        key = sha256_file(packed) if packed.is_file() else None
        if key is not None and (declared := declared_threads(handle)) is not None:
            # ort_threads keeps the bytes and changes the session: not the parent's figures.
            key = f"{key}:threads={declared}"
        if score is None and key is not None and key in self._measured:
            return self._measured[key].model_copy(update={"measure_seconds": 0.0})
        started = time.perf_counter()
        known = score if score is not None else evaluated
        time_first = slower_than is not None and known is None and self.evaluator is not None
        reference = self.registry.handle("v0") if hasattr(self, "registry") else handle
        metrics = measure_version(
            handle,
            packed,
            evaluator=None if time_first else self.evaluator,
            reference=reference,
            threads=self.threads,
            runs=SCREENED_RUNS if score is not None else self.request.latency_runs,
            reference_ms=reference_ms,
            score=known,
        )
        if time_first and self.evaluator is not None:
            if slower_than is not None and metrics.p50_ms > slower_than:
                retimed = self._slow_retimed(handle, metrics, parent, reference_ms, slower_than)
                if retimed is None:
                    elapsed = time.perf_counter() - started
                    self.timings.measurement_s += elapsed
                    return metrics.model_copy(update={"measure_seconds": elapsed})
                metrics = retimed
            full = task_score(self.evaluator, handle, reference=reference, threads=self.threads)
            metrics = metrics.model_copy(
                update={**score_fields(full), "measure_seconds": time.perf_counter() - started}
            )
        self.timings.measurement_s += time.perf_counter() - started
        if score is None and key is not None:
            self._measured[key] = metrics
        return metrics

    def screen_bound(self) -> ScreenBound | None:
        """The fidelity screen candidates get (None: no bound, or an evaluator that cannot
        screen)."""
        evaluator = self.evaluator
        if (
            evaluator is None
            or evaluator.screen_size() < 2 * SCREEN_SAMPLES
            or not self.constraints.has_accuracy_bound()
        ):
            return None
        base = self.baseline.metrics.accuracy
        floor = self.constraints.accuracy_floor(base if base is not None else 1.0)
        # Binomial spread of an agreement rate on this many samples: fail only clear misses.
        margin = max(0.005, 2 * math.sqrt(max(floor * (1 - floor), 0.0) / SCREEN_SAMPLES))
        return ScreenBound(samples=SCREEN_SAMPLES, floor=floor, margin=margin)

    def screen(self, handle: ModelHandle) -> TaskScore | None:
        """The task score on a small subset when it already fails the accuracy bound clearly
        (None: passes, no bound, or an evaluator that cannot screen)."""
        bound = self.screen_bound()
        if bound is None or self.evaluator is None:
            return None
        from embodied_ai_architect.pipeline.parallel import screen_score

        started = time.perf_counter()
        try:
            return screen_score(self.evaluator, handle, self.registry.handle("v0"), bound)
        finally:
            self.timings.measurement_s += time.perf_counter() - started

    def as_onnx(self, vid: str, handle: ModelHandle) -> OnnxModelHandle:
        """The version as ONNX (exported once per version; the export counts as technique time)."""
        if isinstance(handle, OnnxModelHandle):
            return handle
        if vid not in self._onnx_cache:
            from embodied_ai_architect.modelio.export import export_onnx

            started = time.perf_counter()
            self._onnx_cache[vid] = export_onnx(
                handle, self.workdir / f"{vid}-onnx" / "model.onnx", threads=self.threads
            )
            self.timings.technique_s += time.perf_counter() - started
        return self._onnx_cache[vid]

    def calibration(self, handle: ModelHandle) -> Any:
        from embodied_ai_architect.data.calibration import provider_from_path, random_provider

        path = self.calibration_path(handle)
        if path is not None:
            return provider_from_path(path, handle.inputs, num_samples=128)
        return random_provider(handle.inputs, num_samples=64, seed=self.seed)

    def calibration_path(self, handle: ModelHandle) -> Path | None:
        """The file of calibration inputs for ``handle`` (None: random inputs, with a warning).
        A file, so that search workers read the same inputs as this process."""
        path = self.observed_inputs_path(handle)
        if path is None:
            self.bus.emit(
                30,
                "optimization",
                "no calibration data: calibrating on random inputs (pass --calibration-data)",
                kind=EventKind.WARNING,
            )
        return path

    def observed_inputs_path(self, handle: ModelHandle) -> Path | None:
        """A file of real inputs for ``handle`` that never select or report versions: the
        user's calibration data, else the evaluator's calibration part (None: neither)."""
        if self.request.calibration_data is not None:
            return Path(self.request.calibration_data)
        # The evaluator's own calibration inputs: real observations of a simulation suite's
        # training scenes, or the calibration part of the evaluation data (disjoint from the
        # samples that select and report versions, agents.evaluation.splits).
        feeds = self.evaluator.calibration_feeds(handle, 128) if self.evaluator else None
        if feeds:
            # One file per input signature: versions that share it (all of them, as a rule)
            # reuse the inputs instead of drawing them again for each technique.
            signature = "\0".join(f"{s.name}:{s.shape}" for s in handle.inputs)
            digest = hashlib.sha256(signature.encode()).hexdigest()[:12]
            path = self.workdir / f"calibration-{digest}.npz"
            if not path.exists():
                arrays: dict[str, Any] = dict(feeds)  # numpy's stub types **kwds as bool
                np.savez(path, **arrays)
                self.bus.emit(
                    30,
                    "optimization",
                    f"calibrating on {len(next(iter(feeds.values())))} inputs from "
                    f"{self.evaluator.name if self.evaluator else 'the task'} (never used to "
                    "select or report versions)",
                )
            return path
        return None
