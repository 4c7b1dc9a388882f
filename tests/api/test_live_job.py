"""Done-criterion test: a real server, a full job over HTTP + WebSocket, compared with the
library call made in this process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from .live import ANALYZE_FAST, LiveServer, tiny_onnx_bytes, upload, wait_job


def collect(server: LiveServer, job_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    messages = []
    with connect(f"{server.ws_url}/ws/jobs/{job_id}", open_timeout=10) as ws:
        while True:
            message = json.loads(ws.recv(timeout=timeout))
            messages.append(message)
            if message["type"] == "final":
                return messages


def test_analyze_job_over_http_and_websocket_matches_library(
    server: LiveServer, tmp_path: Path
) -> None:
    data = tiny_onnx_bytes()
    with server.client() as client:
        model = upload(client, data)
        assert model["format"] == "onnx" and model["size_bytes"] == len(data)
        submitted = client.post("/api/v1/jobs", json={**ANALYZE_FAST, "model_id": model["id"]})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]

        live = collect(server, job_id)
        events = [m for m in live if m["type"] == "event"]
        final = live[-1]
        assert final["type"] == "final" and final["job"]["status"] == "succeeded", final
        # Every event exactly once, in order, percent never going backwards, 0 → 100.
        assert [m["seq"] for m in events] == list(range(len(events)))
        percents = [m["event"]["percent"] for m in events]
        assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
        assert len(events) >= 5

        # A late subscriber gets the same history and the final state.
        late = collect(server, job_id)
        assert [m["seq"] for m in late if m["type"] == "event"] == list(range(len(events)))
        assert late[-1]["result"] == final["result"]

        # The stored events and the JSONL export agree with what was streamed.
        stored = client.get(f"/api/v1/jobs/{job_id}/events").json()
        assert [e["message"] for e in stored["data"]] == [m["event"]["message"] for m in events]
        jsonl = client.get(f"/api/v1/jobs/{job_id}/events.jsonl")
        assert jsonl.headers["content-type"].startswith("application/x-ndjson")
        assert [json.loads(line)["seq"] for line in jsonl.text.splitlines()] == list(
            range(len(events))
        )

        result = client.get(f"/api/v1/jobs/{job_id}/result").json()
        profile = result["analysis"]
        assert result["kind"] == "analyze" and profile == final["result"]["analysis"]
        detail = client.get(f"/api/v1/models/{model['id']}").json()
        assert detail["analyzed"] and detail["profile"]["parameters"] == profile["parameters"]

    # The same request through the library, in this process.
    from embodied_ai_architect.agents.analysis import AnalysisRequest, analyze_model
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.settings import Settings

    path = tmp_path / "tiny.onnx"
    path.write_bytes(data)
    options = {k: v for k, v in ANALYZE_FAST.items() if k != "kind"}
    expected = analyze_model(
        AnalysisRequest(model_path=path, **options),
        AgentContext(settings=Settings(workspace=tmp_path / "ws")),
    ).model_dump(mode="json")
    for key in (
        "parameters",
        "parameter_bytes",
        "by_dtype",
        "macs",
        "flops",
        "inputs",
        "outputs",
        "op_census",
        "layers",
        "family",
        "source_format",
        "framework",
        "sha256",
    ):
        assert profile[key] == expected[key], key
    assert [s["layer"] for s in profile["sensitivity"]] == [
        s["layer"] for s in expected["sensitivity"]
    ]


def test_closing_the_websocket_does_not_affect_the_job(server: LiveServer) -> None:
    with server.client() as client:
        model = upload(client, tiny_onnx_bytes(seed=1))
        job_id = client.post("/api/v1/jobs", json={**ANALYZE_FAST, "model_id": model["id"]}).json()[
            "job_id"
        ]
        with connect(f"{server.ws_url}/ws/jobs/{job_id}", open_timeout=10) as ws:
            json.loads(ws.recv(timeout=60))  # one message, then hang up mid-job
        done = wait_job(client, job_id, {"succeeded", "failed"})
        assert done["status"] == "succeeded", done


def test_websocket_unknown_job_gets_error_message(server: LiveServer) -> None:
    with connect(f"{server.ws_url}/ws/jobs/{'0' * 32}", open_timeout=10) as ws:
        message = json.loads(ws.recv(timeout=10))
    assert message["type"] == "error" and message["code"] == "not_found"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server with an empty history: the planner ranks techniques by what failed in earlier
    runs of its workspace (the skills table), and the shared server's other tests leave some
    (a fresh-clone CI run planned ort_int8_dynamic last there and first in the library call)."""
    live = LiveServer(tmp_path / "service", workers=1).start()
    yield live
    live.stop()


