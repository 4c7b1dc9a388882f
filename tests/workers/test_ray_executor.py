"""Jobs on a real Ray head started by this module (loopback, 2 CPUs, no dashboard).

The default run sends one optimize job end to end through a real `branes serve` that joins
this head with EAA_EXECUTOR=ray / EAA_RAY_ADDRESS, watched over its WebSocket. The slow tests
kill the Ray worker mid-job: an analyze job is retried once and succeeds, an optimize job is
never retried and fails with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.models import JobRow
from embodied_ai_architect.store.repo import events, jobs
from embodied_ai_architect.workers.service import JobService

from . import job_bodies

ray = pytest.importorskip("ray")

TESTS_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS_DIR))  # tests/api/live.py: the real-server helpers

from api.live import LiveServer, tiny_onnx_bytes, upload, wait_job  # noqa: E402
from s3_server import TEST_CREDENTIALS, create_bucket, moto_server  # noqa: E402


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A local Ray head; its workers can import the test job bodies and reach moto's S3."""
    with pytest.MonkeyPatch.context() as patch:
        # Workers inherit the head's environment: S3 credentials as a real node would have
        # them (boto3's usual chain), here moto's test ones.
        for name, value in TEST_CREDENTIALS.items():
            patch.setenv(name, value)
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=100 * 1024**2,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(TESTS_DIR)}},
        )
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def _job(db: Database, job_id: str) -> JobRow:
    with db.session() as session:
        return jobs.get_job(session, job_id=job_id)


def _wait(db: Database, job_id: str, predicate: Any, timeout: float = 120) -> JobRow:
    deadline = time.monotonic() + timeout
    row = _job(db, job_id)
    while time.monotonic() < deadline:
        row = _job(db, job_id)
        if predicate(row):
            return row
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck: {row.status} {row.error}")


def test_optimize_job_runs_on_ray_through_the_service(ray_head: str, tmp_path: Path) -> None:
    from websockets.sync.client import connect

    server = LiveServer(
        tmp_path / "workspace",
        workers=1,
        env={"EAA_EXECUTOR": "ray", "EAA_RAY_ADDRESS": ray_head},
    ).start(timeout=120)
    try:
        with server.client() as client:
            model = upload(client, tiny_onnx_bytes(seed=7), name="policy.onnx")
            request = {
                "kind": "optimize",
                "model_id": model["id"],
                "constraints": {"max_accuracy_drop": 1},
                "latency_runs": 5,
                "max_eval_samples": 16,
            }
            submitted = client.post("/api/v1/jobs", json=request)
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["job_id"]
            live: list[dict[str, Any]] = []
            with connect(f"{server.ws_url}/ws/jobs/{job_id}", open_timeout=10) as ws:
                while not live or live[-1]["type"] != "final":
                    live.append(json.loads(ws.recv(timeout=300)))
            final = live[-1]
            assert final["job"]["status"] == "succeeded", final["job"]["error"]
            streamed = [m for m in live if m["type"] == "event"]
            assert [m["seq"] for m in streamed] == list(range(len(streamed)))
            assert streamed[-1]["event"]["percent"] == 100

            job = client.get(f"/api/v1/jobs/{job_id}").json()
            assert job["executor"] == "ray"
            assert "ray node" in job["worker_node"] and "ray worker" in job["worker_id"]
            # The server's own process never ran the job: a Ray worker did.
            assert f"pid {server.process.pid if server.process else -1}" not in job["worker_id"]

            report = final["result"]["optimize"]
            assert report["run_id"] == job_id and report["status"] == "succeeded"
            versions = client.get(f"/api/v1/models/{model['id']}/versions").json()["data"]
            numbers = sorted(v["version"] for v in versions)
            assert numbers == list(range(len(report["versions"])))  # no version twice
            stored = client.get(f"/api/v1/jobs/{job_id}/events").json()["data"]
            assert [e["seq"] for e in stored] == [m["seq"] for m in streamed]
    finally:
        server.stop()


