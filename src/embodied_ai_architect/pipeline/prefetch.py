"""Parallel search: a step's candidates applied and fidelity-checked ahead, in batches.

With ``search_workers`` N > 1 (``EAA_SEARCH_WORKERS``, ``--search-workers``), when the next
candidate of a step has not been prepared yet, it and the following candidates of the queue
(same parent, so independent) are sent to N workers together: spawned local processes, or Ray
tasks when ``EAA_EXECUTOR=ray`` and Ray is initialised in this process. The step then waits for
the whole batch before it times anything, and consumes the outcomes strictly in planned order
(never completion order), creating each attempt record as a sequential run would. So the
attempts (order, ids, reasons), the chosen version and the report are the same for any N given
the seed; only wall time changes.

Why timing stays serialized in the parent, with no worker running: two timings (or a timing
and a technique) sharing cores slow each other down, and the figures would then rank the
candidates by what happened to run beside them rather than by their speed.

Speculation has a price: a batch may prepare a candidate the sequential search never reaches
(the step keeps its first success, a technique is dropped, the budget runs out). Such results
are discarded with the reason in the run's events; they never become attempts. The attempt
budget bounds every batch (a candidate that could exceed it is not started).
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.optimization.base import get_technique
from embodied_ai_architect.agents.planning.planner import EXPORT_ONNX
from embodied_ai_architect.pipeline.apply import inapplicable, readable_source
from embodied_ai_architect.pipeline.parallel import (
    HandleRef,
    PrepareJob,
    PrepareOutcome,
    RunSpec,
    prepare_candidate,
)
from embodied_ai_architect.schemas.progress import EventKind

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.handle import ModelHandle
    from embodied_ai_architect.pipeline.state import RunState
    from embodied_ai_architect.schemas.results import StepCandidate
    from embodied_ai_architect.settings import Settings


class SearchPool:
    """``workers`` workers for :class:`PrepareJob`s, alive for one run (close it at the end).

    Local: a ``ProcessPoolExecutor`` on the ``spawn`` context (fresh interpreters: no forked
    ONNX Runtime / torch thread pools or locks). Ray: one task per job, scheduled on the
    cluster the process is connected to; the run's workspace must then be a path every node
    sees (the jobs exchange files, not models)."""

    def __init__(self, workers: int, settings: Settings):
        self.workers = workers
        self._ray: Any = None
        self._local: ProcessPoolExecutor | None = None
        if settings.executor == "ray":
            import ray  # the ray executor is configured: its extra is installed

            if ray.is_initialized():
                self._ray = ray
                options: dict[str, Any] = {"num_cpus": settings.ray_cpus_per_job}
                if settings.ray_worker_workspace is not None:
                    # Node-local workspaces: the run's files exist on this node only.
                    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                    options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                        node_id=ray.get_runtime_context().get_node_id(), soft=False
                    )
                self._task = ray.remote(**options)(prepare_candidate)
        if self._ray is None:
            self._local = self._new_local()

    def _new_local(self) -> ProcessPoolExecutor:
        import multiprocessing

        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        )

    @property
    def backend(self) -> str:
        return "Ray tasks" if self._ray is not None else "local processes"

    def run_batch(self, jobs: list[PrepareJob]) -> list[PrepareOutcome]:
        """Every job's outcome, in the jobs' order; returns once all of them have finished."""
        if self._ray is not None:
            refs = [self._task.remote(job) for job in jobs]
            return [_ray_outcome(self._ray, ref) for ref in refs]
        assert self._local is not None
        futures: list[Future[PrepareOutcome]] = [
            self._local.submit(prepare_candidate, job) for job in jobs
        ]
        results = [_outcome(future) for future in futures]
        if any(r.error_type == "BrokenProcessPool" for r in results):
            # A worker died (OOM kill, native crash): the pool is unusable, start a fresh one.
            self._local.shutdown(wait=True, cancel_futures=True)
            self._local = self._new_local()
        return results

    def close(self) -> None:
        if self._local is not None:
            self._local.shutdown(wait=True, cancel_futures=True)
            self._local = None


def _outcome(future: Future[PrepareOutcome]) -> PrepareOutcome:
    try:
        return future.result()
    except Exception as exc:  # the worker process died: this candidate failed, the run goes on
        return _lost(exc)


def _ray_outcome(ray: Any, ref: Any) -> PrepareOutcome:
    try:
        outcome: PrepareOutcome = ray.get(ref)
        return outcome
    except Exception as exc:  # WorkerCrashedError, NodeDiedError, ...
        return _lost(exc)


def _lost(exc: BaseException) -> PrepareOutcome:
    return PrepareOutcome(
        error={"message": f"the search worker was lost ({type(exc).__name__}: {exc})"},
        error_type=type(exc).__name__,
        error_stage="apply",
    )


class Prefetcher:
    """One step's prepared candidates: batches them to the pool, hands them out in order."""

    def __init__(
        self,
        state: RunState,
        step_id: str,
        parent: str,
        span: tuple[float, float],
        pool: SearchPool | None,
    ):
        self.state, self.step_id, self.parent, self.span = state, step_id, parent, span
        self.pool = pool
        # Keyed by the candidate object: a fallback is a new object even with the same config.
        self._ready: dict[int, tuple[StepCandidate, PrepareOutcome]] = {}
        self._serial = itertools.count(1)

    def prepare_ahead(self, queue: list[StepCandidate], dropped: dict[str, str]) -> None:
        """When the queue's head is unprepared, prepare it and the next candidates in one batch."""
        if self.pool is None or not queue:
            return
        head = queue[0]
        if id(head) in self._ready or not self._eligible(head, dropped):
            return
        room = self.pool.workers
        left = self.state.attempts_left()
        if left is not None:
            # Prepared-but-unconsumed candidates count: each may still become an attempt.
            room = min(room, left - len(self._ready))
        batch = [c for c in queue if id(c) not in self._ready and self._eligible(c, dropped)][
            : max(room, 0)
        ]
        if not batch or batch[0] is not head:
            return  # no room for the head: it runs in this process, alone
        jobs: list[PrepareJob] = []
        for candidate in list(batch):
            try:
                jobs.append(self._job(candidate))
            except Exception:  # e.g. the ONNX export failed: the in-process path records it
                batch.remove(candidate)
        if not jobs:
            return
        self.state.bus.emit(
            self.state.bus_percent(),
            "optimization",
            f"{self.step_id}: preparing {', '.join(c.technique for c in batch)} in parallel "
            f"({len(batch)} of {self.pool.workers} {self.pool.backend}; timing stays one at a "
            "time)",
            step=self.step_id,
        )
        started = time.perf_counter()
        outcomes = self.pool.run_batch(jobs)
        # The batch's wall time is the run's technique time (the workers' own seconds overlap).
        self.state.timings.technique_s += time.perf_counter() - started
        for candidate, outcome in zip(batch, outcomes, strict=True):
            self._ready[id(candidate)] = (candidate, outcome)

    def take(self, candidate: StepCandidate) -> PrepareOutcome | None:
        """The candidate's prepared outcome (None: not prepared, run it in this process)."""
        entry = self._ready.pop(id(candidate), None)
        return entry[1] if entry is not None else None

    def discard(self, candidate: StepCandidate, reason: str) -> None:
        if self._ready.pop(id(candidate), None) is not None:
            self._note([candidate], reason)

    def discard_all(self, reason: str) -> None:
        """Drop every prepared candidate the search will not consume (recorded as an event)."""
        if self._ready:
            self._note([c for c, _ in self._ready.values()], reason)
            self._ready.clear()

    def _note(self, candidates: list[StepCandidate], reason: str) -> None:
        self.state.bus.emit(
            self.state.bus_percent(),
            "optimization",
            f"{self.step_id}: discarded the prepared "
            f"{', '.join(c.technique for c in candidates)}: {reason}",
            kind=EventKind.DECISION,
            step=self.step_id,
        )

    def _eligible(self, candidate: StepCandidate, dropped: dict[str, str]) -> bool:
        # The ONNX export is the run's cached conversion: it is done here, never in a worker.
        return (
            candidate.technique != EXPORT_ONNX
            and candidate.technique not in dropped
            and inapplicable(self.state, candidate, self.parent) is None
        )

    def _job(self, candidate: StepCandidate) -> PrepareJob:
        state = self.state
        source = readable_source(state, candidate.technique, self.parent)
        handle = state.registry.handle(source)
        spec = get_technique(candidate.technique)
        if handle.framework not in spec.manifest.input_frameworks:
            handle = state.as_onnx(source, handle)  # exported once, here, as apply_candidate does
        needs_data = spec.manifest.needs_data != "none"
        return PrepareJob(
            run=self._run_spec(),
            technique=candidate.technique,
            config=dict(candidate.config),
            source=self._source_ref(source, handle),
            workdir=state.workdir / f"{self.step_id}-p{next(self._serial)}",
            calibration=state.calibration_path(handle) if needs_data else None,
            needs_calibration=needs_data,
            screen=state.screen_bound(),
            span=self.span,
        )

    def _source_ref(self, vid: str, handle: ModelHandle) -> HandleRef:
        from embodied_ai_architect.modelio.handle import OnnxModelHandle

        if isinstance(handle, OnnxModelHandle):
            return HandleRef.of(handle, kind="onnx", path=handle.onnx_path)
        if vid == "v0":  # the original as the orchestrator loaded it (same options)
            return HandleRef.of(handle, kind="request", path=self.state.request.model_path)
        record = self.state.registry.get(vid)
        return HandleRef.of(handle, kind="artifact", path=record.path, sha256=record.sha256)

    def _run_spec(self) -> RunSpec:
        state = self.state
        return RunSpec(
            run_id=state.registry.job_id,
            request=state.request,
            evaluator=state.evaluator_args,
            profile=state.profile,
            seed=state.seed,
            threads=state.threads,
            search_workers=state.search_workers,
        )