def test_optimize_job_over_http_and_websocket_matches_library(
    own_server: LiveServer, tmp_path: Path
) -> None:
    """The pipeline's run_optimize as a service job: ordered live events, the typed report,
    the run's plan and attempts in the history, and the same decisions as a library call."""
    server = own_server
    data = tiny_onnx_bytes(seed=41)
    request = {
        "kind": "optimize",
        "constraints": {"max_accuracy_drop": 1},
        "latency_runs": 10,
        "max_eval_samples": 64,
    }
    with server.client() as client:
        model = upload(client, data, name="policy.onnx")
        submitted = client.post("/api/v1/jobs", json={**request, "model_id": model["id"]})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        live = collect(server, job_id, timeout=300)
        events = [m for m in live if m["type"] == "event"]
        final = live[-1]
        assert final["job"]["status"] == "succeeded", final["job"]["error"]
        assert [m["seq"] for m in events] == list(range(len(events)))
        percents = [m["event"]["percent"] for m in events]
        assert percents == sorted(percents) and percents[-1] == 100
        assert {0, 25, 50, 75, 100} <= {int(p) for p in percents}
        stages = [m["event"]["stage"] for m in events]
        assert stages.index("analysis") < stages.index("planning") < stages.index("results")
        report = final["result"]["optimize"]
        assert report["run_id"] == job_id and report["status"] == "succeeded"

        run = client.get(f"/api/v1/runs/{job_id}").json()
        assert run["plans"] and len(run["attempts"]) == len(report["attempts"])
        assert [a["technique"] for a in run["attempts"]] == [
            a["technique"] for a in report["attempts"]
        ]
        comparison = client.get("/api/v1/runs/compare", params={"a": job_id, "b": job_id}).json()
        assert comparison["a"]["attempts"] == len(report["attempts"])
        assert all(d["delta"] in (0, None) for d in comparison["metrics"])

        # The run's versions belong to the uploaded model: its stored v0 is the baseline.
        listed = client.get(f"/api/v1/models/{model['id']}/versions").json()
        numbers = sorted(v["version"] for v in listed["data"])
        assert numbers == list(range(len(report["versions"])))
        assert report["versions"][0]["id"] == "v0"
        assert sorted(int(v["id"][1:]) for v in report["versions"]) == numbers

    from embodied_ai_architect.pipeline import run_optimize
    from embodied_ai_architect.schemas.constraints import Constraints
    from embodied_ai_architect.schemas.results import OptimizeRequest
    from embodied_ai_architect.settings import Settings

    path = tmp_path / "policy.onnx"
    path.write_bytes(data)
    expected = run_optimize(
        OptimizeRequest(
            model_path=path,
            constraints=Constraints(max_accuracy_drop=1),
            latency_runs=10,
            max_eval_samples=64,
            out_dir=tmp_path / "out",
        ),
        settings=Settings(workspace=tmp_path / "ws"),
    ).model_dump(mode="json")
    assert report["status"] == expected["status"]
    assert report["model_family"] == expected["model_family"]
    assert report["baseline"]["sha256"] == expected["baseline"]["sha256"]
    assert (
        report["baseline"]["metrics"]["size_bytes"] == expected["baseline"]["metrics"]["size_bytes"]
    )
    assert [p["id"] for p in report["plans"]] == [p["id"] for p in expected["plans"]]
    # The same plan, and each step starts with the same candidate. What follows depends on
    # measured latencies (a technique far slower than its parent is dropped, a close one is
    # re-timed), which two runs on a shared CPU do not reproduce exactly.
    assert [[c["technique"] for c in s["candidates"]] for s in report["chosen_plan"]["steps"]] == [
        [c["technique"] for c in s["candidates"]] for s in expected["chosen_plan"]["steps"]
    ]

    def first_per_step(attempts: list[dict]) -> dict[str, str]:  # type: ignore[type-arg]
        firsts: dict[str, str] = {}
        for a in attempts:
            firsts.setdefault(a["step_id"], a["technique"])
        return firsts

    assert first_per_step(report["attempts"]) == first_per_step(expected["attempts"])
    planned = {c["technique"] for s in report["chosen_plan"]["steps"] for c in s["candidates"]}
    assert {a["technique"] for a in report["attempts"]} <= planned
