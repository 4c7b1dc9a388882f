"""The smaller findings of the hardening pass, each against a real server or CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .live import TOKEN, LiveServer, tiny_onnx_bytes, upload, wait_job


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("private") / "workspace",
        workers=1,
        env={"EAA_PUBLIC_READS": "false"},
    ).start()
    yield live
    live.stop()


def test_an_empty_api_token_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "EAA_WORKSPACE": str(tmp_path / "ws"), "EAA_API_TOKEN": ""}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "branes"), "serve", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "EAA_API_TOKEN" in result.stderr and "empty" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("query", ["?token=", "?token=%20", "", "?token=wrong"])
def test_websocket_refuses_empty_or_wrong_tokens_with_private_reads(
    private: LiveServer, query: str
) -> None:
    url = f"{private.ws_url}/ws/jobs/{'0' * 32}{query}"
    with (
        pytest.raises((InvalidStatus, ConnectionError, OSError)) as info,
        connect(url, open_timeout=10) as ws,
    ):
        ws.recv(timeout=10)
    if isinstance(info.value, InvalidStatus):
        assert info.value.response.status_code == 403
    # With the token the same socket opens (and reports the missing job).
    with connect(f"{private.ws_url}/ws/jobs/{'0' * 32}?token={TOKEN}", open_timeout=10) as ws:
        assert '"error"' in ws.recv(timeout=10)


def test_results_show_no_absolute_server_paths(server: LiveServer) -> None:
    with server.client() as client:
        model = upload(client, tiny_onnx_bytes(seed=44), name="paths.onnx")
        response = client.post(
            "/api/v1/jobs",
            json={"kind": "deploy", "model_id": model["id"], "validate_outputs": False},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        assert wait_job(client, job_id, {"succeeded", "failed"})["status"] == "succeeded"
    with server.client(auth=False) as anonymous:
        text = anonymous.get(f"/api/v1/jobs/{job_id}/result").text
    assert str(server.workspace) not in text and '"/' not in text, text[:2000]
    assert f"runs/{job_id}/" in text  # paths stay useful, relative to the workspace


def test_binary_json_body_gets_a_documented_422(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v1/jobs",
            content=bytes(range(256)) * 4,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"
        documented = client.get("/openapi.json").json()["paths"]["/api/v1/jobs"]["post"]
        assert "422" in documented["responses"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/models", "GET, POST"),
        ("/api/v1/models/1", "DELETE, GET"),
        ("/api/v1/jobs", "GET, POST"),
    ],
)
def test_options_names_every_method_of_the_path(
    server: LiveServer, path: str, allowed: str
) -> None:
    with server.client() as client:
        response = client.options(path)
    assert response.status_code == 405 and response.headers["allow"] == allowed


def test_server_paths_are_hidden_in_results_and_errors() -> None:
    from embodied_ai_architect.api.convert import hide_server_paths

    error = {
        "code": "model_load",
        "message": "cannot load '/srv/branes/runs/uploads/ab12.onnx' (see /var/log/x.log)",
        "hint": "see https://example.org/a/b and 1/2 of the docs",
        "details": {"paths": ["/home/u/.local/share/branes/runs/j1/out/model.onnx"]},
    }
    hidden = hide_server_paths(error)
    assert hidden["message"] == "cannot load 'runs/uploads/ab12.onnx' (see x.log)"
    assert hidden["hint"] == error["hint"]  # URLs and ratios are not paths
    assert hidden["details"]["paths"] == ["runs/j1/out/model.onnx"]
