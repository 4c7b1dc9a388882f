"""REST behaviour against the live server: validation, auth, errors, versions, metrics."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from .live import ANALYZE_FAST, TOKEN, LiveServer, tiny_onnx_bytes, upload, wait_job

ERROR_KEYS = {"code", "message", "hint", "details"}


def test_mutations_need_the_token_reads_do_not(server: LiveServer) -> None:
    with server.client(auth=False) as anonymous:
        response = anonymous.post("/api/v1/models", params={"filename": "a.onnx"}, content=b"x")
        assert response.status_code == 401 and set(response.json()) == ERROR_KEYS
        assert response.json()["code"] == "unauthorized"
        wrong = anonymous.post(
            "/api/v1/jobs",
            json={"kind": "analyze", "example": "cnn"},
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong.status_code == 401
        assert anonymous.get("/api/v1/models").status_code == 200
        assert anonymous.get("/api/v1/jobs").status_code == 200


def test_upload_refuses_non_models_and_keeps_nothing(server: LiveServer) -> None:
    uploads = server.workspace / "runs" / "uploads"
    before = set(uploads.iterdir()) if uploads.exists() else set()
    with server.client() as client:
        response = client.post(
            "/api/v1/models", params={"filename": "notes.onnx"}, content=b"hello, I am text"
        )
        body = response.json()
        assert response.status_code == 422 and set(body) == ERROR_KEYS
        assert body["code"] == "model_format" and "notes.onnx" in body["message"] and body["hint"]
        empty = client.post("/api/v1/models", params={"filename": "e.onnx"}, content=b"")
        assert empty.status_code == 422
    after = set(uploads.iterdir()) if uploads.exists() else set()
    assert after == before


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.onnx", "..\\x.onnx"])
def test_filenames_with_paths_are_refused(server: LiveServer, name: str) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v1/models", params={"filename": name}, content=tiny_onnx_bytes()
        )
        assert response.status_code == 422 and response.json()["code"] == "validation_error"


def test_upload_is_content_addressed_and_never_uses_the_name(server: LiveServer) -> None:
    data = tiny_onnx_bytes(seed=7)
    with server.client() as client:
        model = upload(client, data, name="my model..onnx")
    digest = hashlib.sha256(data).hexdigest()
    assert model["sha256"] == digest and model["name"] == "my model..onnx"
    assert (server.workspace / "runs" / "uploads" / f"{digest}.onnx").read_bytes() == data


def test_oversized_upload_is_refused_before_the_body_is_read(server: LiveServer) -> None:
    """Declare more than the 8 GiB default limit and send no body: the answer comes at once."""
    import json
    import socket

    request = (
        "POST /api/v1/models?filename=big.onnx HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {9 * 1024**3}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode())
        sock.settimeout(10)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["code"] == "payload_too_large"


def test_not_found_and_validation_share_the_error_body(server: LiveServer) -> None:
    with server.client() as client:
        for response, status, code in [
            (client.get("/api/v1/models/999999"), 404, "not_found"),
            (client.get(f"/api/v1/jobs/{'f' * 32}"), 404, "not_found"),
            (client.get("/api/v1/jobs/not-hex"), 422, "validation_error"),
            (client.get("/api/v1/jobs", params={"limit": 0}), 422, "validation_error"),
            (client.post("/api/v1/jobs", json={"kind": "teleport"}), 422, "validation_error"),
            (
                client.post(
                    "/api/v1/jobs",
                    json={"kind": "optimize", "model_id": 1, "constraints": {"max_size_mb": -1}},
                ),
                422,
                None,
            ),
            (client.get("/nowhere"), 404, "not_found"),
        ]:
            assert response.status_code == status, response.text
            body = response.json()
            assert set(body) == ERROR_KEYS, body
            assert code is None or body["code"] == code
            assert "Traceback" not in response.text


def test_submit_validates_before_queueing(server: LiveServer) -> None:
    with server.client() as client:
        before = client.get("/api/v1/jobs").json()["count"]
        missing = client.post("/api/v1/jobs", json={**ANALYZE_FAST, "model_id": 424242})
        assert missing.status_code == 404
        both = client.post("/api/v1/jobs", json={"kind": "analyze"})
        assert both.status_code == 422 and both.json()["hint"]
        assert client.get("/api/v1/jobs").json()["count"] == before


def test_versions_restore_and_download(server: LiveServer) -> None:
    data = tiny_onnx_bytes(seed=3)
    with server.client() as client:
        model = upload(client, data)
        versions = client.get(f"/api/v1/models/{model['id']}/versions").json()
        assert versions["count"] == 1 and versions["data"][0]["version"] == 0
        restored = client.post(f"/api/v1/models/{model['id']}/versions/0/restore")
        assert restored.status_code == 201
        assert restored.json()["version"] == 1 and restored.json()["technique"] == "restore"
        artifact = client.get(f"/api/v1/models/{model['id']}/versions/1/artifact")
        assert artifact.status_code == 200 and artifact.content == data
        assert "attachment" in artifact.headers["content-disposition"]
        assert client.get(f"/api/v1/models/{model['id']}/versions/9/artifact").status_code == 404
        deleted = client.delete(f"/api/v1/models/{model['id']}")
        assert deleted.status_code == 200
        assert client.get(f"/api/v1/models/{model['id']}").status_code == 404


def test_jobs_list_filters_cancel_and_metrics(server: LiveServer) -> None:
    with server.client() as client:
        model = upload(client, tiny_onnx_bytes(seed=5))
        job_id = client.post("/api/v1/jobs", json={**ANALYZE_FAST, "model_id": model["id"]}).json()[
            "job_id"
        ]
        cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409 and again.json()["code"] == "job_error"
        no_result = client.get(f"/api/v1/jobs/{job_id}/result")
        assert no_result.status_code == 409
        listed = client.get("/api/v1/jobs", params={"status": "cancelled", "limit": 1}).json()
        assert listed["count"] >= 1 and len(listed["data"]) == 1
        assert all(j["status"] == "cancelled" for j in listed["data"])
        by_model = client.get("/api/v1/jobs", params={"model_id": model["id"]}).json()
        assert [j["id"] for j in by_model["data"]] == [job_id]
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith(
            "text/plain"
        )
        text = metrics.text
        assert 'eaa_jobs{status="cancelled"}' in text
        assert "eaa_http_request_duration_seconds_bucket" in text


def test_deployment_targets_report_availability(server: LiveServer) -> None:
    with server.client() as client:
        targets = client.get("/api/v1/deployments/targets").json()
    names = {t["name"]: t for t in targets["data"]}
    assert names["onnxruntime"]["available"] is True
    assert names["jetson"]["available"] is False and names["jetson"]["reason"]


def test_openapi_is_strictly_typed(server: LiveServer) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if status.startswith(("4", "5")):
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (
                        path,
                        method,
                        status,
                    )
                elif schema is not None:
                    assert schema != {} and "additionalProperties" not in schema, (path, method)


def test_full_job_status_fields(server: LiveServer) -> None:
    with server.client() as client:
        model = upload(client, tiny_onnx_bytes(seed=11))
        job_id = client.post(
            "/api/v1/jobs", json={**ANALYZE_FAST, "model_id": model["id"], "measure_latency": False}
        ).json()["job_id"]
        done = wait_job(client, job_id, {"succeeded", "failed"})
    assert done["status"] == "succeeded" and done["progress"] == 100
    assert done["worker_pid"] and done["duration_s"] >= 0 and done["request"]["kind"] == "analyze"
