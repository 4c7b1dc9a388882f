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

The client (benchmarks/http_load.py) runs in this process on the same cores as the server: on
a 2-core host its own CPU use is part of the figures. Each row also says where the CPU went
(psutil: the server process, its job workers, this client; server CPU per request) and, in
the open loop, the server's own p99 bucket from /metrics (time inside the app): a client p99
far above it was spent outside the app, waiting for a core. Results print as Markdown tables
with the load average before and after. Submitted jobs are cancelled afterwards.

    .venv/bin/python benchmarks/api_load.py                      # all rows, ~2 minutes
    .venv/bin/python benchmarks/api_load.py --open-only --job-cpus 1   # jobs on CPU 1 only
    .venv/bin/python benchmarks/api_load.py --hold-jobs          # submits queue, jobs never run
    .venv/bin/python benchmarks/api_load.py --clients 8 --seconds 3 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from http_load import Call, closed_loop, open_loop  # benchmarks/: sys.path[0]

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


# --hold-jobs: the same server as `branes serve`, but its job supervisor never starts, so submits
# are validated and stored and their jobs stay queued. It separates the API's own cost of a
# submit from the CPU its job then takes.
HELD_SERVER = """
import sys, uvicorn
from embodied_ai_architect.api.app import create_app
from embodied_ai_architect.api.limits import guarded_protocol
from embodied_ai_architect.settings import get_settings
s = get_settings()
uvicorn.run(create_app(s, start_workers=False), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", http=guarded_protocol(s), timeout_keep_alive=s.keep_alive_timeout_s)
"""


