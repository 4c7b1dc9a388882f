"""JobService: submit and cancel jobs; a supervisor thread runs them on an Executor.

The supervisor is the only writer of a job's events, so their ``seq`` order is the order the
worker emitted them. Every state change is a conditional UPDATE (see store.repo.jobs), so a
cancel racing a finishing worker leaves exactly one outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from embodied_ai_architect.errors import EAAError, JobError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.models import JobRow
from embodied_ai_architect.store.repo import events, jobs
from embodied_ai_architect.workers.executor import Executor, RunningJob, make_executor
from embodied_ai_architect.workers.handlers import DEFAULT_HANDLERS
from embodied_ai_architect.workers.limits import ResourceLimits
from embodied_ai_architect.workers.metrics import JobMetrics
from embodied_ai_architect.workers.protocol import JobSpec, WorkerMessage
from embodied_ai_architect.workers.pubsub import PubSub
from embodied_ai_architect.workers.records import record_analysis
from embodied_ai_architect.workers.requests import prepare_request

Prepare = Callable[..., dict[str, Any]]

log = logging.getLogger(__name__)


def _error(code: str, message: str, hint: str) -> dict[str, Any]:
    return {"code": code, "message": message, "hint": hint, "details": {}}


class JobService:
    """Owns the queue of one server process. Create it in the app factory; ``start``/``stop``
    it with the app's lifespan."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        executor: Executor | None = None,
        pubsub: PubSub | None = None,
        handlers: Mapping[JobKind, str] | None = None,
        prepare: Prepare | None = None,
        poll_interval_s: float = 0.05,
        sync_interval_s: float = 1.0,
    ):
        self.db = db
        self.settings = settings
        self.executor = executor or make_executor(settings)
        self.pubsub = pubsub or PubSub()
        self.handlers = dict(handlers or DEFAULT_HANDLERS)
        self.metrics = JobMetrics()
        self.limits = ResourceLimits.from_settings(settings)
        # Stored client request -> library request; tests with custom handlers pass their own.
        self.prepare: Prepare = prepare or prepare_request
        self._poll = poll_interval_s
        self._sync_every = sync_interval_s
        self._last_sync = 0.0
        self._lock = threading.Lock()
        self._pending: deque[str] = deque()
        self._cancel: set[str] = set()
        self._running: dict[str, tuple[RunningJob, float]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Recover from a previous run, then start supervising."""
        with self.db.session() as session:
            interrupted = jobs.interrupt_running(
                session, reason="the server stopped while this job was running"
            )
            queued = jobs.queued_job_ids(session)
        if interrupted:
            log.warning("marked %d running job(s) interrupted", len(interrupted))
        with self._lock:
            self._pending.extend(queued)
        self._thread = threading.Thread(target=self._supervise, name="eaa-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop supervising; running jobs are terminated and marked interrupted."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for job_id, (handle, _) in list(self._running.items()):
            handle.terminate(grace_s=2)
            with self.db.session() as session:
                jobs.finish_job(
                    session,
                    job_id=job_id,
                    status=JobStatus.INTERRUPTED,
                    error=_error("job_interrupted", "the server shut down", "submit it again"),
                )
        self._running.clear()
        self.executor.shutdown()

    # --- public operations ----------------------------------------------------------------
    def submit(
        self, *, kind: JobKind, request: dict[str, Any], model_id: int | None = None
    ) -> JobRow:
        with self.db.session() as session:
            row = jobs.queue_job(session, kind=kind, request=request, model_id=model_id)
        with self._lock:
            self._pending.append(row.id)
        self._wake.set()
        return row

    def cancel(self, *, job_id: str) -> JobRow:
        with self.db.session() as session:
            row = jobs.get_job(session, job_id=job_id)
            if row.status.terminal:
                raise JobError(
                    f"job {job_id} already finished ({row.status.value})",
                    hint="only queued or running jobs can be cancelled",
                    details={"status": row.status.value},
                )
            jobs.finish_job(
                session,
                job_id=job_id,
                status=JobStatus.CANCELLED,
                error=_error("job_cancelled", "cancelled on request", "submit it again to retry"),
            )
            row = jobs.get_job(session, job_id=job_id)
        with self._lock:
            self._cancel.add(job_id)
        self._wake.set()
        self.pubsub.publish(job_id, {"type": "final", "status": row.status.value})
        return row

    def running_job_ids(self) -> list[str]:
        return list(self._running)

    # --- supervisor ------------------------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync_with_database()
                self._apply_cancels()
                self._launch_pending()
                busy = self._pump()
                self._enforce_timeouts()
            except Exception:  # keep supervising: one bad job must not stop the queue
                log.exception("supervisor iteration failed")
                busy = False
            if not busy:
                self._wake.wait(self._poll)
                self._wake.clear()

    def _sync_with_database(self) -> None:
        """Pick up jobs queued and cancels made by other processes (e.g. the CLI)."""
        now = time.monotonic()
        if now - self._last_sync < self._sync_every:
            return
        self._last_sync = now
        with self.db.session() as session:
            queued = jobs.queued_job_ids(session)
            finished = [
                job_id
                for job_id in list(self._running)
                if jobs.get_job(session, job_id=job_id).status.terminal
            ]
        with self._lock:
            known = set(self._pending) | set(self._running)
            self._pending.extend(j for j in queued if j not in known)
            self._cancel.update(finished)

    def _apply_cancels(self) -> None:
        with self._lock:
            cancelled, self._cancel = self._cancel, set()
            self._pending = deque(j for j in self._pending if j not in cancelled)
        for job_id in cancelled:
            entry = self._running.pop(job_id, None)
            if entry is not None:
                entry[0].terminate(grace_s=2)
                self._observe(job_id, entry[1])

    def _launch_pending(self) -> None:
        while len(self._running) < self.executor.capacity:
            with self._lock:
                if not self._pending:
                    return
                job_id = self._pending.popleft()
            with self.db.session() as session:
                row = jobs.get_job(session, job_id=job_id)
                if row.status is not JobStatus.QUEUED:
                    continue
                try:
                    request = self.prepare(
                        row.kind,
                        row.request,
                        session=session,
                        settings=self.settings,
                        job_id=job_id,
                    )
                except EAAError as exc:  # e.g. its model was deleted while it waited
                    jobs.finish_job(
                        session, job_id=job_id, status=JobStatus.FAILED, error=exc.to_dict()
                    )
                    self.pubsub.publish(job_id, {"type": "final", "status": "failed"})
                    continue
                spec = JobSpec(
                    job_id=row.id,
                    kind=row.kind,
                    request=request,
                    settings=self.settings,
                    handler=self.handlers[row.kind],
                    limits=self.limits,
                )
            handle = self.executor.launch(spec)
            with self.db.session() as session:
                started = jobs.mark_running(
                    session, job_id=job_id, worker_pid=handle.pid, executor=self.executor.name
                )
            if not started:  # cancelled in between
                handle.terminate(grace_s=1)
                continue
            self._running[job_id] = (handle, time.monotonic())
            self.pubsub.publish(job_id, {"type": "status", "status": JobStatus.RUNNING.value})

    def _pump(self) -> bool:
        busy = False
        for job_id, (handle, started) in list(self._running.items()):
            messages, closed = handle.receive()
            if messages:
                busy = True
                self._store_messages(job_id, messages)
            if closed:
                self._running.pop(job_id, None)
                self._on_exit(job_id, handle)
                self._observe(job_id, started)
        return busy

    def _store_messages(self, job_id: str, messages: list[WorkerMessage]) -> None:
        published: list[dict[str, Any]] = []
        with self.db.session() as session:
            for kind, payload in messages:
                if kind == "placement":  # where the worker runs: node and worker id
                    jobs.set_placement(session, job_id=job_id, **payload)
                elif kind == "event":
                    event = ProgressEvent.model_validate(payload)
                    row = events.append_event(session, job_id=job_id, event=event)
                    jobs.update_progress(
                        session, job_id=job_id, percent=event.percent, stage=event.stage
                    )
                    published.append(
                        {"type": "event", "seq": row.seq, "event": event.model_dump(mode="json")}
                    )
                elif kind == "result":
                    if jobs.finish_job(
                        session, job_id=job_id, status=JobStatus.SUCCEEDED, result=payload
                    ):
                        self._after_success(session, job_id, payload)
                    published.append({"type": "final", "status": JobStatus.SUCCEEDED.value})
                else:
                    jobs.finish_job(session, job_id=job_id, status=JobStatus.FAILED, error=payload)
                    published.append({"type": "final", "status": JobStatus.FAILED.value})
        for message in published:
            self.pubsub.publish(job_id, message)

    def _after_success(self, session: Session, job_id: str, result: dict[str, Any]) -> None:
        row = jobs.get_job(session, job_id=job_id)
        try:
            with session.begin_nested():  # a failure here must not lose the job's result
                self._record(session, row.kind, row.model_id, job_id, result)
        except Exception:  # the result itself is stored; history rows are a derived view
            log.exception("could not record the history of job %s", job_id)

    def _record(
        self,
        session: Session,
        kind: JobKind,
        model_id: int | None,
        job_id: str,
        result: dict[str, Any],
    ) -> None:
        # Optimize jobs need nothing here: the pipeline records plans, attempts, versions and
        # skills against the job id while it runs.
        del job_id
        if kind is JobKind.ANALYZE:
            record_analysis(session, model_id=model_id, profile=result)

    def _on_exit(self, job_id: str, handle: RunningJob) -> None:
        reason = handle.exit_reason() or "the worker ended without reporting a result"
        with self.db.session() as session:
            failed = jobs.finish_job(
                session,
                job_id=job_id,
                status=JobStatus.FAILED,
                error=_error(
                    "worker_died",
                    reason,
                    "check the server log; raise EAA_JOB_MEMORY_MB if it ran out of memory",
                ),
            )
        if failed:
            log.error("job %s failed: %s", job_id, reason)
            self.pubsub.publish(job_id, {"type": "final", "status": JobStatus.FAILED.value})

    def _enforce_timeouts(self) -> None:
        timeout = self.limits.timeout_s
        if timeout is None:
            return
        now = time.monotonic()
        for job_id, (handle, started) in list(self._running.items()):
            if now - started <= timeout:
                continue
            handle.terminate(grace_s=2)
            self._running.pop(job_id, None)
            with self.db.session() as session:
                jobs.finish_job(
                    session,
                    job_id=job_id,
                    status=JobStatus.FAILED,
                    error=_error(
                        "job_timeout",
                        f"the job ran longer than {timeout:g} s and was stopped",
                        "raise EAA_JOB_TIMEOUT_S or make the job smaller",
                    ),
                )
            self._observe(job_id, started)
            self.pubsub.publish(job_id, {"type": "final", "status": JobStatus.FAILED.value})

    def _observe(self, job_id: str, started: float) -> None:
        with self.db.session() as session:
            row = jobs.get_job(session, job_id=job_id)
            kind, status = row.kind.value, row.status.value
        self.metrics.observe(kind=kind, status=status, seconds=time.monotonic() - started)
