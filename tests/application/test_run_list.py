"""The run list shows optimize runs and `deploy run` runs, each with its kind (and, for a
deploy, its target and precision), through every face: the application layer, `branes runs
list` and ``GET /api/v1/runs``; ``kind`` filters, and an unknown kind is refused naming it.

One real optimize run and one real deploy run (ONNX Runtime, FP32: no conversion) write the
store of a workspace of their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_runner import runner
from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.deployment.agent import deploy_model
from embodied_ai_architect.application import runs
from embodied_ai_architect.errors import InputError
from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.schemas.constraints import Budget, Constraints
from embodied_ai_architect.schemas.deployment import DeployRequest
from embodied_ai_architect.schemas.results import OptimizeRequest
from embodied_ai_architect.schemas.runs import RunKind
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An optimize run, then a deploy run, in one workspace: their ids and settings."""
    import torch
    from torch import nn

    root = tmp_path_factory.mktemp("run-list")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    path = root / "small.onnx"
    torch.onnx.export(model.eval(), (torch.randn(1, 3, 8, 8),), str(path), dynamo=False)
    settings = Settings(workspace=root / "ws", num_threads=1)
    report = run_optimize(
        OptimizeRequest(
            model_path=path,
            constraints=Constraints(target="onnxruntime", budget=Budget(max_attempts=1)),
            latency_runs=5,
            max_eval_samples=16,
            model_memory=False,
            out_dir=root / "optimized",
        ),
        settings=settings,
        sink=lambda event: None,
    )
    deployed = deploy_model(
        DeployRequest(model_path=path, target="onnxruntime", out_dir=root / "deployed"),
        AgentContext.from_settings(settings),
    )
    assert deployed.report_path is not None
    deploy_id = json.loads(deployed.report_path.read_text())["run_id"]
    return {"settings": settings, "optimize": report.run_id, "deploy": deploy_id}


def _db(settings: Settings) -> Database:
    db = Database.from_settings(settings)
    db.upgrade()
    return db


def test_both_kinds_are_listed_newest_first_with_their_kind(recorded: dict[str, Any]) -> None:
    db = _db(recorded["settings"])
    listed = runs.list_runs(db)
    assert [r.run_id for r in listed] == [recorded["deploy"], recorded["optimize"]]
    deploy, optimize = listed
    assert deploy.kind is RunKind.DEPLOY and deploy.status == "succeeded"
    assert (deploy.target, deploy.precision) == ("onnxruntime", "fp32")
    assert optimize.kind is RunKind.OPTIMIZE and optimize.status == "succeeded"
    assert (optimize.target, optimize.precision) == (None, None)
    # The limit takes the newest of both kinds together.
    assert [r.run_id for r in runs.list_runs(db, limit=1)] == [recorded["deploy"]]
    db.dispose()


def test_kind_filters_and_an_unknown_kind_names_the_field(recorded: dict[str, Any]) -> None:
    db = _db(recorded["settings"])
    assert [r.run_id for r in runs.list_runs(db, kind="deploy")] == [recorded["deploy"]]
    assert [r.run_id for r in runs.list_runs(db, kind=RunKind.OPTIMIZE)] == [recorded["optimize"]]
    items, count = runs.run_page(db, kind=None, limit=1)
    assert len(items) == 1 and count == 2
    with pytest.raises(InputError) as caught:
        runs.list_runs(db, kind="analyze")  # a job kind, but not a run
    assert caught.value.field == "kind" and "optimize, deploy" in caught.value.message
    db.dispose()


def test_cli_lists_and_filters_by_kind(
    recorded: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EAA_WORKSPACE", str(recorded["settings"].workspace))
    branes = runner(capsys, monkeypatch)
    listed = branes("runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["run_id"], r["kind"]) for r in rows] == [
        (recorded["deploy"], "deploy"),
        (recorded["optimize"], "optimize"),
    ]
    assert rows[0]["target"] == "onnxruntime" and rows[0]["precision"] == "fp32"
    table = branes("runs", "list")
    assert table.returncode == 0, table.stderr
    deploy_line = next(
        line for line in table.stdout.splitlines() if recorded["deploy"][:12] in line
    )
    assert "deploy" in deploy_line and "onnxruntime" in deploy_line and "fp32" in deploy_line
    only = branes("runs", "list", "--kind", "deploy", "--json")
    assert only.returncode == 0, only.stderr
    assert [r["run_id"] for r in json.loads(only.stdout)] == [recorded["deploy"]]


def test_cli_refuses_an_unknown_kind_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = runner(capsys, monkeypatch)("runs", "list", "--kind", "optimise")
    assert refused.returncode == 2
    assert "unknown run kind 'optimise'" in refused.stderr and "--kind" in refused.stderr


def test_rest_lists_filters_and_refuses_an_unknown_kind(recorded: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from embodied_ai_architect.api.app import create_app

    with TestClient(create_app(recorded["settings"], start_workers=False)) as client:
        both = client.get("/api/v1/runs")
        deploy = client.get("/api/v1/runs", params={"kind": "deploy"})
        bad = client.get("/api/v1/runs", params={"kind": "rollout"})
    assert both.status_code == 200, both.text
    body = both.json()
    assert body["count"] == 2
    assert [(r["run_id"], r["kind"]) for r in body["data"]] == [
        (recorded["deploy"], "deploy"),
        (recorded["optimize"], "optimize"),
    ]
    assert body["data"][0]["target"] == "onnxruntime" and body["data"][0]["precision"] == "fp32"
    assert deploy.status_code == 200
    assert [r["run_id"] for r in deploy.json()["data"]] == [recorded["deploy"]]
    assert deploy.json()["count"] == 1
    assert bad.status_code == 422
    [error] = bad.json()["details"]["errors"]
    assert error["loc"] == ["query", "kind"] and "'optimize' or 'deploy'" in error["msg"]
