"""One get-run / compare for every face, over verdicts stored when the run ended.

A real (tiny) optimize run writes the store; the application layer, REST (in-process ASGI),
the LLM ``get_run`` tool and ``branes runs show --json`` must then tell the same story, read
from the stored verdicts (never judged again), and say "not recorded" for rows without them.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from embodied_ai_architect.agents.evaluation.criteria import judge
from embodied_ai_architect.application import runs
from embodied_ai_architect.errors import NotFoundError, StoreError
from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.schemas.constraints import Budget, Constraints
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.results import OptimizeReport, OptimizeRequest
from embodied_ai_architect.schemas.runs import NOT_RECORDED
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.repo import versions as version_repo

ARCH_KWARGS = {"in_channels": 1, "image_size": 8, "num_classes": 10, "width": 8}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):  # type: ignore[no-untyped-def]
    import torch

    from embodied_ai_architect.testing.models import SmallCNN

    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = root / "tiny_cnn.pt"
    torch.save(SmallCNN(**ARCH_KWARGS).state_dict(), model)
    options = LoadOptions(
        arch="embodied_ai_architect.testing.models:SmallCNN", arch_kwargs=dict(ARCH_KWARGS)
    )
    settings = Settings(workspace=root / "ws", num_threads=1)
    request = OptimizeRequest(
        model_path=model,
        load_options=options,
        constraints=Constraints(max_accuracy_drop=1.0, budget=Budget(max_attempts=1)),
        out_dir=root / "out",
        latency_runs=5,
        max_eval_samples=32,
        model_memory=True,  # a fresh process per model: the footprint every face must show
    )
    report = run_optimize(request, settings=settings, sink=lambda event: None)
    return report, settings


def _db(settings: Settings) -> Database:
    db = Database.from_settings(settings)
    db.upgrade()
    return db


def test_verdicts_are_stored_once_on_the_versions_the_run_made(finished) -> None:  # type: ignore[no-untyped-def]
    report, settings = finished
    constraints = report.request.constraints
    db = _db(settings)
    view = runs.get_run(db, report.run_id)
    assert [v.label for v in view.versions] == [v.id for v in report.versions]
    by_label = {v.label: v for v in view.versions}
    for record in report.versions:
        stored = by_label[record.id]
        assert stored.verdicts is not None and stored.verdict_status != NOT_RECORDED
        # Judged on the final figures (re-timed for the choice), which the row keeps beside them.
        assert stored.judged_metrics == record.metrics.model_dump(mode="json")
        assert stored.verdicts == judge(constraints, report.baseline.metrics, record.metrics)
    assert report.best is not None and view.chosen == report.best.id
    assert view.verdicts == report.best_verdicts and view.verdicts_note == ""
    # Written once: a second write is refused, by the repository and by the row guard.
    with db.session() as session, pytest.raises(StoreError, match="already has verdicts"):
        version_repo.record_verdicts(
            session, version_id=by_label["v0"].id, verdicts=[], judged_metrics={}
        )
    with pytest.raises(StoreError, match="immutable"), db.session() as session:
        row = version_repo.get_version(session, version_id=by_label["v0"].id)
        row.verdicts = []
    db.dispose()


def _same_story(payload: dict[str, Any], report: OptimizeReport) -> None:
    assert payload["run_id"] == report.run_id and payload["status"] == "succeeded"
    assert report.best is not None and payload["chosen"] == report.best.id
    assert payload["verdicts"] == [v.model_dump(mode="json") for v in report.best_verdicts]
    assert [v["version"] for v in payload["versions"]] == [int(v.id[1:]) for v in report.versions]
    assert all(v["verdicts"] is not None for v in payload["versions"])
    assert [a["technique"] for a in payload["attempts"]] == [a.technique for a in report.attempts]
    assert payload["summary"] == report.summary
    # The figures to trust: held-out score and own memory, for v0 and the chosen version.
    assert report.held_out is not None and report.memory is not None
    assert payload["held_out"] == report.held_out.model_dump(mode="json")
    assert payload["memory"] == report.memory.model_dump(mode="json")
    assert payload["held_out"]["samples"] > 0 and payload["memory"]["best_mb"] > 0


def test_every_face_returns_the_same_run(  # type: ignore[no-untyped-def]
    finished, branes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from embodied_ai_architect.api.app import create_app
    from embodied_ai_architect.llm.tools import create_tool_executors

    report, settings = finished
    monkeypatch.setenv("EAA_WORKSPACE", str(settings.workspace))
    db = _db(settings)
    library = json.loads(runs.get_run(db, report.run_id[:10]).model_dump_json())
    _same_story(library, report)

    tool = create_tool_executors()["get_run"](run_id=report.run_id)
    assert tool == library  # the LLM tool returns the application layer's result as it is

    shown = branes("runs", "show", report.run_id[:10], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == library
    table = branes("runs", "show", report.run_id[:10])
    assert "before / after" in table.stdout and "verdicts" in table.stdout
    held = report.held_out
    assert f"held-out {held.metric} ({held.samples} samples)" in table.stdout
    assert f"{held.baseline:.2%}" in table.stdout and f"{held.best:.2%}" in table.stdout
    assert "own memory (MB)" in table.stdout
    assert f"{report.memory.best_mb:.1f}" in table.stdout

    with TestClient(create_app(settings, start_workers=False)) as client:
        rest = client.get(f"/api/v1/runs/{report.run_id}").json()
        compared = client.get(
            "/api/v1/runs/compare", params={"a": report.run_id, "b": report.run_id}
        ).json()
    _same_story(rest, report)
    # REST adds the job record of jobs it queued; this run came from a library call.
    assert rest["job"] is None
    # The dashboard's fields are still there, with the same meaning.
    same = runs.compare_runs(db, report.run_id, report.run_id)
    assert same.a.best is not None
    assert compared["a"]["best"]["version"] == same.a.best.version
    assert same.a.best.version == int(report.versions[-1].id[1:])
    assert compared["a"]["attempts"] == same.a.attempts
    assert [d["metric"] for d in compared["metrics"]] == [d.metric for d in same.metrics]
    assert all(d["delta"] in (0, None) for d in compared["metrics"])
    assert compared["a"]["chosen"]["verdicts"] == library["verdicts"]
    db.dispose()


def test_rows_without_verdicts_read_not_recorded(finished, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report, settings = finished
    # A copy of the store in which the run's versions look like rows from before 0005.
    copy = tmp_path / "old.db"
    source = sqlite3.connect(settings.resolved_database_url.removeprefix("sqlite:///"))
    with closing(source), closing(sqlite3.connect(copy)) as target:
        source.backup(target)  # WAL-aware, unlike copying the file
    db = Database(f"sqlite:///{copy}")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE model_versions SET verdicts = NULL, judged_metrics = NULL "
                "WHERE job_id = :run"
            ),
            {"run": report.run_id},
        )
    view = runs.get_run(db, report.run_id)
    assert view.chosen is not None and view.verdicts is None
    assert view.verdicts_note.startswith(NOT_RECORDED) and "before verdicts were kept" in (
        view.verdicts_note
    )
    assert {v.verdict_status for v in view.versions} == {NOT_RECORDED}
    summary = runs.compare_runs(db, report.run_id, report.run_id).a
    assert summary.chosen is not None and summary.chosen.verdict_status == NOT_RECORDED
    db.dispose()


def test_unknown_and_ambiguous_run_ids(finished) -> None:  # type: ignore[no-untyped-def]
    _, settings = finished
    db = _db(settings)
    with pytest.raises(NotFoundError, match="no single optimize run") as caught:
        runs.get_run(db, "0" * 32)
    assert caught.value.hint
    with pytest.raises(NotFoundError, match="0 found"):
        runs.get_run(db, "zz")
    db.dispose()
