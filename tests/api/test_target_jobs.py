"""`--target` over REST: an optimize job for a named target ends in its deployment record."""

from __future__ import annotations

from .live import LiveServer, tiny_onnx_bytes, upload, wait_job


def test_optimize_job_for_a_target_is_packaged_and_validated(server: LiveServer) -> None:
    with server.client() as client:
        model = upload(client, tiny_onnx_bytes(seed=57), name="target.onnx")
        submitted = client.post(
            "/api/v1/jobs",
            json={
                "kind": "optimize",
                "model_id": model["id"],
                "constraints": {"max_size_mb": 1, "target": "onnxruntime"},
                "latency_runs": 5,
                "max_eval_samples": 32,
            },
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        job = wait_job(client, job_id, {"succeeded", "failed"}, timeout=300)
        assert job["status"] == "succeeded", job
        report = client.get(f"/api/v1/jobs/{job_id}/result").json()["optimize"]
        deployment = report["deployment"]
        assert deployment["success"] and deployment["target"] == "onnxruntime"
        assert deployment["artifact"]["format"] == "onnx"
        assert deployment["validation"]["passed"]
        assert deployment["artifact"]["details"]["version"] == report["best"]["id"]
        # Only ONNX Runtime techniques were tried for an onnxruntime target.
        assert all(
            not a["technique"].startswith(("openvino", "tflite", "tensorrt"))
            for a in report["attempts"]
        )