def start_server(
    workspace: Path, port: int, *, hold_jobs: bool = False, job_cpus: str | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EAA_WORKSPACE": str(workspace),
        "EAA_API_TOKEN": TOKEN,
        "EAA_WORKERS": "1",
    }
    env.pop("EAA_DATABASE_URL", None)
    if job_cpus is not None:
        env["EAA_JOB_CPUS"] = job_cpus
    branes = str(Path(sys.executable).parent / "branes")
    command = [branes, "serve", "--port", str(port), "--log-level", "warning"]
    if hold_jobs:
        command = [sys.executable, "-c", HELD_SERVER, str(port)]
    process = subprocess.Popen(
        command,
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


def cpu_seconds(pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by the server process itself, by its job workers (finished and
    running) and by this client: the difference over a row says where the cores went."""
    used = {"client": time.process_time()}
    if pid is None:
        return used
    import psutil

    server = psutil.Process(pid)
    own = server.cpu_times()
    jobs = own.children_user + own.children_system
    for child in server.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            jobs += times.user + times.system
    return {**used, "server": own.user + own.system, "jobs": jobs}


ROUTES = {"health": "/health", "list_jobs": "/api/v1/jobs", "get_job": "/api/v1/jobs/{job_id}"}


async def server_latency(url: str, scenario: str) -> dict[float, int]:
    """The server's own latency histogram of a read route (``/metrics``: from the request's
    arrival in the app to its response, threadpool and GIL waits included), cumulative."""
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
        text = (await client.get("/metrics")).text
    prefix = (
        f'eaa_http_request_duration_seconds_bucket{{method="GET",route="{ROUTES[scenario]}",le="'
    )
    buckets: dict[float, int] = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            bound, _, count = line[len(prefix) :].partition('"} ')
            buckets[float(bound)] = int(float(count))
    return buckets


def server_p99(before: dict[float, int], after: dict[float, int]) -> float | None:
    """Upper bound (ms) of the bucket holding the row's 99th percentile, server side."""
    counts = {le: after[le] - before.get(le, 0) for le in sorted(after)}
    total = max(counts.values(), default=0)
    found = next((le for le, n in counts.items() if total and n >= 0.99 * total), None)
    return found * 1000 if found is not None else None


def used_since(before: dict[str, float], pid: int | None) -> dict[str, float]:
    after = cpu_seconds(pid)
    return {part: after[part] - before[part] for part in after}


def print_rows(title: str, rows: list[dict[str, Any]], key: str) -> None:
    """One Markdown table, with where the CPU went during each row (server per request, and
    server / job workers / client seconds) and the server's own p99 (open loop)."""
    cpu = any("cpu_s" in row for row in rows)
    header = ["scenario", key, "ok", "429/503", "errors", "p50 ms", "p99 ms", "max ms", "ok req/s"]
    if cpu:
        header += ["server-side p99 ≤ ms", "server CPU ms/req", "CPU s: server / jobs / client"]
    print(f"\n{title}\n\n| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    for row in rows:
        cells = [row["scenario"], f"{row[key]:g}", row["ok"], row["rejected_429_503"]]
        cells += [row["errors"], f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}"]
        cells += [f"{row['max_ms']:.1f}", f"{row['ok_rps']:.1f}"]
        if cpu:
            cells.append(f"{row['server_p99_ms']:g}" if row.get("server_p99_ms") else "–")
            used = row.get("cpu_s", {})
            served = row["ok"] + row.get("side", {}).get("ok", 0)
            per_request = used["server"] * 1000 / served if "server" in used and served else None
            cells.append(f"{per_request:.2f}" if per_request is not None else "–")
            parts = ("server", "jobs", "client")
            cells.append(" / ".join(f"{used[p]:.2f}" if p in used else "–" for p in parts))
        print("| " + " | ".join(str(cell) for cell in cells) + " |")


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
            before = cpu_seconds(server_pid)
            row = await closed_loop(url, clients, args.seconds, call, AUTH_LINE)
            row["cpu_s"] = used_since(before, server_pid)
            closed.append({"scenario": name, **row})
            progress(name, row)
    await cancel_queued(url)
    opened: list[dict[str, Any]] = []
    submits = (args.submit_rate, scenarios["submit"])
    for name, side in [
        ("health", None),
        ("list_jobs", None),
        ("get_job", None),
        ("get_job", submits),
        ("list_jobs", submits),
    ]:
        before, histogram = cpu_seconds(server_pid), await server_latency(url, name)
        row = await open_loop(
            url, args.rate, args.seconds * 2, scenarios[name], side=side, headers=AUTH_LINE
        )
        row["cpu_s"] = used_since(before, server_pid)
        row["server_p99_ms"] = server_p99(histogram, await server_latency(url, name))
        scenario = f"{name}+submit" if side else name
        opened.append({"scenario": scenario, **row})
        progress(scenario, row)
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
    parser.add_argument(
        "--hold-jobs",
        action="store_true",
        help="Start the server without its job supervisor: submits queue jobs that never run "
        "(the API's own cost of a submit, without the job's CPU).",
    )
    parser.add_argument("--job-cpus", help="EAA_JOB_CPUS for the server, e.g. '1'.")
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
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="eaa-bench-") as tmp:
        url = args.url
        if url is None:
            workspace = Path(tmp) / "workspace"
            seed_history(workspace, args.jobs)
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            server = start_server(workspace, port, hold_jobs=args.hold_jobs, job_cpus=args.job_cpus)
            url = f"http://127.0.0.1:{port}"
        try:
            results = asyncio.run(run(url, args, server.pid if server else None))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
    loads = " → ".join(
        ", ".join(f"{x:.2f}" for x in load) for load in (load_before, os.getloadavg())
    )
    print(
        f"host: {os.cpu_count()} CPUs, server and client share them; loopback; load average "
        f"{loads}; jobs {'held (never run)' if args.hold_jobs else 'run'}"
        + (f"; EAA_JOB_CPUS={args.job_cpus}" if args.job_cpus else "")
    )
    print_rows("closed loop (back-to-back clients)", results["closed_loop"], "clients")
    print_rows("open loop (fixed rate, latency from schedule)", results["open_loop"], "rate")
    for row in results["open_loop"]:
        if "side" in row:
            side = row["side"]
            print(
                f"- beside {row['scenario']}: {side['ok']} submits ok, p50 {side['p50_ms']:.1f} "
                f"ms, p99 {side['p99_ms']:.1f} ms, errors {side['errors']}"
            )
    rss = results["server_rss_mb"]
    if rss["before"] is not None:
        print(f"server RSS: {rss['before']:.0f} MB before, {rss['after']:.0f} MB after the load")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
