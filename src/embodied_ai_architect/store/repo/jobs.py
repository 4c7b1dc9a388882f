"""Job lifecycle: queued → running → succeeded / failed / cancelled / interrupted.

Every transition is a conditional UPDATE on the current status, so two processes racing
(the server cancelling while the worker finishes) cannot both win.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol, TypedDict, Unpack, cast

from sqlalchemy import ColumnElement, Select, Table, func, select, update
from sqlalchemy import insert as core_insert
from sqlalchemy.orm import Session

from embodied_ai_architect.errors import JobError
from embodied_ai_architect.schemas.jobs import TERMINAL_STATUSES, JobKind, JobStatus
from embodied_ai_architect.store.models import JobRow, utcnow
from embodied_ai_architect.store.repo._common import check_page, insert, paginate, require


def new_job_id() -> str:
    return uuid.uuid4().hex


def create_job(
    session: Session,
    *,
    kind: JobKind,
    request: dict[str, Any],
    model_id: int | None = None,
    job_id: str | None = None,
) -> JobRow:
    row = JobRow(
        id=job_id or new_job_id(),
        kind=kind,
        request=request,
        status=JobStatus.QUEUED,
        progress=0.0,
        model_id=model_id,
    )
    return insert(session, row)


_QUEUE_JOB = core_insert(cast(Table, JobRow.__table__))  # Core: no ORM flush, no identity map


def queue_job(
    session: Session, *, kind: JobKind, request: dict[str, Any], model_id: int | None = None
) -> JobRow:
    """:func:`create_job` as one prebuilt Core INSERT, for the API's submit path: the ORM's
    flush cost more CPU than the statement itself. The returned row is a detached copy of
    what was written (not in ``session``)."""
    row = JobRow(
        id=new_job_id(),
        kind=kind,
        request=request,
        status=JobStatus.QUEUED,
        progress=0.0,
        model_id=model_id,
        created_at=utcnow(),
    )
    columns = ("id", "kind", "request", "status", "progress", "model_id", "created_at")
    session.execute(_QUEUE_JOB, {name: getattr(row, name) for name in columns})
    return row


def get_job(session: Session, *, job_id: str) -> JobRow:
    return require(session, JobRow, job_id, what="job")


class JobFilters(TypedDict, total=False):
    """What job lists can be narrowed by (None or absent: any)."""

    status: JobStatus | None
    kind: JobKind | None
    model_id: int | None


def list_jobs(
    session: Session, *, offset: int = 0, limit: int = 100, **filters: Unpack[JobFilters]
) -> tuple[list[JobRow], int]:
    """One page of whole job rows (results included), newest first, and the total."""
    statement = _newest_first(select(JobRow), filters)
    return paginate(session, statement, offset=offset, limit=limit)


class JobSummary(Protocol):
    """A job without its result: what status and list views show (a JobRow is one too)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> JobKind: ...
    @property
    def status(self) -> JobStatus: ...
    @property
    def progress(self) -> float: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def model_id(self) -> int | None: ...
    @property
    def request(self) -> dict[str, Any]: ...
    @property
    def error(self) -> dict[str, Any] | None: ...
    @property
    def worker_pid(self) -> int | None: ...
    @property
    def executor(self) -> str | None: ...
    @property
    def worker_node(self) -> str | None: ...
    @property
    def worker_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...


# Plain column rows, not ORM objects: no identity map or instance state per row, and the
# result (a whole optimize report can be megabytes of JSON) is never read or decoded.
# Every column but the result (a whole report): what status and list views read.
SUMMARY_COLUMNS = tuple(c for c in JobRow.__table__.columns if c.key != "result")


def get_job_summary(session: Session, *, job_id: str) -> JobSummary:
    statement = select(*SUMMARY_COLUMNS).where(JobRow.id == job_id)
    row = session.connection().execute(statement).first()  # Core: no ORM loading per row
    if row is None:
        require(session, JobRow, job_id, what="job")  # raises the usual NotFoundError
    return cast(JobSummary, row)


