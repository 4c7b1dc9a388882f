"""GET /api/v1/jobs's fast path (api/job_pages.py) serves exactly what the model dump would,
for every filter and page, and never a stale job: after a job starts, progresses, finishes or
loses its model, the next page shows it. Also run on PostgreSQL (tests/store/test_postgres.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from embodied_ai_architect.api.convert import job_public
from embodied_ai_architect.api.job_pages import render_job, render_job_page
from embodied_ai_architect.api.schemas import JobPublic, ListPublic
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.repo import jobs, models

ANALYZE = {"example": "mlp_policy", "measure_latency": False}


@pytest.fixture
def db(isolated_workspace: Path) -> Iterator[Database]:
    database = Database.from_settings(Settings(workspace=isolated_workspace))
    database.upgrade()
    yield database
    database.dispose()


def _expected(db: Database, **query: Any) -> bytes:
    with db.session() as session:
        rows, count = jobs.list_job_summaries(session, **query)
        page = ListPublic[JobPublic](data=[job_public(r) for r in rows], count=count)
    return page.model_dump_json().encode()


def _comparable(body: bytes) -> bytes | dict[str, Any]:
    """The bytes, or, when a job is running, the JSON without its running duration (it
    follows the clock between the two renderings)."""
    page = json.loads(body)
    if not any(job["status"] == "running" for job in page["data"]):
        return body
    for job in page["data"]:
        if job["status"] == "running":
            job.pop("duration_s")
    return dict(page)


def _assert_jobs_match(db: Database) -> None:
    with db.session() as session:
        rows, _ = jobs.list_job_summaries(session, limit=100)
        expected = {r.id: job_public(r).model_dump_json().encode() for r in rows}
    for job_id, body in expected.items():
        fast = b'{"data":[' + render_job(db, job_id=job_id) + b'],"count":1}'
        slow = b'{"data":[' + body + b'],"count":1}'
        assert _comparable(fast) == _comparable(slow), job_id


def _assert_pages_match(db: Database) -> None:
    _assert_jobs_match(db)
    for filters in (
        {},
        {"kind": JobKind.ANALYZE},
        {"status": JobStatus.SUCCEEDED},
        {"status": JobStatus.QUEUED, "kind": JobKind.ANALYZE},
    ):
        for offset, limit in ((0, 100), (0, 3), (2, 3), (7, 3), (50, 3)):
            query: dict[str, Any] = {**filters, "offset": offset, "limit": limit}
            fast, slow = render_job_page(db, **query), _expected(db, **query)
            assert _comparable(fast) == _comparable(slow), query


def test_pages_equal_the_model_dump_and_follow_every_change(db: Database) -> None:
    with db.session() as session:
        model = models.create_model(
            session, name="m.onnx", format="onnx", sha256="0" * 64, size_bytes=1, path="p"
        )
        ids = []
        for i in range(8):
            row = jobs.create_job(
                session, kind=JobKind.ANALYZE, request=ANALYZE, model_id=model.id if i < 3 else None
            )
            ids.append(row.id)
            if i % 2 == 0:
                jobs.finish_job(
                    session, job_id=row.id, status=JobStatus.SUCCEEDED, result={"big": [i] * 100}
                )
        jobs.finish_job(
            session,
            job_id=ids[1],
            status=JobStatus.FAILED,
            error={"code": "x", "message": "failed at /srv/ws/runs/a/b.onnx", "hint": "h"},
        )
    _assert_pages_match(db)  # fills the cache
    _assert_pages_match(db)  # served from it
    with db.session() as session:  # every kind of change a cached job can go through
        jobs.mark_running(session, job_id=ids[3], worker_pid=1, executor="local")
        jobs.update_progress(session, job_id=ids[3], percent=40, stage="analysis")
    _assert_pages_match(db)
    with db.session() as session:
        jobs.finish_job(session, job_id=ids[3], status=JobStatus.SUCCEEDED, result={})
        jobs.finish_job(session, job_id=ids[5], status=JobStatus.CANCELLED)
        models.delete_model(session, model_id=model.id)  # its jobs' model_id becomes null
    _assert_pages_match(db)
    page = json.loads(render_job_page(db, limit=100))
    assert page["count"] == 8 and all(j["model_id"] is None for j in page["data"])
    assert "/srv/ws" not in json.dumps(page)  # server paths hidden as before


def test_the_route_serves_the_fast_page(isolated_workspace: Path) -> None:
    from embodied_ai_architect.api.app import create_app

    settings = Settings(workspace=isolated_workspace)
    with TestClient(create_app(settings, start_workers=False)) as client:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        with db.session() as session:
            for _ in range(25):
                jobs.create_job(session, kind=JobKind.ANALYZE, request=ANALYZE)
        response = client.get("/api/v1/jobs", params={"limit": 20, "offset": 3})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == _expected(db, offset=3, limit=20)
        body = response.json()
        assert body["count"] == 25 and len(body["data"]) == 20
        assert client.get("/api/v1/jobs", params={"limit": 0}).status_code == 422
        one = body["data"][0]["id"]
        assert client.get(f"/api/v1/jobs/{one}").json() == body["data"][0]
        missing = client.get("/api/v1/jobs/" + "f" * 32)
        assert missing.status_code == 404 and "does not exist" in missing.json()["message"]
