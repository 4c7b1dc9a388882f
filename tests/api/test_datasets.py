"""Data uploads (POST /api/v1/datasets) and jobs that reference them by id; rendered episodes
(rollout jobs) served by GET /api/v1/sim/episodes/{id}."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embodied_ai_architect.data.uploads import check_data_file
from embodied_ai_architect.errors import InputError

from .live import LiveServer, tiny_onnx_bytes, upload, wait_job


def npz_bytes(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def post_data(client: Any, data: bytes, name: str) -> Any:
    return client.post(
        "/api/v1/datasets",
        params={"filename": name},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 16)).astype("float32")
Y = RNG.integers(0, 4, 24)

BAD: dict[str, tuple[bytes, str]] = {
    "pickled object array": (
        npy_bytes(np.array([{"a": 1}], dtype=object), allow_pickle=True),
        "objects",
    ),
    "not numpy": (b"hello, this is text\n" * 10, "neither"),
    "strings": (npz_bytes(x=np.array(["a", "b"])), "only numeric"),
    "sample counts differ": (npz_bytes(x=X, y=Y[:5]), "different sample counts"),
    "scalar": (npy_bytes(np.float32(1.0)), "rank 0"),
    "empty": (npz_bytes(x=np.zeros((0, 16), "float32")), "no samples"),
    "truncated": (npz_bytes(x=X)[:200], "npz"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_files_are_refused_and_not_kept(case: str, server: LiveServer) -> None:
    data, words = BAD[case]
    with server.client() as client:
        before = client.get("/api/v1/datasets").json()["count"]
        response = post_data(client, data, "bad.npz")
        assert response.status_code == 422, response.text
        body = response.json()
        assert words in body["message"] and body["hint"] and body["details"]["field"] == "file"
        assert client.get("/api/v1/datasets").json()["count"] == before
    leftovers = list((server.workspace / "runs" / "datasets").glob("*"))
    assert all(p.suffix in {".npz", ".npy"} for p in leftovers), leftovers


def test_memory_size_limit_is_read_from_the_headers(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    # Compresses to a few kB, expands to 8 MB: refused before an array is loaded.
    np.savez_compressed(path, x=np.zeros((1000, 2000), "float32"))
    with pytest.raises(InputError, match="over the limit"):
        check_data_file(path, max_bytes=1_000_000)


def test_upload_list_get_delete(server: LiveServer) -> None:
    with server.client() as client:
        response = post_data(client, npz_bytes(x=X, y=Y), "eval.npz")
        assert response.status_code == 201, response.text
        labelled = response.json()
        assert labelled["format"] == "npz" and labelled["samples"] == 24 and labelled["labelled"]
        assert {a["name"]: a["shape"] for a in labelled["arrays"]} == {"x": [24, 16], "y": [24]}
        inputs = post_data(client, npy_bytes(X), "calib.npy").json()
        assert inputs["format"] == "npy" and not inputs["labelled"]
        listed = client.get("/api/v1/datasets").json()
        assert [d["id"] for d in listed["data"][:2]] == [inputs["id"], labelled["id"]]
        assert client.get(f"/api/v1/datasets/{labelled['id']}").json()["name"] == "eval.npz"
        assert post_data(client, npy_bytes(X), "again.npy").status_code == 201  # same bytes
        assert client.delete(f"/api/v1/datasets/{inputs['id']}").status_code == 200
        assert client.get(f"/api/v1/datasets/{inputs['id']}").status_code == 404
        # The identical upload still has its (shared, content-addressed) file.
        assert len(list((server.workspace / "runs" / "datasets").glob("*.npy"))) == 1
    with server.client(auth=False) as anonymous:
        assert post_data(anonymous, npy_bytes(X), "x.npy").status_code == 401


def test_optimize_references_uploaded_data_by_id(server: LiveServer) -> None:
    with server.client() as client:
        model_id = upload(client, tiny_onnx_bytes(seed=41), name="data.onnx")["id"]
        data = post_data(client, npz_bytes(x=X, y=Y), "eval.npz").json()
        calib = post_data(client, npy_bytes(X[:8]), "calib.npy").json()
        body = {
            "kind": "optimize",
            "model_id": model_id,
            "constraints": {"max_accuracy_drop": 5, "budget": {"max_attempts": 1}},
            "latency_runs": 5,
            "max_eval_samples": 24,
        }
        unknown = client.post("/api/v1/jobs", json={**body, "eval_data_id": 987_654})
        assert unknown.status_code == 422
        assert unknown.json()["details"]["field"] == "eval_data_id"
        response = client.post(
            "/api/v1/jobs",
            json={**body, "eval_data_id": data["id"], "calibration_data_id": calib["id"]},
        )
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["job_id"], {"succeeded", "failed"}, timeout=300)
        assert job["status"] == "succeeded", job
        assert job["request"]["eval_data_id"] == data["id"]
        report = client.get(f"/api/v1/jobs/{job['id']}/result").json()["optimize"]
        # Labelled data: the baseline's accuracy is measured against y, not fidelity (1.0).
        assert report["request"]["eval_data"].endswith(".npz")
        assert report["request"]["calibration_data"].endswith(".npy")


def test_rollout_job_renders_an_episode(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/api/v1/jobs", json={"kind": "rollout", "max_steps": 12})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = wait_job(client, job_id, {"succeeded", "failed"}, timeout=180)
        assert job["status"] == "succeeded", job
        episode = client.get(f"/api/v1/jobs/{job_id}/result").json()["rollout"]
        assert episode["media_type"] == "image/gif" and episode["frames"] == episode["steps"] + 1
        video = client.get(f"/api/v1/sim/episodes/{job_id}")
        assert video.status_code == 200 and video.headers["content-type"] == "image/gif"
        assert video.content.startswith(b"GIF8")
        from PIL import Image

        with Image.open(io.BytesIO(video.content)) as image:
            assert image.size == (episode["width"], episode["height"])
            assert image.n_frames >= 2
        other = client.get("/api/v1/jobs", params={"limit": 1, "kind": "analyze"}).json()["data"]
        if other:
            assert client.get(f"/api/v1/sim/episodes/{other[0]['id']}").status_code == 404


def test_optimize_takes_training_data_by_id(server: LiveServer) -> None:
    """Training data over HTTP: the dashboard's way to the structural steps (and their live
    loss curves). Unlabelled data is refused at submit, naming the field."""
    with server.client() as client:
        model_id = upload(client, tiny_onnx_bytes(seed=43), name="train.onnx")["id"]
        labelled = post_data(client, npz_bytes(x=X, y=Y), "train.npz").json()
        inputs_only = post_data(client, npy_bytes(X), "inputs.npy").json()
        body = {
            "kind": "optimize",
            "model_id": model_id,
            "constraints": {"max_size_mb": 1, "budget": {"max_attempts": 1}},
            "latency_runs": 5,
            "max_eval_samples": 16,
        }
        refused = client.post("/api/v1/jobs", json={**body, "train_data_id": inputs_only["id"]})
        assert refused.status_code == 422, refused.text
        assert refused.json()["details"]["field"] == "train_data_id"
        accepted = client.post("/api/v1/jobs", json={**body, "train_data_id": labelled["id"]})
        assert accepted.status_code == 202, accepted.text
        job = wait_job(client, accepted.json()["job_id"], {"succeeded", "failed"}, timeout=300)
        assert job["status"] == "succeeded", job
        report = client.get(f"/api/v1/jobs/{job['id']}/result").json()["optimize"]
        assert report["request"]["train_data"].endswith(".npz")
