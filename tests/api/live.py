"""A real `branes serve` (uvicorn) in a subprocess on a free loopback port, plus helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TOKEN = "test-token-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, workspace: Path, *, workers: int = 2, env: dict[str, str] | None = None):
        self.workspace = workspace
        self.workers = workers
        self.extra_env = env or {}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workspace.parent / f"server-{workspace.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LiveServer:
        self.port = free_port()
        env = {
            **os.environ,
            "EAA_WORKSPACE": str(self.workspace),
            "EAA_API_TOKEN": TOKEN,
            "EAA_WORKERS": str(self.workers),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("EAA_DATABASE_URL", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "branes"),
                    "serve",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def client(self, *, auth: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def tiny_onnx_bytes(inputs: int = 16, hidden: int = 8, outputs: int = 4, seed: int = 0) -> bytes:
    """A two-layer MLP as ONNX, built with onnx.helper (no torch, no download)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.standard_normal((inputs, hidden)).astype("float32"), "w1")
    b1 = numpy_helper.from_array(np.zeros(hidden, "float32"), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((hidden, outputs)).astype("float32"), "w2")
    b2 = numpy_helper.from_array(np.zeros(outputs, "float32"), "b2")
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
            helper.make_node("Relu", ["h"], ["hr"]),
            helper.make_node("Gemm", ["hr", "w2", "b2"], ["y"]),
        ],
        "tiny_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs])],
        [w1, b1, w2, b2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def upload(client: httpx.Client, data: bytes, name: str = "tiny.onnx") -> dict[str, Any]:
    response = client.post(
        "/api/v1/models",
        params={"filename": name},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def wait_job(
    client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck: {body}")


ANALYZE_FAST: dict[str, Any] = {
    "kind": "analyze",
    "measure_latency": True,
    "runs": 5,
    "warmup": 1,
    "max_latency_seconds": 2,
    "sensitivity_top_k": 1,
}
