"""JobService with real spawned worker processes and a real SQLite database."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from embodied_ai_architect.errors import JobError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.repo import events, jobs
from embodied_ai_architect.workers.service import JobService

from . import job_bodies

BODY = job_bodies.__name__


def body(name: str) -> dict[JobKind, str]:
    return {kind: f"{BODY}:{name}" for kind in JobKind}


@pytest.fixture
def db(isolated_workspace: Path) -> Iterator[Database]:
    database = Database.from_settings(Settings(workspace=isolated_workspace))
    database.upgrade()
    yield database
    database.dispose()


def make_service(db: Database, workspace: Path, name: str, **settings: object) -> JobService:
    config = Settings(workspace=workspace, workers=settings.pop("workers", 2), **settings)  # type: ignore[arg-type]
    return JobService(
        db=db,
        settings=config,
        handlers=body(name),
        prepare=lambda kind, request, **_: request,  # the bodies take the stored request as is
        poll_interval_s=0.02,
    )


def wait_for(db: Database, job_id: str, statuses: set[JobStatus], timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as session:
            row = jobs.get_job(session, job_id=job_id)
        if row.status in statuses:
            return row
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stayed {row.status}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); check its state. It may be reaped between the two
    # calls, and reading a reaped process's stat raises ProcessLookupError.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_job_runs_in_another_process_and_events_are_stored_in_order(
    db: Database, isolated_workspace: Path
) -> None:
    service = make_service(db, isolated_workspace, "steps")
    service.start()
    try:
        row = service.submit(kind=JobKind.ANALYZE, request={"echo": "hi"})
        done = wait_for(db, row.id, {JobStatus.SUCCEEDED, JobStatus.FAILED})
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert done.result["echo"] == "hi" and done.result["pid"] != os.getpid()
        assert done.worker_pid == done.result["pid"] and done.progress == 100
        # The worker yields the CPU to the API process (reads stay fast while jobs run).
        assert done.result["nice"] == min(19, os.nice(0) + 10)
        assert done.executor == "local" and done.worker_id == f"pid {done.result['pid']}"
        with db.session() as session:
            stored = events.list_events(session, job_id=row.id)
        assert [e.seq for e in stored] == [0, 1, 2, 3, 4]
        assert [e.percent for e in stored] == [0, 25, 50, 75, 100]
    finally:
        service.stop()


def test_killed_worker_marks_job_failed_with_reason(db: Database, isolated_workspace: Path) -> None:
    service = make_service(db, isolated_workspace, "suicide")
    service.start()
    try:
        row = service.submit(kind=JobKind.ANALYZE, request={})
        done = wait_for(db, row.id, {JobStatus.FAILED, JobStatus.SUCCEEDED})
        assert done.status is JobStatus.FAILED
        assert done.error["code"] == "worker_died" and "SIGKILL" in done.error["message"]
        with db.session() as session:
            assert [e.message for e in events.list_events(session, job_id=row.id)] == [
                "about to die"
            ]
        # The service keeps working after a crash.
        service.handlers = body("steps")
        ok = service.submit(kind=JobKind.ANALYZE, request={})
        assert (
            wait_for(db, ok.id, {JobStatus.SUCCEEDED, JobStatus.FAILED}).status
            is JobStatus.SUCCEEDED
        )
    finally:
        service.stop()


def test_memory_limit_stops_a_hungry_job(db: Database, isolated_workspace: Path) -> None:
    service = make_service(db, isolated_workspace, "hog", job_memory_mb=400)
    service.start()
    try:
        row = service.submit(kind=JobKind.ANALYZE, request={})
        done = wait_for(db, row.id, {JobStatus.FAILED, JobStatus.SUCCEEDED})
        assert done.status is JobStatus.FAILED
        assert done.error["code"] == "job_out_of_memory"
    finally:
        service.stop()


def test_domain_errors_are_recorded_with_hint(db: Database, isolated_workspace: Path) -> None:
    service = make_service(db, isolated_workspace, "bad_config")
    service.start()
    try:
        row = service.submit(kind=JobKind.ANALYZE, request={})
        done = wait_for(db, row.id, {JobStatus.FAILED, JobStatus.SUCCEEDED})
        assert done.error == {
            "code": "invalid_config",
            "message": "technique 'x' needs calibration data",
            "hint": "pass --calibration",
            "details": {},
        }
    finally:
        service.stop()


def test_cancel_terminates_the_worker(db: Database, isolated_workspace: Path) -> None:
    service = make_service(db, isolated_workspace, "sleeper")
    service.start()
    try:
        row = service.submit(kind=JobKind.ANALYZE, request={"seconds": 60})
        running = wait_for(db, row.id, {JobStatus.RUNNING})
        cancelled = service.cancel(job_id=row.id)
        assert cancelled.status is JobStatus.CANCELLED
        deadline = time.monotonic() + 10
        while pid_alive(running.worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(running.worker_pid)
        with pytest.raises(JobError, match="already finished"):
            service.cancel(job_id=row.id)
    finally:
        service.stop()


def test_pool_runs_jobs_in_parallel_up_to_capacity(db: Database, isolated_workspace: Path) -> None:
    service = make_service(db, isolated_workspace, "sleeper", workers=2)
    service.start()
    try:
        ids = [service.submit(kind=JobKind.ANALYZE, request={"seconds": 30}).id for _ in range(3)]
        wait_for(db, ids[0], {JobStatus.RUNNING})
        wait_for(db, ids[1], {JobStatus.RUNNING})
        time.sleep(0.3)
        with db.session() as session:
            assert jobs.get_job(session, job_id=ids[2]).status is JobStatus.QUEUED
        service.cancel(job_id=ids[0])
        wait_for(db, ids[2], {JobStatus.RUNNING})
    finally:
        service.stop()
    with db.session() as session:
        statuses = {jobs.get_job(session, job_id=i).status for i in ids[1:]}
    assert statuses == {JobStatus.INTERRUPTED}  # stop() leaves nothing "running"


def test_timeout_kills_the_job(db: Database, isolated_workspace: Path) -> None:
    service = make_service(db, isolated_workspace, "sleeper", job_timeout_s=1.0)
    service.start()
    try:
        row = service.submit(kind=JobKind.ANALYZE, request={"seconds": 60})
        done = wait_for(db, row.id, {JobStatus.FAILED, JobStatus.SUCCEEDED})
        assert done.error["code"] == "job_timeout"
    finally:
        service.stop()


def test_restart_resumes_queue_and_interrupts_orphans(
    db: Database, isolated_workspace: Path
) -> None:
    with db.session() as session:
        orphan = jobs.create_job(session, kind=JobKind.ANALYZE, request={})
        jobs.mark_running(session, job_id=orphan.id, worker_pid=999_999)
        queued = jobs.create_job(session, kind=JobKind.ANALYZE, request={"echo": "resumed"})
    service = make_service(db, isolated_workspace, "steps")
    service.start()
    try:
        done = wait_for(db, queued.id, {JobStatus.SUCCEEDED, JobStatus.FAILED})
        assert done.status is JobStatus.SUCCEEDED and done.result["echo"] == "resumed"
        with db.session() as session:
            assert jobs.get_job(session, job_id=orphan.id).status is JobStatus.INTERRUPTED
    finally:
        service.stop()