def list_job_summaries(
    session: Session, *, offset: int = 0, limit: int = 100, **filters: Unpack[JobFilters]
) -> tuple[list[JobSummary], int]:
    """One page of job summaries, newest first (the ix_jobs_created_id index), and the total."""
    check_page(offset=offset, limit=limit)
    page = _newest_first(select(*SUMMARY_COLUMNS), filters)
    # Core, not session.execute: column rows need none of the ORM's per-row loading machinery.
    rows = session.connection().execute(page.offset(offset).limit(limit)).all()
    if offset == 0 and len(rows) < limit:
        count = len(rows)  # the whole result is on this page: no count query needed
    else:
        total = select(func.count()).select_from(JobRow).where(*_conditions(filters))
        count = int(session.connection().execute(total).scalar_one())
    return [cast(JobSummary, r) for r in rows], count


def _conditions(filters: JobFilters) -> list[ColumnElement[bool]]:
    columns = {"status": JobRow.status, "kind": JobRow.kind, "model_id": JobRow.model_id}
    return [columns[name] == value for name, value in filters.items() if value is not None]


def _newest_first(statement: Select[Any], filters: JobFilters) -> Select[Any]:
    # Both keys descending: SQLite walks ix_jobs_created_id backwards with no sort step.
    return statement.where(*_conditions(filters)).order_by(
        JobRow.created_at.desc(), JobRow.id.desc()
    )


def queued_job_ids(session: Session) -> list[str]:
    """Queued jobs, oldest first (the order a restarted server resumes them in)."""
    statement = (
        select(JobRow.id).where(JobRow.status == JobStatus.QUEUED).order_by(JobRow.created_at)
    )
    return list(session.scalars(statement))


def _transition(
    session: Session, *, job_id: str, allowed: set[JobStatus], values: dict[str, Any]
) -> bool:
    result = session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        row = session.get(JobRow, job_id)
        if row is not None:
            session.refresh(row)
    return changed


def mark_running(
    session: Session, *, job_id: str, worker_pid: int | None, executor: str | None = None
) -> bool:
    return _transition(
        session,
        job_id=job_id,
        allowed={JobStatus.QUEUED},
        values={
            "status": JobStatus.RUNNING,
            "worker_pid": worker_pid,
            "executor": executor,
            "started_at": utcnow(),
        },
    )


def set_placement(session: Session, *, job_id: str, node: str, worker: str) -> bool:
    """Record the node and worker a running job landed on (a retried job records its last)."""
    return _transition(
        session,
        job_id=job_id,
        allowed={JobStatus.RUNNING},
        values={"worker_node": node[:255], "worker_id": worker[:255]},
    )


def update_progress(
    session: Session, *, job_id: str, percent: float, stage: str | None = None
) -> bool:
    values: dict[str, Any] = {"progress": max(0.0, min(100.0, percent))}
    if stage is not None:
        values["stage"] = stage
    return _transition(
        session, job_id=job_id, allowed={JobStatus.QUEUED, JobStatus.RUNNING}, values=values
    )


def finish_job(
    session: Session,
    *,
    job_id: str,
    status: JobStatus,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    """Move a queued/running job to a terminal state; False when it already was terminal."""
    if status not in TERMINAL_STATUSES:
        raise JobError(f"{status} is not a terminal job status", hint="report this as a bug")
    values: dict[str, Any] = {
        "status": status,
        "result": result,
        "error": error,
        "finished_at": utcnow(),
    }
    if status is JobStatus.SUCCEEDED:
        values["progress"] = 100.0
    return _transition(
        session, job_id=job_id, allowed={JobStatus.QUEUED, JobStatus.RUNNING}, values=values
    )


def interrupt_running(session: Session, *, reason: str) -> list[str]:
    """Mark every running job interrupted (called on server start: their workers are gone)."""
    ids = list(session.scalars(select(JobRow.id).where(JobRow.status == JobStatus.RUNNING)))
    for job_id in ids:
        finish_job(
            session,
            job_id=job_id,
            status=JobStatus.INTERRUPTED,
            error={
                "code": "job_interrupted",
                "message": reason,
                "hint": "submit the job again",
                "details": {},
            },
        )
    return ids
