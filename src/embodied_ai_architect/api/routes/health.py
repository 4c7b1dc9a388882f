"""Liveness and Prometheus metrics (unauthenticated: they reveal no user data)."""

from __future__ import annotations

import time

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from embodied_ai_architect import __version__
from embodied_ai_architect.api.deps import DbDep, ServiceDep, SettingsDep
from embodied_ai_architect.api.metrics import HttpMetrics, job_state_lines
from embodied_ai_architect.api.schemas import Health
from embodied_ai_architect.store import Database

router = APIRouter(tags=["health"])


# The database probe behind /health runs at most this often (in a thread); between probes
# a liveness check costs no thread hand-off and no query, however often it is polled.
PROBE_INTERVAL_S = 1.0


def _probe(db: Database) -> None:
    with db.session() as session:
        session.execute(text("SELECT 1"))


@router.get("/health", response_model=Health)
async def health(request: Request, db: DbDep, service: ServiceDep, settings: SettingsDep) -> Health:
    state = request.app.state
    now = time.monotonic()
    if now - getattr(state, "health_probed_at", -PROBE_INTERVAL_S) >= PROBE_INTERVAL_S:
        await anyio.to_thread.run_sync(_probe, db)  # a StoreError here answers 500
        state.health_probed_at = now
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
