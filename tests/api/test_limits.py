"""Limits before work, against a real `branes serve` with small limits: a body is never read
for a client without a token (defect 2), incomplete requests time out and connections are
capped per client (defect 3), and uploads must parse as the format they claim (defect 5)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .live import TOKEN, LiveServer, tiny_onnx_bytes

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
MAX_JSON = 4096
PER_CLIENT = 6


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("limits")
    live = LiveServer(
        root / "workspace",
        workers=1,
        env={
            "EAA_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
            "EAA_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
            "EAA_MAX_JSON_BYTES": str(MAX_JSON),
            "EAA_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
        },
    ).start()
    yield live
    live.stop()


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(10)
    return sock


def _read_reply(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response until the server closes (every limit reply says Connection: close)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_unauthenticated_huge_body_is_refused_without_being_read(limited: LiveServer) -> None:
    """Defect 2: 401 arrives while the client is still sending; the server hangs up."""
    assert limited.process is not None
    rss_before = _rss_kib(limited.process.pid)
    declared = 1024**3
    sock = _connect(limited)
    sock.sendall(
        (
            "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
    )
    sent, chunk, refused = 0, b"[" * 65536, False
    deadline = time.monotonic() + 20
    while sent < 256 * 1024**2 and time.monotonic() < deadline:
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            refused = True
            break
        sent += len(chunk)
    status, _, body = _read_reply(sock) if not refused else (401, {}, b"")
    sock.close()
    # The server stopped listening long before 256 MiB of the declared 1 GiB arrived.
    assert refused or status == 401, (status, body)
    assert sent < 256 * 1024**2
    rss_after = _rss_kib(limited.process.pid)
    assert rss_after - rss_before < 64 * 1024, (rss_before, rss_after)
    with limited.client() as client:  # the server is fine
        assert client.get("/health").status_code == 200


def test_unauthenticated_request_gets_401_before_the_body_is_sent(limited: LiveServer) -> None:
    sock = _connect(limited)
    sock.sendall(
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n"
    )
    status, headers, body = _read_reply(sock)  # no body byte sent at all
    sock.close()
    assert status == 401 and headers["connection"] == "close"
    assert json.loads(body)["code"] == "unauthorized"


def test_json_bodies_are_capped_declared_or_chunked(limited: LiveServer) -> None:
    big = {"kind": "analyze", "example": "x" * (MAX_JSON * 2)}
    with limited.client() as client:
        response = client.post("/api/v1/jobs", json=big)
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
        assert "EAA_MAX_JSON_BYTES" in response.json()["hint"]

        def chunked() -> Iterator[bytes]:
            payload = json.dumps(big).encode()
            for i in range(0, len(payload), 1024):
                yield payload[i : i + 1024]

        response = client.post(
            "/api/v1/jobs", content=chunked(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert "EAA_MAX_JSON_BYTES" in response.json()["message"]


def test_partial_headers_and_silent_connections_are_closed(limited: LiveServer) -> None:
    """Defect 3: a request line without the end of its headers is cut after the timeout."""
    partial = _connect(limited)
    partial.sendall(b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    silent = _connect(limited)
    start = time.monotonic()
    status, _, body = _read_reply(partial)
    assert status == 408 and json.loads(body)["code"] == "request_timeout"
    assert time.monotonic() - start < HEADER_TIMEOUT_S + 3
    assert silent.recv(65536).startswith(b"HTTP/1.1 408")
    partial.close()
    silent.close()


def test_stalled_upload_is_cut_and_leaves_no_temp_file(limited: LiveServer) -> None:
    sock = _connect(limited)
    sock.sendall(
        (
            "POST /api/v1/models?filename=slow.onnx HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/octet-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + b"400\r\n"
        + b"\x08" * 1024
        + b"\r\n"
    )
    status, headers, body = _read_reply(sock)  # and then nothing more is sent
    sock.close()
    assert status == 408 and headers["connection"] == "close", body
    uploads = limited.workspace / "runs" / "uploads"
    assert not list(uploads.glob(".tmp-*")) if uploads.exists() else True


def test_connections_per_client_are_capped_with_retry_after(limited: LiveServer) -> None:
    held = [_connect(limited) for _ in range(PER_CLIENT)]
    try:
        time.sleep(0.2)
        extra = _connect(limited)
        status, headers, body = _read_reply(extra)
        extra.close()
        assert status == 429 and headers["retry-after"] == "1"
        assert json.loads(body)["code"] == "too_many_connections"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    with limited.client() as client:
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x08" + os.urandom(4095), id="random bytes after 0x08"),
        pytest.param(tiny_onnx_bytes()[:-1], id="onnx without its last byte"),
        pytest.param(tiny_onnx_bytes()[:200], id="onnx cut to 200 bytes"),
        pytest.param(b"\x08\x08\x12\x03abc", id="onnx header without a graph"),
    ],
)
def test_uploads_that_only_start_like_onnx_are_refused(limited: LiveServer, payload: bytes) -> None:
    """Defect 5: the first byte no longer decides; nothing is stored."""
    with limited.client() as client:
        response = client.post(
            "/api/v1/models",
            params={"filename": "fake.onnx"},
            content=payload,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "model_format" and "fake.onnx" in body["message"]
        assert client.get("/api/v1/models").json()["count"] == 0
    uploads = limited.workspace / "runs" / "uploads"
    assert not [p for p in uploads.iterdir()] if uploads.exists() else True


def test_health_answers_during_an_upload(limited: LiveServer) -> None:
    """Hashing and disk writes run in a thread: a 64 MiB upload does not stall other calls."""
    payload = tiny_onnx_bytes() + b"\x00" * (64 * 1024**2)  # trailing bytes: refused, later
    timings: list[float] = []

    def upload() -> None:
        with limited.client() as client:
            client.post(
                "/api/v1/models",
                params={"filename": "big.onnx"},
                content=payload,
                headers={"Content-Type": "application/octet-stream"},
            )

    thread = threading.Thread(target=upload)
    thread.start()
    with limited.client(auth=False) as client:
        while thread.is_alive():
            start = time.monotonic()
            assert client.get("/health").status_code == 200
            timings.append(time.monotonic() - start)
    thread.join()
    assert timings and max(timings) < 2.0, timings
