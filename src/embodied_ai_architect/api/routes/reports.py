"""An optimize run's report files: report.html (self-contained page) and report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi.responses import FileResponse

from embodied_ai_architect.api.deps import DbDep, SettingsDep
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.params import JobId
from embodied_ai_architect.api.routing import read_router
from embodied_ai_architect.errors import NotFoundError
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.store.repo import jobs

router = read_router("/api/v1/runs", "runs")

_MEDIA = {"html": "text/html", "json": "application/json"}


def _report(db: DbDep, settings: SettingsDep, job_id: str, kind: Literal["html", "json"]) -> Path:
    with db.session() as session:
        row = jobs.get_job(session, job_id=job_id)  # NotFoundError names the missing job
        is_optimize = row.kind is JobKind.OPTIMIZE
    # The worker writes reports under workspace/runs/<job id>/optimize (see requests.py).
    path = settings.workspace / "runs" / job_id / "optimize" / f"report.{kind}"
    if not is_optimize or not path.is_file():
        raise NotFoundError(
            f"job {job_id} has no report.{kind}",
            hint="reports exist for optimize jobs once they have finished",
        )
    return path


def _file_response(kind: Literal["html", "json"]) -> dict[int | str, dict[str, object]]:
    return {
        200: {"content": {_MEDIA[kind]: {"schema": {"type": "string"}}}},
        **error_responses(404, 422),
    }


@router.get(
    "/{job_id}/report.html",
    response_class=FileResponse,
    responses=_file_response("html"),
)
def report_html(job_id: JobId, db: DbDep, settings: SettingsDep) -> FileResponse:
    """The run's self-contained HTML report (plots inline), as written by the worker."""
    path = _report(db, settings, job_id, "html")
    return FileResponse(path, media_type="text/html", filename=f"report-{job_id[:8]}.html")


@router.get(
    "/{job_id}/report.json",
    response_class=FileResponse,
    responses=_file_response("json"),
)
def report_json(job_id: JobId, db: DbDep, settings: SettingsDep) -> FileResponse:
    """The run's OptimizeReport as the JSON file the worker wrote."""
    path = _report(db, settings, job_id, "json")
    return FileResponse(path, media_type="application/json", filename=f"report-{job_id[:8]}.json")
