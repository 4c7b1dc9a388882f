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


def _add_report_route(kind: Literal["html", "json"], doc: str) -> None:
    """``GET /{job_id}/report.<kind>``: the file the worker wrote, downloaded under a short name."""

    def report(job_id: JobId, db: DbDep, settings: SettingsDep) -> FileResponse:
        path = _report(db, settings, job_id, kind)
        return FileResponse(path, media_type=_MEDIA[kind], filename=f"report-{job_id[:8]}.{kind}")

    report.__name__ = f"report_{kind}"  # FastAPI derives the OpenAPI operation id from it
    report.__doc__ = doc
    router.get(
        f"/{{job_id}}/report.{kind}",
        response_class=FileResponse,
        responses={
            200: {"content": {_MEDIA[kind]: {"schema": {"type": "string"}}}},
            **error_responses(404, 422),
        },
    )(report)


_add_report_route(
    "html", "The run's self-contained HTML report (plots inline), as written by the worker."
)
_add_report_route("json", "The run's OptimizeReport as the JSON file the worker wrote.")
