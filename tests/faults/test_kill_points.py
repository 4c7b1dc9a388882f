"""Kill the worker or the server at seeded random points of an optimize job, then check that
no model version is lost or duplicated and that the job ends in the right state.

Slow (one optimize job per point, plus a server restart after each server kill):
``EAA_FAULT_POINTS`` sets the number of points (20 by default, as the issue asks).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

# tests/ is on sys.path (pytest's rootdir-based import of the packages under it).
from api.live import LiveServer, tiny_onnx_bytes, upload, wait_job

pytestmark = pytest.mark.slow

OPTIMIZE = {
    "kind": "optimize",
    "constraints": {"max_accuracy_drop": 1},
    "latency_runs": 10,
    "max_eval_samples": 64,
}
TERMINAL = {"succeeded", "failed", "cancelled", "interrupted"}


def check_store(workspace: Path) -> dict[str, Any]:
    """Database invariants after a crash: returns the versions by job for the caller."""
    connection = sqlite3.connect(workspace / "branes.db")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        versions = connection.execute(
            "SELECT id, model_id, version, parent_id, technique, config, artifact_path, "
            "artifact_sha256, job_id FROM model_versions ORDER BY model_id, version"
        ).fetchall()
        attempts = connection.execute(
            "SELECT result_version_id FROM attempts WHERE result_version_id IS NOT NULL"
        ).fetchall()
        jobs = dict(connection.execute("SELECT id, status FROM jobs").fetchall())
    finally:
        connection.close()
    by_model: dict[int, list[int]] = {}
    seen: set[tuple[Any, ...]] = set()
    ids = {row[0] for row in versions}
    for _id, model_id, number, parent, technique, config, path, digest, job_id in versions:
        by_model.setdefault(model_id, []).append(number)
        artifact = workspace / path
        assert artifact.is_file(), f"version {model_id}/{number}: artifact {path} is lost"
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == digest
        if job_id is not None:
            key = (job_id, parent, technique, json.dumps(config, sort_keys=True))
            assert key not in seen, f"version {model_id}/{number} duplicates {key}"
            seen.add(key)
    for model_id, numbers in by_model.items():
        assert numbers == list(range(len(numbers))), f"model {model_id}: versions {numbers}"
    assert all(row[0] in ids for row in attempts), "an attempt points at a lost version"
    return jobs


def worker_pid(client: Any, job_id: str, timeout: float = 120) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        if body["status"] == "running" and body["worker_pid"]:
            return int(body["worker_pid"])
        if body["status"] in TERMINAL:
            return None
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never started")


def test_kills_at_seeded_points_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    points = int(os.environ.get("EAA_FAULT_POINTS", "20"))
    workspace = tmp_path / "workspace"
    server = LiveServer(workspace, workers=1).start()
    try:
        with server.client() as client:
            model_id = upload(client, tiny_onnx_bytes(seed=5), name="faults.onnx")["id"]
            started = time.monotonic()
            baseline = client.post("/api/v1/jobs", json={**OPTIMIZE, "model_id": model_id})
            done = wait_job(client, baseline.json()["job_id"], TERMINAL, timeout=600)
            assert done["status"] == "succeeded", done
            duration = time.monotonic() - started
        check_store(workspace)
        for seed in range(points):
            rng = random.Random(seed)
            victim = rng.choice(["worker", "server"])
            delay = rng.uniform(0.0, duration)
            with server.client() as client:
                job_id = client.post(
                    "/api/v1/jobs", json={**OPTIMIZE, "model_id": model_id}
                ).json()["job_id"]
                pid = worker_pid(client, job_id)
                time.sleep(delay)
                if victim == "worker":
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):  # it finished first
                            os.kill(pid, signal.SIGKILL)
                    final = wait_job(client, job_id, TERMINAL, timeout=600)
                    assert final["status"] in {"failed", "succeeded"}, (seed, final)
                    if final["status"] == "failed":
                        assert final["error"]["code"] == "worker_died", (seed, final)
            if victim == "server":
                server.stop(kill=True)
                server = LiveServer(workspace, workers=1).start()
                with server.client() as client:
                    final = wait_job(client, job_id, TERMINAL, timeout=600)
                assert final["status"] in {"interrupted", "succeeded", "failed"}, (seed, final)
                if final["status"] == "failed":
                    # The worker can die with the server before the server records anything.
                    assert final["error"]["code"] in {"worker_died", "job_interrupted"}, final
            jobs = check_store(workspace)
            assert not {status for status in jobs.values()} & {"running", "queued"}, (seed, jobs)
    finally:
        server.stop(kill=True)