def test_ray_worker_on_its_own_disk_moves_artifacts_through_s3(
    ray_head: str, tmp_path: Path
) -> None:
    """A worker "node" whose workspace is not the server's: it downloads the uploaded model
    from the bucket by hash, uploads every version it commits, and the server serves a version
    it never wrote by fetching it from the bucket."""
    import hashlib

    import boto3

    bucket, prefix = "eaa-artifacts", "branes-artifacts/"
    node = tmp_path / "worker-node"
    with moto_server(tmp_path / "moto.log") as endpoint:
        create_bucket(endpoint, bucket)
        s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
        server = LiveServer(
            tmp_path / "workspace",
            workers=1,
            env={
                "EAA_EXECUTOR": "ray",
                "EAA_RAY_ADDRESS": ray_head,
                "EAA_ARTIFACT_S3_BUCKET": bucket,
                "EAA_ARTIFACT_S3_ENDPOINT": endpoint,
                "EAA_RAY_WORKER_WORKSPACE": str(node),
                **TEST_CREDENTIALS,
            },
        ).start(timeout=120)
        try:
            with server.client() as client:
                data = tiny_onnx_bytes(seed=11)
                model = upload(client, data, name="policy.onnx")
                uploaded = f"runs/uploads/{hashlib.sha256(data).hexdigest()}.onnx"
                stored = s3.get_object(Bucket=bucket, Key=prefix + uploaded)["Body"].read()
                assert stored == data  # in the bucket before the upload was answered
                request = {
                    "kind": "optimize",
                    "model_id": model["id"],
                    "constraints": {"max_accuracy_drop": 1},
                    "latency_runs": 5,
                    "max_eval_samples": 16,
                }
                submitted = client.post("/api/v1/jobs", json=request)
                assert submitted.status_code == 202, submitted.text
                job_id = submitted.json()["job_id"]
                job = wait_job(client, job_id, {"succeeded", "failed"}, timeout=300)
                assert job["status"] == "succeeded", job["error"]
                assert job["executor"] == "ray"

                # The worker read the model from its own disk, fetched from the bucket by hash.
                assert (node / uploaded).read_bytes() == data
                versions = client.get(f"/api/v1/models/{model['id']}/versions").json()["data"]
                report = client.get(f"/api/v1/jobs/{job_id}/result").json()["optimize"]
                assert len(versions) == len(report["versions"])
                # Every artifact the job stored (its packed baseline, each accepted version) is
                # in the bucket and on the worker's disk, and none on the server's.
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}runs/{job_id}/")
                names = {o["Key"].rsplit("/", 1)[-1] for o in listed.get("Contents", [])}
                on_node = {p.name for p in (node / "runs" / job_id).iterdir() if p.is_file()}
                assert names and names == on_node  # (the run's report folder stays on the node)
                for version in versions[1:]:  # derived versions, when the search accepted any
                    assert any(n.startswith(version["artifact_sha256"]) for n in names), names
                server_runs = tmp_path / "workspace" / "runs" / job_id
                assert not server_runs.exists() or not any(server_runs.iterdir())
                # The server serves what only the bucket holds: fetched by hash, sha256 checked.
                (tmp_path / "workspace" / uploaded).unlink()
                for version in (versions[0], versions[-1]):
                    served = client.get(
                        f"/api/v1/models/{model['id']}/versions/{version['version']}/artifact"
                    )
                    assert served.status_code == 200, served.text
                    assert hashlib.sha256(served.content).hexdigest() == version["artifact_sha256"]
        finally:
            server.stop()


def _boto_credentials() -> dict[str, str]:
    return {
        "region_name": TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
        "aws_access_key_id": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


# --- a lost worker -------------------------------------------------------------------------


def _service(db: Database, workspace: Path, marker: Path) -> JobService:
    from embodied_ai_architect.workers.ray_executor import RayExecutor

    body = f"{job_bodies.__name__}:sleep_until_marked"
    return JobService(
        db=db,
        settings=Settings(workspace=workspace, workers=2),
        executor=RayExecutor(2, max_retries=1),
        handlers={kind: body for kind in JobKind},
        prepare=lambda kind, request, **_: {**request, "marker": str(marker)},
        poll_interval_s=0.05,
    )


def _kill_worker(row: JobRow) -> int:
    assert row.worker_id is not None
    pid = int(row.worker_id.rsplit("pid ", 1)[1])
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.slow
@pytest.mark.parametrize("kind", [JobKind.ANALYZE, JobKind.OPTIMIZE])
def test_lost_ray_worker_retries_analyze_and_fails_optimize(
    ray_head: str, isolated_workspace: Path, tmp_path: Path, kind: JobKind
) -> None:
    del ray_head
    db = Database.from_settings(Settings(workspace=isolated_workspace))
    db.upgrade()
    marker = tmp_path / "attempts.txt"
    service = _service(db, isolated_workspace, marker)
    service.start()
    try:
        job_id = service.submit(kind=kind, request={"seconds": 120}).id
        first = _wait(db, job_id, lambda r: r.worker_id is not None and marker.exists())
        assert first.executor == "ray" and first.status is JobStatus.RUNNING
        killed = _kill_worker(first)
        done = _wait(db, job_id, lambda r: r.status.terminal, timeout=180)
        attempts = marker.read_text().splitlines()
        if kind is JobKind.ANALYZE:
            # Retried once on a fresh worker; the retry sees the marker and finishes.
            assert done.status is JobStatus.SUCCEEDED, done.error
            assert len(attempts) == 2 and done.worker_id != first.worker_id
            assert f"pid {killed}" not in (done.worker_id or "")
        else:
            # Optimize commits versions as it goes: never run twice, fails with the reason.
            assert done.status is JobStatus.FAILED
            assert done.error is not None and done.error["code"] == "worker_died"
            assert "Ray worker running this job was lost" in done.error["message"]
            assert "not retried" in done.error["message"]
            assert len(attempts) == 1
        with db.session() as session:
            stored = events.list_events(session, job_id=job_id)
        assert [e.seq for e in stored] == list(range(len(stored)))
    finally:
        service.stop()
        db.dispose()
