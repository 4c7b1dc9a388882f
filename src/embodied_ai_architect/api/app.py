"""The app factory: ``create_app(settings)``; state lives on ``app.state``, never in globals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from embodied_ai_architect import __version__
from embodied_ai_architect.api.errors import install_error_handlers
from embodied_ai_architect.api.limits import RequestGuard
from embodied_ai_architect.api.metrics import HttpMetrics, HttpMetricsMiddleware
from embodied_ai_architect.api.routes import (
    admin,
    backups,
    datasets,
    deployments,
    health,
    jobs,
    models,
    reports,
    runs,
    simulation,
    techniques,
    versions,
)
from embodied_ai_architect.api.ws import router as ws_router
from embodied_ai_architect.settings import Settings, get_settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.db import DatabaseLock
from embodied_ai_architect.workers.service import JobService

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, start_workers: bool = True) -> FastAPI:
    """Build the service. The database is migrated and the job supervisor started on startup.

    Example:
        >>> app = create_app(Settings(workspace=Path("/tmp/ws")))  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    settings = settings or get_settings()
    db = Database.from_settings(settings)
    service = JobService(db=db, settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Held (shared) while serving: `branes db restore` refuses to swap the file under us.
        lock = (
            DatabaseLock(Path(db.engine.url.database))
            if db.is_sqlite and db.engine.url.database
            else None
        )
        if lock is not None:
            lock.acquire(exclusive=False, purpose="serve the API")
        db.upgrade()
        if start_workers:
            service.start()
        log.info("serving workspace %s with %d worker(s)", settings.workspace, settings.workers)
        try:
            yield
        finally:
            if start_workers:
                service.stop()
            db.dispose()
            if lock is not None:
                lock.release()

    app = FastAPI(
        title="Embodied AI Architect",
        version=__version__,
        description="Upload robotics / embodied-AI models, analyze, optimize and deploy them as "
        "jobs, watch progress live, compare runs and roll back versions.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.service = service
    app.state.http_metrics = HttpMetrics()
    # Auth and size checks run before any body byte is read (api/limits.py). Added first, so
    # it sits inside the metrics middleware, whose task group would wrap its HTTP errors.
    app.add_middleware(RequestGuard, settings=settings)
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.http_metrics)
    install_error_handlers(app)
    routers = (
        health,
        models,
        datasets,
        versions,
        jobs,
        reports,
        runs,
        deployments,
        admin,
        backups,
        simulation,
        techniques,
    )
    for module in routers:
        app.include_router(module.router)
    app.include_router(ws_router)
    _mount_dashboard(app)
    _document_optional_read_auth(app, public=settings.public_reads)
    return app


def _document_optional_read_auth(app: FastAPI, *, public: bool) -> None:
    """With public reads, a GET's bearer token is optional: say so in OpenAPI (``{}``)."""
    if not public:
        return
    from typing import Any

    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for operations in spec.get("paths", {}).values():
                get = operations.get("get")
                if get and get.get("security"):
                    get["security"] = [{}, *get["security"]]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_dashboard(app: FastAPI) -> None:
    if not (WEB_DIR / "index.html").is_file():
        return
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")
