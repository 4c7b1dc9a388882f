"""Load test for `branes serve`: p50 / p99 latency and throughput under concurrent clients.

Starts `branes serve` in a temporary workspace (or targets --url), uploads a tiny ONNX model,
stores --jobs finished jobs (with results, like real history), then measures over loopback:

1. closed loop: --clients (default 8, 64, 256) async clients each sending back to back for
   --seconds, for GET /health, GET /api/v1/jobs?limit=--list-limit (20), GET /api/v1/jobs/{id} and
   POST /api/v1/jobs (submit). Errors are counted apart from deliberate 429 / 503 (which
   must carry Retry-After).
2. open loop: reads at a fixed --rate (default 200 req/s) with latency measured from each
   request's *scheduled* time (no coordinated omission), alone and while --submit-rate
   submits per second run beside them, for a job's status and for the job list ("submits
   never block reads").

The client runs in this process on the same cores as the server: on a 2-core host its own
CPU use is part of the figures. Submitted jobs are cancelled afterwards.

    .venv/bin/python benchmarks/api_load.py                      # all rows, ~2 minutes
    .venv/bin/python benchmarks/api_load.py --clients 8 --seconds 3 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AUTH_LINE = f"Authorization: Bearer {TOKEN}\r\n"


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


def seed_history(workspace: Path, count: int) -> None:
    """``count`` finished analyze jobs with a realistic result payload, stored directly."""
    from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
    from embodied_ai_architect.settings import Settings
    from embodied_ai_architect.store import Database
    from embodied_ai_architect.store.repo import jobs

    db = Database.from_settings(Settings(workspace=workspace))
    db.upgrade()
    layers = [{"name": f"layer{i}", "op": "Conv", "params": 1000 + i} for i in range(200)]
    with db.session() as session:
        for _ in range(count):
            row = jobs.create_job(
                session,
                kind=JobKind.ANALYZE,
                request={"example": "mlp_policy", "measure_latency": False},
            )
            jobs.finish_job(
                session,
                job_id=row.id,
                status=JobStatus.SUCCEEDED,
                result={"parameters": 1234, "layers": layers},
            )
    db.dispose()


def start_server(workspace: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EAA_WORKSPACE": str(workspace),
        "EAA_API_TOKEN": TOKEN,
        "EAA_WORKERS": "1",
    }
    env.pop("EAA_DATABASE_URL", None)
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


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 1024**2
    except Exception:
        return None


class Response:
    """What the load client keeps of a response."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status_code, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """A minimal keep-alive HTTP/1.1 client on one socket: with hundreds of clients on a
    2-core host, httpx's own per-request work (and its pool's queue scan) would dominate
    what is measured. Reconnects when the server closes the connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{AUTH_LINE}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            self._writer.write(head.encode() + b"\r\n" + (body or b""))
            raw = await self._reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                if line:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
            content = await self._reader.readexactly(int(headers.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, content)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


Call = Callable[[Connection], Awaitable[Response]]


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.deliberate = 0  # 429 / 503 with Retry-After
        self.errors = 0  # anything else >= 400, 429/503 without Retry-After, transport errors

    def add(self, seconds: float, response: Response | None) -> None:
        if response is None:
            self.errors += 1
            return
        self.statuses[response.status_code] += 1
        if response.status_code in (429, 503) and "retry-after" in response.headers:
            self.deliberate += 1
        elif response.status_code >= 400:
            self.errors += 1
        else:
            self.latencies.append(seconds)

    def summary(self, wall: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0

        return {
            "ok": len(ordered),
            "rejected_429_503": self.deliberate,
            "errors": self.errors,
            "p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0,
            "p99_ms": pct(0.99),
            "max_ms": ordered[-1] * 1000 if ordered else 0.0,
            "ok_rps": len(ordered) / wall,
            "statuses": dict(self.statuses),
        }


async def _send(connection: Connection, call: Call) -> Response | None:
    try:
        return await call(connection)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        return None


async def _back_off(response: Response | None) -> None:
    if response is None:
        await asyncio.sleep(0.05)
    elif response.status_code in (429, 503):  # a polite client waits as told
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def closed_loop(url: str, clients: int, seconds: float, call: Call) -> dict[str, Any]:
    """``clients`` connections, each sending its next request when the last one answered."""
    host, port = _host_port(url)
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        connection = Connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await _send(connection, call)
                tally.add(time.perf_counter() - started, response)
                await _back_off(response)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"clients": clients, **tally.summary(time.perf_counter() - started)}


async def open_loop(
    url: str, rate: float, seconds: float, call: Call, side: tuple[float, Call] | None = None
) -> dict[str, Any]:
    """``rate`` requests/s of ``call`` on a fixed schedule, latency counted from each slot's
    scheduled time (a late server cannot hide its backlog); optionally ``side`` = (rate,
    call) on its own schedule beside them. 32 connections per schedule take the slots."""
    host, port = _host_port(url)
    start = time.perf_counter() + 0.2

    async def schedule(rate: float, fn: Call, tally: Tally) -> None:
        slots = iter(range(int(rate * seconds)))

        async def client() -> None:
            connection = Connection(host, port)
            try:
                for slot in slots:
                    due = start + slot / rate
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    response = await _send(connection, fn)
                    tally.add(time.perf_counter() - due, response)
                    await _back_off(response)
            finally:
                await connection.close()

        await asyncio.gather(*(client() for _ in range(32)))

    tally, side_tally = Tally(), Tally()
    runs = [schedule(rate, call, tally)]
    if side is not None:
        runs.append(schedule(side[0], side[1], side_tally))
    await asyncio.gather(*runs)
    wall = time.perf_counter() - start
    result: dict[str, Any] = {"rate": rate, **tally.summary(wall)}
    if side is not None:
        result["side"] = {"rate": side[0], **side_tally.summary(wall)}
    return result


def _host_port(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    return parsed.host, parsed.port or 80


def print_rows(title: str, rows: list[dict[str, Any]], key: str) -> None:
    print(f"\n{title}")
    print(
        f"{'scenario':<16} {key:>8} {'ok':>7} {'429/503':>8} {'errors':>6} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'ok req/s':>9}"
    )
    for row in rows:
        print(
            f"{row['scenario']:<16} {row[key]:>8g} {row['ok']:>7} {row['rejected_429_503']:>8} "
            f"{row['errors']:>6} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
            f"{row['max_ms']:>8.1f} {row['ok_rps']:>9.1f}"
        )


def progress(name: str, row: dict[str, Any]) -> None:
    print(
        f"  {name} {row.get('clients', row.get('rate'))}: ok {row['ok']} "
        f"p99 {row['p99_ms']:.1f} ms",
        file=sys.stderr,
        flush=True,
    )


async def cancel_queued(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
        while True:
            queued = (await client.get("/api/v1/jobs", params={"status": "queued"})).json()
            if not queued["data"]:
                return
            for item in queued["data"]:
                await client.post(f"/api/v1/jobs/{item['id']}/cancel")


async def run(url: str, args: argparse.Namespace, server_pid: int | None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
        model = (
            await client.post(
                "/api/v1/models",
                params={"filename": "bench.onnx"},
                content=tiny_onnx(),
                headers={"Content-Type": "application/octet-stream"},
            )
        ).json()
        listed = (await client.get("/api/v1/jobs", params={"limit": 1})).json()
        job_id = listed["data"][0]["id"]
    submit = json.dumps(
        {
            "kind": "analyze",
            "model_id": model["id"],
            "measure_latency": False,
            "sensitivity_top_k": 0,
        }
    ).encode()
    scenarios: dict[str, Call] = {
        "health": lambda c: c.request("GET", "/health"),
        "list_jobs": lambda c: c.request("GET", f"/api/v1/jobs?limit={args.list_limit}"),
        "get_job": lambda c: c.request("GET", f"/api/v1/jobs/{job_id}"),
        "submit": lambda c: c.request("POST", "/api/v1/jobs", submit),
    }
    rss_before = rss_mb(server_pid)
    closed: list[dict[str, Any]] = []
    # Reads first, then submits (whose queued jobs would otherwise run beside the reads).
    for name, call in scenarios.items() if not args.open_only else ():
        for clients in args.clients:
            row = await closed_loop(url, clients, args.seconds, call)
            closed.append({"scenario": name, **row})
            progress(name, row)
    await cancel_queued(url)
    opened: list[dict[str, Any]] = []
    for name in ("health", "list_jobs", "get_job"):
        row = await open_loop(url, args.rate, args.seconds * 2, scenarios[name])
        opened.append({"scenario": name, **row})
        progress(name, row)
    for name in ("get_job", "list_jobs"):
        mixed = await open_loop(
            url,
            args.rate,
            args.seconds * 2,
            scenarios[name],
            side=(args.submit_rate, scenarios["submit"]),
        )
        opened.append({"scenario": f"{name}+submit", **mixed})
        progress(f"{name}+submit", mixed)
        await cancel_queued(url)
    rss_after = rss_mb(server_pid)
    await cancel_queued(url)
    return {
        "closed_loop": closed,
        "open_loop": opened,
        "server_rss_mb": {"before": rss_before, "after": rss_after},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="Existing server (default: start one on loopback).")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 64, 256])
    parser.add_argument("--seconds", type=float, default=5.0, help="Per closed-loop row.")
    parser.add_argument("--rate", type=float, default=200.0, help="Open-loop reads per second.")
    parser.add_argument("--submit-rate", type=float, default=20.0, help="Submits/s beside reads.")
    parser.add_argument("--jobs", type=int, default=200, help="Finished jobs stored first.")
    parser.add_argument("--list-limit", type=int, default=20, help="Page size of the job list.")
    parser.add_argument("--open-only", action="store_true", help="Skip the closed-loop rows.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    if not all(1 <= c <= 1024 for c in args.clients) or not 0.5 <= args.seconds <= 120:
        raise SystemExit("--clients 1..1024, --seconds 0.5..120 (keep the load bounded)")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    server = None
    with tempfile.TemporaryDirectory(prefix="eaa-bench-") as tmp:
        url = args.url
        if url is None:
            workspace = Path(tmp) / "workspace"
            seed_history(workspace, args.jobs)
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            server = start_server(workspace, port)
            url = f"http://127.0.0.1:{port}"
        try:
            results = asyncio.run(run(url, args, server.pid if server else None))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
    print(f"host: {os.cpu_count()} CPUs; server and client share them; loopback; {url}")
    print_rows("closed loop (back-to-back clients)", results["closed_loop"], "clients")
    print_rows("open loop (fixed rate, latency from schedule)", results["open_loop"], "rate")
    for row in results["open_loop"]:
        if "side" in row:
            side = row["side"]
            print(
                f"  beside {row['scenario']}: {side['ok']} submits ok, p50 {side['p50_ms']:.1f} "
                f"ms, p99 {side['p99_ms']:.1f} ms, errors {side['errors']}"
            )
    rss = results["server_rss_mb"]
    if rss["before"] is not None:
        print(f"server RSS: {rss['before']:.0f} MB before, {rss['after']:.0f} MB after the load")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
