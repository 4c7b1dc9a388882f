"""Progress events, stored in order per job (seq 0, 1, 2, ...)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.store.models import EventRow, JobRow
from embodied_ai_architect.store.repo._common import insert, require


def append_event(session: Session, *, job_id: str, event: ProgressEvent) -> EventRow:
    """Store ``event`` as the job's next one. Only one writer per job (the server's drain)."""
    require(session, JobRow, job_id, what="job")
    last = session.scalar(select(func.max(EventRow.seq)).where(EventRow.job_id == job_id))
    row = EventRow(
        job_id=job_id,
        seq=0 if last is None else last + 1,
        timestamp=event.timestamp,
        agent=event.agent,
        kind=event.kind.value,
        stage=event.stage,
        step=event.step,
        percent=event.percent,
        message=event.message,
        data=event.data,
    )
    return insert(session, row)


def list_events(
    session: Session, *, job_id: str, after_seq: int = -1, limit: int = 10_000
) -> list[EventRow]:
    require(session, JobRow, job_id, what="job")
    statement = (
        select(EventRow)
        .where(EventRow.job_id == job_id, EventRow.seq > after_seq)
        .order_by(EventRow.seq)
        .limit(limit)
    )
    return list(session.scalars(statement))


def to_progress_event(row: EventRow) -> ProgressEvent:
    return ProgressEvent.model_validate(
        {
            "percent": row.percent,
            "stage": row.stage,
            "message": row.message,
            "kind": row.kind,
            "agent": row.agent,
            "step": row.step,
            "data": row.data,
            "timestamp": row.timestamp,
        }
    )
