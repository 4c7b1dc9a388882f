"""Jobs: submit (validated, then queued), status, list, cancel, result, events (+ JSONL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response, StreamingResponse

from embodied_ai_architect.api.admission import admit
from embodied_ai_architect.api.convert import job_public, job_result, page_of
from embodied_ai_architect.api.deps import DbDep, ReadAccess, ServiceDep, SettingsDep
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.job_pages import render_job, render_job_page
from embodied_ai_architect.api.params import MAX_ID, JobId, Limit, Offset
from embodied_ai_architect.api.routing import read_route, write_route
from embodied_ai_architect.api.schemas import (
    EventPublic,
    JobPublic,
    JobResultPublic,
    JobSubmitted,
    ListPublic,
)
from embodied_ai_architect.modelio.formats import detect_format
from embodied_ai_architect.schemas.job_requests import JobRequest
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.store.repo import events, jobs
from embodied_ai_architect.workers.requests import (
    build_library_request,
    resolve_data_paths,
    resolve_model_path,
)

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@write_route(router, "post", "", JobSubmitted, 404, 422, status_code=202)
def submit_job(
    request: Annotated[
        JobRequest, Body(description="analyze, optimize, deploy or rollout (by kind).")
    ],
    db: DbDep,
    service: ServiceDep,
    settings: SettingsDep,
) -> JobSubmitted:
    """Validate the request completely, then queue it: the model and data files exist, the
    library request builds, the target / precision / INT8 mode work here, the suite (and a
    rollout's scene) exists, the input shapes fit the model and the memory limits (422 naming
    ``details.field`` otherwise).

    Returns at once; follow the job with GET /api/v1/jobs/{id}, its events or /ws/jobs/{id}.
    """
    with db.session() as session:
        model_path = None
        if request.model_id is not None:
            model_path = resolve_model_path(
                session, settings=settings, model_id=request.model_id, version=request.version
            )
        # Unknown data ids are a 422 naming the field (eval_data_id, calibration_data_id).
        data_paths = resolve_data_paths(session, settings=settings, request=request)
        # Fail fast: the same translation the worker will do, so bad input never gets queued.
        build_library_request(
            request,
            model_path=model_path,
            job_id="0" * 32,
            settings=settings,
            data_paths=data_paths,
        )
    # Then everything else knowable before a worker starts (target, suite, shapes, memory).
    model_format = detect_format(model_path).value if model_path is not None else None
    admit(request, model_path=model_path, model_format=model_format, settings=settings)
    row = service.submit(
        kind=JobKind(request.kind),
        request=request.model_dump(mode="json", exclude={"kind"}),
        model_id=request.model_id,
    )
    return JobSubmitted(job_id=row.id, status=row.status)


@read_route(router, "", ListPublic[JobPublic], 422)
def list_jobs(
    db: DbDep,
    status: JobStatus | None = None,
    kind: JobKind | None = None,
    model_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    # Summaries (results are served by /result, one job at a time), each job rendered once
    # per state and process: see api/job_pages.py for what this costs and why.
    body = render_job_page(
        db, status=status, kind=kind, model_id=model_id, offset=offset, limit=limit
    )
    return Response(body, media_type="application/json")


@read_route(router, "/{job_id}", JobPublic, 404, 422)
def get_job(job_id: JobId, db: DbDep) -> Response:
    return Response(render_job(db, job_id=job_id), media_type="application/json")


@write_route(router, "post", "/{job_id}/cancel", JobPublic, 404, 409, 422)
def cancel_job(job_id: JobId, service: ServiceDep) -> JobPublic:
    """Cancel a queued or running job (its worker process is terminated)."""
    return job_public(service.cancel(job_id=job_id))


@read_route(router, "/{job_id}/result", JobResultPublic, 404, 409, 422)
def get_result(job_id: JobId, db: DbDep) -> JobResultPublic:
    with db.session() as session:
        return job_result(jobs.get_job(session, job_id=job_id))


@read_route(router, "/{job_id}/events", ListPublic[EventPublic], 404, 422)
def list_events(
    job_id: JobId,
    db: DbDep,
    after_seq: Annotated[
        int, Query(ge=-1, le=10**9, description="Only events after this seq.")
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> ListPublic[EventPublic]:
    with db.session() as session:
        rows = events.list_events(session, job_id=job_id, after_seq=after_seq, limit=limit)
        return page_of(EventPublic, rows)


@router.get(
    "/{job_id}/events.jsonl",
    response_class=StreamingResponse,
    dependencies=[ReadAccess],
    responses={
        200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
        **error_responses(401, 404, 422),
    },
)
def export_events(job_id: JobId, db: DbDep) -> StreamingResponse:
    """Every event of the job, one JSON object per line (for archiving and replay)."""
    with db.session() as session:
        rows = events.list_events(session, job_id=job_id, limit=10**9)
        lines = [EventPublic.model_validate(r).model_dump_json() + "\n" for r in rows]

    def body() -> Iterator[str]:
        yield from lines

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}-events.jsonl"'},
    )
