"""What one ``POST /api/v1/jobs`` costs the server, in statements and renderings: submits run
beside hundreds of reads per second on the same cores (issue 17, docs/benchmarks.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from embodied_ai_architect.api import job_pages
from embodied_ai_architect.api.app import create_app
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database

from .live import tiny_onnx_bytes

ANALYZE = {"kind": "analyze", "measure_latency": False, "sensitivity_top_k": 0}


@pytest.fixture
def client(isolated_workspace: Path) -> Iterator[TestClient]:
    # No job supervisor: submitted jobs stay queued, so only the submit's own work is seen.
    app = create_app(Settings(workspace=isolated_workspace), start_workers=False)
    with TestClient(app) as test_client:
        yield test_client


def _model(client: TestClient) -> int:
    uploaded = client.post(
        "/api/v1/models",
        params={"filename": "tiny.onnx"},
        content=tiny_onnx_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    model_id: int = uploaded.json()["id"]
    return model_id


def _statements(db: Database) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))  # (conn, cursor, statement, ...)

    event.listen(db.engine, "before_cursor_execute", record)
    return seen


def test_a_submit_is_one_lookup_and_one_insert(client: TestClient) -> None:
    body = {**ANALYZE, "model_id": _model(client)}
    assert client.post("/api/v1/jobs", json=body).status_code == 202  # pool warmed up
    statements = _statements(client.app.state.db)  # type: ignore[attr-defined]
    submitted = client.post("/api/v1/jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    assert len(statements) == 2, statements
    lookup, queued = statements
    assert lookup.startswith("SELECT") and "LEFT OUTER JOIN model_versions" in lookup
    assert queued.startswith("INSERT INTO jobs")
    job = client.get(f"/api/v1/jobs/{submitted.json()['job_id']}").json()
    assert job["status"] == "queued" and job["model_id"] == body["model_id"]
    assert job["kind"] == "analyze" and job["created_at"]


def test_missing_models_and_versions_are_refused_as_before(client: TestClient) -> None:
    model_id = _model(client)
    unknown = client.post("/api/v1/jobs", json={**ANALYZE, "model_id": model_id + 1})
    assert unknown.status_code == 404
    assert unknown.json()["message"] == f"model {model_id + 1} does not exist"
    version = client.post("/api/v1/jobs", json={**ANALYZE, "model_id": model_id, "version": 7})
    assert version.status_code == 404
    assert version.json()["message"] == f"model version '{model_id}/v7' does not exist"
    first = client.post("/api/v1/jobs", json={**ANALYZE, "model_id": model_id, "version": 0})
    assert first.status_code == 202, first.text


def test_a_new_job_leaves_the_other_rendered_jobs_cached(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**ANALYZE, "model_id": _model(client)}
    for _ in range(20):
        assert client.post("/api/v1/jobs", json=body).status_code == 202
    first = client.get("/api/v1/jobs", params={"limit": 20}).json()
    rendered: list[str] = []
    real = job_pages.job_public

    def counting(summary: Any) -> Any:
        rendered.append(summary.id)
        return real(summary)

    monkeypatch.setattr(job_pages, "job_public", counting)
    new = client.post("/api/v1/jobs", json=body).json()["job_id"]
    page = client.get("/api/v1/jobs", params={"limit": 20}).json()
    assert rendered == [new]  # only the new head of the list; the other 19 came from cache
    assert [job["id"] for job in page["data"]] == [new] + [j["id"] for j in first["data"][:19]]
    assert page["count"] == 21 and json.dumps(page["data"][1]) == json.dumps(first["data"][0])
