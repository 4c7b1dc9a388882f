"""Parallel search (``search_workers``): the same search as a sequential run, only faster.

Real runs on a tiny ONNX model (exported from the pipeline fixture's CNN) with real ONNX Runtime
techniques in real spawned worker processes. The objective is size, so every keep/reject
decision is made on sizes and scores, which are exact; latency figures are noise on a shared
CPU and are masked out of the reasons before they are compared.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from embodied_ai_architect.errors import ConfigError, TechniqueError
from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.pipeline.parallel import PrepareOutcome, RemoteFailure
from embodied_ai_architect.schemas.constraints import Budget, Constraints
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.schemas.results import OptimizeReport, OptimizeRequest, StepStatus
from embodied_ai_architect.settings import Settings, get_settings

BUDGET = 3  # fewer than the plan's candidates: the budget, not the plan, ends the search


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory, make_tiny_cnn) -> Path:  # type: ignore[no-untyped-def]
    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.loader import load_model

    root = tmp_path_factory.mktemp("onnx")
    model, options = make_tiny_cnn(root)
    return export_onnx(load_model(model, options), root / "tiny.onnx", threads=1).onnx_path


def _run(model: Path, root: Path, workers: int) -> tuple[OptimizeReport, list[ProgressEvent]]:
    request = OptimizeRequest(
        model_path=model,
        constraints=Constraints(
            budget=Budget(max_attempts=BUDGET),
            max_accuracy_drop=1.0,
            objective="size",
            target="onnxruntime",
        ),
        out_dir=root / f"out{workers}",
        latency_runs=5,
        search_workers=workers,
        model_memory=False,
        max_eval_samples=256,
    )
    events: list[ProgressEvent] = []
    settings = Settings(workspace=root / f"ws{workers}", num_threads=1)
    return run_optimize(request, settings=settings, sink=events.append), events


@pytest.fixture(scope="module")
def runs(tiny_onnx: Path, tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("runs")
    return {workers: _run(tiny_onnx, root, workers) for workers in (1, 2)}


_TIMING = re.compile(r"p50 [0-9.e+-]+( → [0-9.e+-]+)? ms")


def _sequence(report: OptimizeReport) -> list[tuple[object, ...]]:
    return [
        (
            a.index,
            a.step_id,
            a.technique,
            a.config,
            a.status,
            a.parent_version,
            a.version,
            _TIMING.sub("p50 … ms", a.reason or ""),
            a.error,
        )
        for a in report.attempts
    ]


def test_two_workers_search_exactly_as_one(runs) -> None:  # type: ignore[no-untyped-def]
    (one, _), (two, events) = runs[1], runs[2]
    assert _sequence(two) == _sequence(one)
    assert one.best is not None and two.best is not None
    assert (two.best.id, two.best.technique) == (one.best.id, one.best.technique)
    # The same versions, byte for byte: the artifacts came back from the workers as files.
    assert [(v.id, v.parent, v.technique, v.sha256) for v in two.versions] == [
        (v.id, v.parent, v.technique, v.sha256) for v in one.versions
    ]
    assert one.status == two.status
    assert any("in parallel" in e.message for e in events)  # the workers did run


def test_budget_bounds_what_the_workers_prepare(runs) -> None:  # type: ignore[no-untyped-def]
    report, events = runs[2]
    tried = [a for a in report.attempts if a.status is not StepStatus.SKIPPED]
    assert len(tried) == BUDGET
    prepared = [
        name.strip()
        for e in events
        if " in parallel (" in e.message
        for name in e.message.split(": preparing ")[1].split(" in parallel")[0].split(",")
    ]
    # No candidate beyond the attempt budget was ever started in a worker.
    assert 0 < len(prepared) <= BUDGET
    assert any("budget spent" in e.message for e in events)


def test_invalid_worker_counts_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, tiny_onnx: Path
) -> None:
    monkeypatch.setenv("EAA_SEARCH_WORKERS", "0")
    with pytest.raises(ConfigError, match="EAA_SEARCH_WORKERS") as info:
        get_settings()
    assert "EAA_SEARCH_WORKERS" in info.value.hint
    with pytest.raises(ValidationError, match="search_workers"):
        OptimizeRequest(
            model_path=tiny_onnx, constraints=Constraints(max_size_mb=1), search_workers=0
        )
    from embodied_ai_architect.cli.app import build_app

    monkeypatch.delenv("EAA_SEARCH_WORKERS")
    result = CliRunner().invoke(
        build_app(), ["optimize", str(tiny_onnx), "--max-size", "1", "--search-workers", "0"]
    )
    assert result.exit_code == 2 and "--search-workers" in result.output


def test_a_worker_error_comes_back_as_the_same_error() -> None:
    failed = PrepareOutcome(
        error=TechniqueError(
            "quantization failed", "try fp16", {"op": "Conv"}, field="precision"
        ).to_dict(),
        error_type="TechniqueError",
        error_stage="apply",
    )
    exc = failed.exception()
    assert isinstance(exc, TechniqueError)
    assert exc.to_dict() == failed.error
    # Not one of ours: the text is kept as the worker wrote it (``Type: message``).
    other = PrepareOutcome(error={"message": "ValueError: bad axis"}, error_stage="measure")
    rebuilt = other.exception()
    assert isinstance(rebuilt, RemoteFailure) and str(rebuilt) == "ValueError: bad axis"


def _nas(workdir: Path, parallel_trials: int) -> tuple[object, list[dict[str, object]]]:
    import json

    import torch

    from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
    from embodied_ai_architect.data.calibration import random_provider
    from embodied_ai_architect.modelio.torch_io import handle_from_module
    from embodied_ai_architect.testing.models import MLPPolicy

    torch.manual_seed(0)
    handle = handle_from_module(MLPPolicy(hidden=64, depth=2), name="policy")
    ctx = TechniqueContext(
        workdir=workdir, calibration=random_provider(handle.inputs, num_samples=128), threads=1
    )
    config = {
        "max_params": 3000,
        "n_trials": 4,
        "space": {"hidden": [8, 16, 32, 64, 128], "depth": [1, 2, 3]},
        "distill": {"epochs": 2, "lr": 0.01},
        "parallel_trials": parallel_trials,
    }
    result = apply_technique("nas_search", handle, ctx, config)
    return result, json.loads((workdir / "trials.json").read_text())


@pytest.mark.slow  # spawns torch workers: ~20 s on an idle 2-core host, more when loaded
def test_nas_trials_run_in_parallel_batches(tmp_path: Path) -> None:
    result, trials = _nas(tmp_path / "a", 2)
    assert [t["number"] for t in trials] == [0, 1, 2, 3]  # recorded in trial-number order
    completed = [t for t in trials if t["status"] == "complete"]
    assert completed and all(t["params"] <= 3000 for t in completed)
    # Distilled in worker processes: each trained student came back as a file.
    for t in completed:
        assert (tmp_path / "a" / "trials" / f"trial_{t['number']}_trained.pt").is_file()
    assert result.metrics["best_score"] == max(t["score"] for t in completed)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_nas_parallel_trials_are_deterministic(tmp_path: Path) -> None:
    _, first = _nas(tmp_path / "a", 2)
    _, second = _nas(tmp_path / "b", 2)
    assert [(t["arch"], t["status"], t.get("score")) for t in first] == [
        (t["arch"], t["status"], t.get("score")) for t in second
    ]


@pytest.mark.slow  # starts a local Ray instance (~15 s)
def test_ray_tasks_search_exactly_as_one_process(runs, tiny_onnx: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ray = pytest.importorskip("ray")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, address="local")
    try:
        request = OptimizeRequest(
            model_path=tiny_onnx,
            constraints=Constraints(
                budget=Budget(max_attempts=BUDGET),
                max_accuracy_drop=1.0,
                objective="size",
                target="onnxruntime",
            ),
            out_dir=tmp_path / "out",
            latency_runs=5,
            search_workers=2,
            model_memory=False,
            max_eval_samples=256,
        )
        events: list[ProgressEvent] = []
        settings = Settings(workspace=tmp_path / "ws", num_threads=1, executor="ray")
        report = run_optimize(request, settings=settings, sink=events.append)
    finally:
        if started_here:
            ray.shutdown()
    assert any("Ray tasks" in e.message for e in events)
    assert _sequence(report) == _sequence(runs[1][0])
    assert [v.sha256 for v in report.versions] == [v.sha256 for v in runs[1][0].versions]
