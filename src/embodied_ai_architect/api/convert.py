"""Rows → public models (the only place that knows both shapes)."""

from __future__ import annotations

from datetime import UTC, datetime

from embodied_ai_architect.api.schemas import ErrorBody, JobPublic, JobResultPublic, ModelPublic
from embodied_ai_architect.errors import JobError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.store.models import JobRow, ModelRow
from embodied_ai_architect.workers.requests import parse_job_request


def model_public(row: ModelRow) -> ModelPublic:
    return ModelPublic(
        id=row.id,
        name=row.name,
        format=row.format,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
        analyzed=row.profile is not None,
    )


def job_public(row: JobRow) -> JobPublic:
    end = row.finished_at or (datetime.now(UTC) if row.started_at else None)
    duration = (end - row.started_at).total_seconds() if row.started_at and end else None
    return JobPublic(
        id=row.id,
        kind=row.kind,
        status=row.status,
        progress=row.progress,
        stage=row.stage,
        model_id=row.model_id,
        request=parse_job_request({**row.request, "kind": row.kind.value}),
        error=ErrorBody.model_validate(row.error) if row.error else None,
        worker_pid=row.worker_pid,
        executor=row.executor,
        worker_node=row.worker_node,
        worker_id=row.worker_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=max(0.0, duration) if duration is not None else None,
    )


def job_result(row: JobRow) -> JobResultPublic:
    if row.status is not JobStatus.SUCCEEDED or row.result is None:
        raise JobError(
            f"job {row.id} has no result (status: {row.status.value})",
            hint="wait until it succeeded; failed jobs carry an error instead",
            details={"status": row.status.value},
        )
    field = {
        JobKind.ANALYZE: "analysis",
        JobKind.OPTIMIZE: "optimize",
        JobKind.DEPLOY: "deployment",
    }
    return JobResultPublic.model_validate(
        {"job_id": row.id, "kind": row.kind, field[row.kind]: row.result}
    )
