"""Prometheus text exposition: jobs by state, job durations, HTTP requests and latencies."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from embodied_ai_architect.schemas.jobs import JobStatus
from embodied_ai_architect.store.models import JobRow
from embodied_ai_architect.utils.prometheus import Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, float("inf"))


class HttpMetrics:
    """Per-route request counts and latency histograms (route template, not raw path)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency = Histogram(
            "eaa_http_request_duration_seconds",
            "HTTP request latency.",
            ("method", "route"),
            LATENCY_BUCKETS,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The same measurement as :class:`HttpMetricsMiddleware`, as an ``@app.middleware``."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        self.observe(request.method, path, response.status_code, time.perf_counter() - started)
        return response

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
        self._latency.observe((method, route), seconds)

    def render(self) -> list[str]:
        lines = [
            "# HELP eaa_http_requests_total HTTP requests by method, route and status.",
            "# TYPE eaa_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), count in sorted(self._requests.items()):
                lines.append(
                    f'eaa_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}'
                )
        return lines + self._latency.render()


class HttpMetricsMiddleware:
    """Pure ASGI middleware feeding :class:`HttpMetrics`.

    Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) runs every request in an
    extra task with memory streams between the layers; this only watches ``send``.
    """

    def __init__(self, app: Any, metrics: HttpMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # what the client sees when the app raises before answering

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], path, status[0], time.perf_counter() - started)


def job_state_lines(session: Session) -> list[str]:
    counts = dict(
        session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
    )
    lines = ["# HELP eaa_jobs Jobs by state.", "# TYPE eaa_jobs gauge"]
    for status in JobStatus:
        lines.append(f'eaa_jobs{{status="{status.value}"}} {counts.get(status, 0)}')
    return lines
