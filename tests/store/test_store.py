"""The store against a real SQLite file, migrated by Alembic."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from embodied_ai_architect.errors import InputError, NotFoundError, StoreError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.migrate import current_revision, table_names
from embodied_ai_architect.store.repo import events, history, jobs, models, versions


def _model(session, name: str = "m.onnx") -> int:  # type: ignore[no-untyped-def]
    row = models.create_model(
        session, name=name, format="onnx", sha256="a" * 64, size_bytes=10, path="runs/x/a"
    )
    return row.id


def test_migrations_create_every_table_in_wal_mode(db: Database, isolated_workspace: Path) -> None:
    assert current_revision(db.engine) is not None
    assert {
        "models",
        "model_versions",
        "jobs",
        "attempts",
        "events",
        "plans",
        "plan_steps",
        "skills",
        "alembic_version",
    } <= set(table_names(db.engine))
    raw = sqlite3.connect(isolated_workspace / "branes.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    db.upgrade()  # idempotent


def test_versions_are_numbered_linked_and_immutable(db: Database) -> None:
    with db.session() as session:
        model_id = _model(session)
        v0 = versions.create_version(
            session, model_id=model_id, artifact_sha256="a" * 64, artifact_path="p0"
        )
        v1 = versions.create_version(
            session,
            model_id=model_id,
            parent_id=v0.id,
            technique="int8",
            artifact_sha256="b" * 64,
            artifact_path="p1",
            metrics={"size_mb": 1.5},
        )
        assert (v0.version, v1.version, v1.parent_id) == (0, 1, v0.id)
        restored = versions.restore_version(session, version_id=v0.id)
        assert restored.version == 2 and restored.artifact_sha256 == "a" * 64
        assert restored.parent_id == v0.id
    with pytest.raises(StoreError, match="immutable"), db.session() as session:
        row = versions.get_version(session, version_id=v1.id)
        row.metrics = {"size_mb": 0.1}
    with db.session() as session:
        assert versions.get_version(session, version_id=v1.id).metrics == {"size_mb": 1.5}
        rows, count = versions.list_versions(session, model_id=model_id)
        assert count == 3 and [r.version for r in rows] == [0, 1, 2]


def test_parent_from_other_model_is_refused(db: Database) -> None:
    with db.session() as session:
        a, b = _model(session, "a"), _model(session, "b")
        va = versions.create_version(
            session, model_id=a, artifact_sha256="a" * 64, artifact_path="p"
        )
        with pytest.raises(InputError):
            versions.create_version(
                session, model_id=b, parent_id=va.id, artifact_sha256="a" * 64, artifact_path="p"
            )


def test_job_transitions_are_guarded(db: Database) -> None:
    with db.session() as session:
        job = jobs.create_job(session, kind=JobKind.ANALYZE, request={"x": 1})
        assert job.status is JobStatus.QUEUED and job.created_at.tzinfo is not None
        assert jobs.mark_running(session, job_id=job.id, worker_pid=123)
        assert not jobs.mark_running(session, job_id=job.id, worker_pid=456)
        assert jobs.finish_job(session, job_id=job.id, status=JobStatus.SUCCEEDED, result={"ok": 1})
        # A late cancel must not overwrite the result.
        assert not jobs.finish_job(session, job_id=job.id, status=JobStatus.CANCELLED)
        row = jobs.get_job(session, job_id=job.id)
        assert (row.status, row.progress, row.result, row.worker_pid) == (
            JobStatus.SUCCEEDED,
            100.0,
            {"ok": 1},
            123,
        )


def test_restart_recovery_interrupts_running_and_keeps_queue(db: Database) -> None:
    with db.session() as session:
        running = jobs.create_job(session, kind=JobKind.ANALYZE, request={})
        jobs.mark_running(session, job_id=running.id, worker_pid=1)
        queued = jobs.create_job(session, kind=JobKind.ANALYZE, request={})
    with db.session() as session:
        assert jobs.interrupt_running(session, reason="server restarted") == [running.id]
        assert jobs.queued_job_ids(session) == [queued.id]
        row = jobs.get_job(session, job_id=running.id)
        assert row.status is JobStatus.INTERRUPTED and row.error is not None
        assert row.error["message"] == "server restarted"


def test_list_jobs_filters_and_paginates(db: Database) -> None:
    with db.session() as session:
        for _ in range(5):
            jobs.create_job(session, kind=JobKind.ANALYZE, request={})
        jobs.create_job(session, kind=JobKind.DEPLOY, request={})
        rows, count = jobs.list_jobs(session, kind=JobKind.ANALYZE, offset=1, limit=2)
        assert count == 5 and len(rows) == 2
        rows, count = jobs.list_jobs(session, status=JobStatus.FAILED)
        assert (rows, count) == ([], 0)
        with pytest.raises(InputError):
            jobs.list_jobs(session, limit=0)


def test_events_keep_order_and_round_trip(db: Database) -> None:
    with db.session() as session:
        job = jobs.create_job(session, kind=JobKind.ANALYZE, request={})
        for pct in (0, 25, 50, 75, 100):
            events.append_event(
                session,
                job_id=job.id,
                event=ProgressEvent(
                    percent=pct, stage="analysis", message=f"{pct}%", data={"p": pct}
                ),
            )
    with db.session() as session:
        rows = events.list_events(session, job_id=job.id)
        assert [r.seq for r in rows] == [0, 1, 2, 3, 4]
        assert [events.to_progress_event(r).percent for r in rows] == [0, 25, 50, 75, 100]
        assert [r.seq for r in events.list_events(session, job_id=job.id, after_seq=2)] == [3, 4]
        with pytest.raises(NotFoundError):
            events.list_events(session, job_id="nope")


def test_history_plans_attempts_skills(db: Database) -> None:
    with db.session() as session:
        job = jobs.create_job(session, kind=JobKind.OPTIMIZE, request={})
        plan = history.create_plan(
            session,
            job_id=job.id,
            rationale="latency first",
            steps=[
                {"technique": "int8", "rationale": "fast", "predicted_effect": {"speedup": 2}},
                {"technique": "prune"},
            ],
        )
        history.set_step_status(session, plan_id=plan.id, position=1, status="failed")
        history.record_attempt(
            session,
            job_id=job.id,
            step=0,
            technique="int8",
            passed=True,
            metrics={"p95_ms": 3.0},
            verdicts=[{"name": "latency", "passed": True}],
        )
        history.record_skill(
            session,
            family="cnn",
            target="onnxruntime",
            technique="int8",
            passed=True,
            effect={"speedup": 1.8},
            job_id=job.id,
        )
    with db.session() as session:
        (stored,) = history.list_plans(session, job_id=job.id)
        assert [s.status for s in stored.steps] == ["pending", "failed"]
        assert history.list_attempts(session, job_id=job.id)[0].metrics == {"p95_ms": 3.0}
        assert len(history.list_skills(session, family="cnn", target="onnxruntime")) == 1
        assert history.list_skills(session, family="vit") == []


def test_deleting_a_model_cascades_to_versions(db: Database) -> None:
    with db.session() as session:
        model_id = _model(session)
        versions.create_version(
            session, model_id=model_id, artifact_sha256="a" * 64, artifact_path="p"
        )
        models.delete_model(session, model_id=model_id)
    with db.session() as session, pytest.raises(NotFoundError):
        versions.list_versions(session, model_id=model_id)


def test_concurrent_writers_do_not_fail(db: Database) -> None:
    with db.session() as session:
        job_id = jobs.create_job(session, kind=JobKind.ANALYZE, request={}).id
    errors: list[BaseException] = []

    def write(n: int) -> None:
        other = Database(db.url)
        try:
            for i in range(10):
                with other.session() as session:
                    history.record_skill(
                        session,
                        family=f"f{n}",
                        target="t",
                        technique=str(i),
                        passed=True,
                        job_id=job_id,
                    )
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as session:
        assert len(history.list_skills(session)) == 40
