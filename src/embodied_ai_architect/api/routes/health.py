"""Liveness and Prometheus metrics (unauthenticated: they reveal no user data)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from embodied_ai_architect import __version__
from embodied_ai_architect.api.deps import DbDep, ServiceDep, SettingsDep
from embodied_ai_architect.api.metrics import HttpMetrics, job_state_lines
from embodied_ai_architect.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(db: DbDep, service: ServiceDep, settings: SettingsDep) -> Health:
    with db.session() as session:
        session.execute(text("SELECT 1"))
    dialect = db.engine.dialect.name
    return Health(
        status="ok",
        version=__version__,
        database=dialect if dialect in ("sqlite", "postgresql") else "other",  # type: ignore[arg-type]
        workers=settings.workers,
        running_jobs=len(service.running_job_ids()),
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, db: DbDep, service: ServiceDep) -> PlainTextResponse:
    http: HttpMetrics = request.app.state.http_metrics
    with db.session() as session:
        lines = job_state_lines(session)
    lines += service.metrics.render() + http.render()
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
