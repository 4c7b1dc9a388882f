"""Crash safety with a real server: a killed worker fails its job with a reason and leaves the
database consistent; a killed server interrupts running jobs and resumes the queue."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from .live import ANALYZE_FAST, LiveServer, tiny_onnx_bytes, upload, wait_job

SLOW_ANALYZE = {**ANALYZE_FAST, "runs": 10_000, "max_latency_seconds": 60}


def slow_model_bytes() -> bytes:
    """An MLP heavy enough (~1 ms a run) that SLOW_ANALYZE's 10,000 timed runs take over 10 s
    even on an idle machine, so a kill always lands mid-job (a tiny model finished first)."""
    return tiny_onnx_bytes(inputs=1024, hidden=4096, outputs=1024)


def wait_running(client, job_id: str, timeout: float = 60) -> dict:  # type: ignore[no-untyped-def, type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        if body["status"] == "running" and body["worker_pid"]:
            return dict(body)
        assert body["status"] == "queued", body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never started")


def db_state(workspace: Path) -> tuple[str, list[tuple[str, str]]]:
    connection = sqlite3.connect(workspace / "branes.db")
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        rows = connection.execute("SELECT id, status FROM jobs").fetchall()
    finally:
        connection.close()
    return integrity, rows


def test_killed_worker_and_killed_server(fresh_workspace: Path) -> None:
    server = LiveServer(fresh_workspace, workers=1).start()
    try:
        with server.client() as client:
            model = upload(client, slow_model_bytes())
            job_id = client.post(
                "/api/v1/jobs", json={**SLOW_ANALYZE, "model_id": model["id"]}
            ).json()["job_id"]
            running = wait_running(client, job_id)
            time.sleep(1.0)  # let it get into its work
            os.kill(running["worker_pid"], signal.SIGKILL)
            failed = wait_job(client, job_id, {"failed", "succeeded"}, timeout=30)
            assert failed["status"] == "failed"
            assert failed["error"]["code"] == "worker_died"
            assert "SIGKILL" in failed["error"]["message"] and failed["error"]["hint"]
            integrity, rows = db_state(fresh_workspace)
            assert integrity == "ok" and ("running" not in {status for _, status in rows})
            events = client.get(f"/api/v1/jobs/{job_id}/events").json()["data"]
            assert [e["seq"] for e in events] == list(range(len(events)))
            assert client.get("/health").json()["status"] == "ok"

            # Now a long job runs and two wait; the server dies hard (SIGKILL).
            long_id = client.post(
                "/api/v1/jobs", json={**SLOW_ANALYZE, "model_id": model["id"]}
            ).json()["job_id"]
            quick = {**ANALYZE_FAST, "model_id": model["id"], "measure_latency": False}
            queued_ids = [
                client.post("/api/v1/jobs", json=quick).json()["job_id"] for _ in range(2)
            ]
            wait_running(client, long_id)
        server.stop(kill=True)
        integrity, rows = db_state(fresh_workspace)
        assert integrity == "ok"
        assert dict(rows)[long_id] == "running"  # what a crash leaves behind ...

        restarted = LiveServer(fresh_workspace, workers=1).start()  # ... and what a restart fixes
        try:
            with restarted.client() as client:
                interrupted = client.get(f"/api/v1/jobs/{long_id}").json()
                assert interrupted["status"] == "interrupted"
                assert interrupted["error"]["code"] == "job_interrupted"
                for queued_id in queued_ids:
                    done = wait_job(client, queued_id, {"succeeded", "failed"}, timeout=120)
                    assert done["status"] == "succeeded", done
        finally:
            restarted.stop()
        _, rows = db_state(fresh_workspace)
        assert {status for _, status in rows} <= {"failed", "succeeded", "interrupted"}
    finally:
        server.stop(kill=True)
