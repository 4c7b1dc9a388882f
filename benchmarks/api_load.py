"""Load test for the service: concurrent clients listing and submitting jobs over loopback.

Starts `branes serve` in a temporary workspace (or targets --url), uploads a tiny ONNX model,
then drives each scenario with --clients concurrent HTTP clients for --requests requests in
total and prints p50 / p99 latency and throughput. Submitted jobs are cancelled afterwards.

    .venv/bin/python benchmarks/api_load.py --clients 8 --requests 400
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

TOKEN = "bench-token"


def tiny_onnx() -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((16, 4), "float32"), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def start_server(workspace: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EAA_WORKSPACE": str(workspace),
        "EAA_API_TOKEN": TOKEN,
        "EAA_WORKERS": "1",
    }
    branes = str(Path(sys.executable).parent / "branes")
    process = subprocess.Popen(
        [branes, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def drive(
    url: str, clients: int, total: int, call: Callable[[httpx.Client], httpx.Response]
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        nonlocal errors
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as client:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                response = call(client)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code >= 400

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": errors,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "throughput_rps": len(ordered) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="Existing server (default: start one on loopback).")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="Requests per scenario.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    if not 1 <= args.clients <= 64 or not 1 <= args.requests <= 20_000:
        raise SystemExit("--clients 1..64, --requests 1..20000 (keep the load bounded)")

    server = None
    with tempfile.TemporaryDirectory(prefix="eaa-bench-") as tmp:
        url = args.url
        if url is None:
            import socket

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            server = start_server(Path(tmp) / "workspace", port)
            url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                model = client.post(
                    "/api/v1/models", params={"filename": "bench.onnx"}, content=tiny_onnx()
                ).json()
                # Some history to list.
                job = {
                    "kind": "analyze",
                    "model_id": model["id"],
                    "measure_latency": False,
                    "sensitivity_top_k": 0,
                }
                for _ in range(50):
                    client.post("/api/v1/jobs", json=job)
            results = {
                "list_jobs": drive(
                    url,
                    args.clients,
                    args.requests,
                    lambda c: c.get("/api/v1/jobs", params={"limit": 50}),
                ),
                "submit_job": drive(
                    url, args.clients, args.requests, lambda c: c.post("/api/v1/jobs", json=job)
                ),
            }
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
            ) as client:
                queued = client.get(
                    "/api/v1/jobs", params={"status": "queued", "limit": 1000}
                ).json()
                for item in queued["data"]:
                    client.post(f"/api/v1/jobs/{item['id']}/cancel")
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
    print(
        f"{'scenario':<12} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}"
        f"   ({args.clients} clients, loopback)"
    )
    for name, r in results.items():
        print(
            f"{name:<12} {r['requests']:>8} {r['errors']:>6} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['throughput_rps']:>8.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"clients": args.clients, **results}, indent=2))


if __name__ == "__main__":
    main()
