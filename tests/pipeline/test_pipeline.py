"""The optimize pipeline end to end on a real (tiny) CNN with real techniques and measurements."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from embodied_ai_architect.agents.optimization.base import TECHNIQUES, load_techniques
from embodied_ai_architect.application.runs import list_runs
from embodied_ai_architect.errors import ConstraintError, PlanningError
from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.pipeline.history import load_report, restore_version
from embodied_ai_architect.schemas.constraints import Budget, Constraints
from embodied_ai_architect.schemas.progress import EventKind, ProgressEvent
from embodied_ai_architect.schemas.results import OptimizeReport, OptimizeRequest, StepStatus
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import sha256_file
from embodied_ai_architect.store.repo import history, jobs
from embodied_ai_architect.store.repo import versions as version_repo


def _request(model: Path, load_options, out: Path, **constraints: object) -> OptimizeRequest:  # type: ignore[no-untyped-def]
    budget = constraints.pop("budget", Budget(max_attempts=4))
    return OptimizeRequest(
        model_path=model,
        load_options=load_options,
        constraints=Constraints(budget=budget, **constraints),  # type: ignore[arg-type]
        out_dir=out,
        latency_runs=5,
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory, make_tiny_cnn):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("run")
    model, options = make_tiny_cnn(root / "model")
    settings = Settings(workspace=root / "ws", num_threads=1)
    events: list[ProgressEvent] = []
    report = run_optimize(
        _request(model, options, root / "out", max_accuracy_drop=1.0),
        settings=settings,
        sink=events.append,
    )
    return report, events, settings


def test_report_versions_and_verdicts(finished) -> None:  # type: ignore[no-untyped-def]
    report, _, _ = finished
    assert report.baseline.id == "v0" and report.baseline.parent is None
    assert report.baseline.metrics.accuracy == pytest.approx(1.0)  # fidelity of v0 to itself
    assert report.best is not None
    assert report.status.value == "succeeded"
    assert all(v.passed for v in report.best_verdicts)
    assert report.chosen_plan is not None and report.plans[0] == report.chosen_plan
    tried = [a for a in report.attempts if a.status is not StepStatus.SKIPPED]
    assert 1 <= len(tried) <= 4  # the budget
    ids = [v.id for v in report.versions]
    assert ids == [f"v{i}" for i in range(len(ids))]
    for version in report.versions[1:]:
        assert version.parent in ids and version.technique
        attempt = next(a for a in report.attempts if a.version == version.id)
        assert attempt.status is StepStatus.ACCEPTED and attempt.metrics == version.metrics
    for attempt in report.attempts:
        assert attempt.status is not StepStatus.PENDING
        assert attempt.reason
    assert any(p.on_front for p in report.points)
    assert report.environment.threads == 1 and report.environment.packages["torch"]
    assert report.timings.total_s >= report.timings.technique_s + report.timings.measurement_s


def test_reports_written_and_self_contained(finished) -> None:  # type: ignore[no-untyped-def]
    report, _, _ = finished
    data = json.loads(report.artifacts["report_json"].read_text())
    assert OptimizeReport.model_validate(data).run_id == report.run_id
    html = report.artifacts["report_html"].read_text()
    assert html.count("<svg") >= 1 and "Pareto set" in html
    assert "<circle" in html and "v0" in html  # every version is a labelled point
    assert "<script src=" not in html and "http://" not in html
    if report.best is not None and report.best.id != "v0":
        assert sha256_file(report.artifacts["model"]) == report.best.sha256


def test_progress_milestones_and_ordered_events_in_store(finished) -> None:  # type: ignore[no-untyped-def]
    report, events, settings = finished
    percents = [e.percent for e in events]
    assert percents == sorted(percents)
    for mark in (0, 25, 50, 75, 100):
        assert mark in percents
    assert events[-1].kind is EventKind.RESULT
    assert any(e.kind is EventKind.DECISION and e.stage == "planning" for e in events)
    db = Database.from_settings(settings)
    with db.session() as session:
        job = jobs.get_job(session, job_id=report.run_id)
        assert job.status.value == "succeeded"
        attempts = history.list_attempts(session, job_id=report.run_id)
        assert len(attempts) == len(report.attempts)
        assert all(a.environment["seed"] == 0 for a in attempts)
        plans = history.list_plans(session, job_id=report.run_id)
        assert [s.position for s in plans[0].steps] == list(range(len(report.chosen_plan.steps)))
        rows, _ = version_repo.list_versions(session, model_id=report.model_id)
        assert [r.artifact_sha256 for r in rows] == [v.sha256 for v in report.versions]
        skills = history.list_skills(session, target="cpu")
        assert len(skills) == len(report.attempts)


def test_runs_history_and_restore(finished, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report, _, settings = finished
    assert report.run_id in [r.run_id for r in list_runs(Database.from_settings(settings))]
    assert load_report(settings, report.run_id[:8]).run_id == report.run_id
    restored = restore_version(settings, report.run_id, "v0", out=tmp_path / "v0.pt")
    assert sha256_file(restored.path) == report.baseline.sha256
    assert restored.store_version == len(report.versions)  # restore = a new version row


def test_invalid_constraints_stop_before_anything_runs(tiny_cnn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, options = tiny_cnn
    with pytest.raises(ConstraintError):
        OptimizeRequest(
            model_path=model,
            load_options=options,
            constraints={"max_size_mb": -3},  # type: ignore[arg-type]
        )
    request = _request(model, options, tmp_path / "out", min_accuracy=0.9)
    with pytest.raises(ConstraintError, match="labelled"):
        run_optimize(request, settings=Settings(workspace=tmp_path / "ws"))


def test_unreachable_constraints_stop_early_with_evidence(tiny_cnn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, options = tiny_cnn
    settings = Settings(workspace=tmp_path / "ws", num_threads=1)
    request = _request(model, options, tmp_path / "out", max_latency_ms=1e-5, max_accuracy_drop=1)
    with pytest.raises(PlanningError) as info:
        run_optimize(request, settings=settings)
    evidence = info.value.details["evidence"]
    assert any("most aggressive plan" in e and "× the 1e-05 ms limit" in e for e in evidence)
    report = OptimizeReport.model_validate_json(Path(info.value.details["report"]).read_text())
    assert report.status.value == "unreachable" and not report.attempts and report.best is None
    with Database.from_settings(settings).session() as session:
        assert jobs.get_job(session, job_id=report.run_id).status.value == "failed"


def test_failure_inside_a_technique_is_recorded_and_rolled_back(
    tiny_cnn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    model, options = tiny_cnn
    load_techniques()
    victim = "fold_batchnorm"  # the first candidate of the plan for a torch CNN
    spec = TECHNIQUES.get(victim)

    def explode(handle, config, ctx):  # type: ignore[no-untyped-def]
        # Write a half artifact first: it must never be registered.
        ctx.path("half_written.onnx").write_bytes(b"\x08\x01garbage")
        raise RuntimeError("simulated crash inside the technique")

    monkeypatch.setitem(TECHNIQUES._entries, victim, dataclasses.replace(spec, apply=explode))
    settings = Settings(workspace=tmp_path / "ws", num_threads=1)
    report = run_optimize(
        _request(
            model,
            options,
            tmp_path / "out",
            max_accuracy_drop=1.0,
            budget=Budget(max_attempts=3),
        ),
        settings=settings,
    )
    failed = [a for a in report.attempts if a.technique == victim]
    assert failed and failed[0].status is StepStatus.FAILED
    assert "simulated crash" in failed[0].error["message"]
    assert failed[0].reason.startswith(f"failed, rolled back to {failed[0].parent_version}")
    # The run went on after the failure, from the same parent.
    later = [a for a in report.attempts if a.index > failed[0].index]
    assert later and all(a.parent_version == failed[0].parent_version for a in later[:1])
    # Every registered version is intact; no half-written file became a version.
    for version in report.versions:
        assert sha256_file(Path(version.path)) == version.sha256
        assert "half_written" not in str(version.path)
    assert not any(v.technique == victim for v in report.versions)
    with Database.from_settings(settings).session() as session:
        rows = history.list_attempts(session, job_id=report.run_id)
        row = next(r for r in rows if r.technique == victim)
        assert row.passed is False and "simulated crash" in (row.error or "")
