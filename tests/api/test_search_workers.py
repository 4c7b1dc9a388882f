"""``search_workers`` on a REST optimize job: validated at submit (1..the server's CPUs with
local workers), stored with the job, and handed to the library request like --search-workers."""

from __future__ import annotations

import os
from pathlib import Path

from embodied_ai_architect.schemas.job_requests import MAX_SEARCH_WORKERS, parse_job_request
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.workers.requests import build_library_request

from .live import LiveServer, tiny_onnx_bytes, upload

CONSTRAINTS = {"max_size_mb": 100}


def test_search_workers_over_http(server: LiveServer) -> None:
    cpus = os.cpu_count() or 1
    with server.client() as client:
        model_id = upload(client, tiny_onnx_bytes(seed=11), "search-workers.onnx")["id"]
        optimize = {"kind": "optimize", "model_id": model_id, "constraints": CONSTRAINTS}
        before = client.get("/api/v1/jobs").json()["count"]
        for refused, status in [(0, 422), (MAX_SEARCH_WORKERS + 1, 422), (cpus + 1, 422)]:
            response = client.post("/api/v1/jobs", json={**optimize, "search_workers": refused})
            assert response.status_code == status, response.text
            assert "search_workers" in response.text
        too_many = client.post("/api/v1/jobs", json={**optimize, "search_workers": cpus + 1})
        assert too_many.json()["details"]["field"] == "search_workers"
        assert f"{cpus} CPU" in too_many.json()["message"]
        assert client.get("/api/v1/jobs").json()["count"] == before  # nothing queued
        accepted = client.post("/api/v1/jobs", json={**optimize, "search_workers": cpus})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        client.post(f"/api/v1/jobs/{job_id}/cancel")  # only the request matters here
        stored = client.get(f"/api/v1/jobs/{job_id}").json()["request"]
        assert stored["search_workers"] == cpus


def test_search_workers_reach_the_library_request(tmp_path: Path) -> None:
    request = parse_job_request(
        {"kind": "optimize", "model_id": 1, "constraints": CONSTRAINTS, "search_workers": 2}
    )
    built = build_library_request(
        request,
        model_path=tmp_path / "m.onnx",
        job_id="0" * 32,
        settings=Settings(workspace=tmp_path),
    )
    assert built["search_workers"] == 2
    default = parse_job_request({"kind": "optimize", "model_id": 1, "constraints": CONSTRAINTS})
    assert default.search_workers is None  # the server's EAA_SEARCH_WORKERS then applies
