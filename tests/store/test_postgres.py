"""The store, its migrations, the job service and restart recovery on a real PostgreSQL server.

The same scenarios as on SQLite (test_store.py, workers/test_service.py) run here against a
throwaway cluster (see postgres.py). Skipped when Debian's postgresql package is absent
(`make setup` installs it as root).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from api import test_job_pages  # tests/ is on sys.path (rootdir conftest)
from embodied_ai_architect.errors import DependencyError
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.db import postgres_driver_url
from embodied_ai_architect.store.migrate import alembic_config, current_revision, table_names

from . import test_job_summaries
from . import test_store as store_scenarios
from .postgres import PostgresCluster

pytest.importorskip("psycopg")


def test_postgres_urls_use_psycopg3() -> None:
    assert postgres_driver_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert postgres_driver_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert postgres_driver_url("sqlite:///x.db") == "sqlite:///x.db"


def test_engine_is_postgres_and_migrations_reach_head(pg_db: Database) -> None:
    assert pg_db.engine.dialect.name == "postgresql" and not pg_db.is_sqlite
    with pg_db.engine.connect() as connection:
        assert connection.execute(text("select version()")).scalar_one().startswith("PostgreSQL")
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(pg_db.engine) == head
    assert {"models", "model_versions", "jobs", "events", "attempts", "skills"} <= set(
        table_names(pg_db.engine)
    )
    columns = {c["name"] for c in inspect(pg_db.engine).get_columns("jobs")}
    assert {"executor", "worker_node", "worker_id"} <= columns
    assert "ix_jobs_created_id" in {i["name"] for i in inspect(pg_db.engine).get_indexes("jobs")}
    steps = {c["name"]: c["type"] for c in inspect(pg_db.engine).get_columns("plan_steps")}
    assert str(steps["technique"]) == "TEXT"  # alternatives 'a | b | ...' exceed 64 characters
    # Down one step and up again: the placement migration is reversible on PostgreSQL too.
    from alembic import command

    config = alembic_config()
    with pg_db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")  # through 0003 and 0002
    assert "executor" not in {c["name"] for c in inspect(pg_db.engine).get_columns("jobs")}
    pg_db.upgrade()
    assert current_revision(pg_db.engine) == head


STORE_SCENARIOS: list[Callable[[Database], None]] = [
    store_scenarios.test_versions_are_numbered_linked_and_immutable,
    store_scenarios.test_parent_from_other_model_is_refused,
    store_scenarios.test_job_transitions_are_guarded,
    store_scenarios.test_restart_recovery_interrupts_running_and_keeps_queue,
    store_scenarios.test_list_jobs_filters_and_paginates,
    store_scenarios.test_events_keep_order_and_round_trip,
    store_scenarios.test_history_plans_attempts_skills,
    store_scenarios.test_deleting_a_model_cascades_to_versions,
    store_scenarios.test_concurrent_writers_do_not_fail,
    test_job_summaries.test_summaries_match_rows_without_results,
    test_job_pages.test_pages_equal_the_model_dump_and_follow_every_change,
]


@pytest.mark.parametrize("scenario", STORE_SCENARIOS, ids=lambda f: f.__name__[5:])
def test_store_scenario_on_postgres(pg_db: Database, scenario: Callable[[Database], None]) -> None:
    scenario(pg_db)


def _service_scenarios() -> list[Callable[..., Any]]:
    from workers import test_service  # tests/ is on sys.path (rootdir conftest)

    return [
        test_service.test_job_runs_in_another_process_and_events_are_stored_in_order,
        test_service.test_killed_worker_marks_job_failed_with_reason,
        test_service.test_cancel_terminates_the_worker,
        test_service.test_restart_resumes_queue_and_interrupts_orphans,
    ]


@pytest.mark.parametrize("scenario", _service_scenarios(), ids=lambda f: f.__name__[5:])
def test_service_scenario_on_postgres(
    pg_db: Database, isolated_workspace: Path, scenario: Callable[..., None]
) -> None:
    """Real spawned workers; the supervisor writes jobs and events to PostgreSQL."""
    scenario(pg_db, isolated_workspace)


def test_missing_driver_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an uninstalled package looks like
    with pytest.raises(DependencyError, match=r"embodied-ai-architect\[postgres\]"):
        postgres_driver_url("postgresql://u@h/db")


@pytest.mark.slow  # ~30 s: a real optimize job (it found plan steps overflowing VARCHAR(64))
def test_optimize_job_records_its_run_in_postgres(cluster: PostgresCluster, tmp_path: Path) -> None:
    """The real handler in a real worker: the pipeline writes plans, attempts and versions to
    PostgreSQL from the worker process (EAA_DATABASE_URL), the service its events."""
    import time

    from api.live import tiny_onnx_bytes  # tests/ is on sys.path (rootdir conftest)
    from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
    from embodied_ai_architect.settings import Settings
    from embodied_ai_architect.store.artifacts import ArtifactStore
    from embodied_ai_architect.store.repo import events, history, jobs, models, versions
    from embodied_ai_architect.workers.service import JobService

    settings = Settings(workspace=tmp_path / "ws", database_url=cluster.new_database(), workers=1)
    db = Database.from_settings(settings)
    db.upgrade()
    ref = ArtifactStore(settings.ensure_workspace()).put_bytes(
        tiny_onnx_bytes(seed=3), scope="uploads", suffix=".onnx"
    )
    with db.session() as session:
        model = models.create_model(
            session,
            name="policy.onnx",
            format="onnx",
            sha256=ref.sha256,
            size_bytes=ref.size_bytes,
            path=ref.path,
        )
        versions.create_version(
            session, model_id=model.id, artifact_sha256=ref.sha256, artifact_path=ref.path
        )
    service = JobService(db=db, settings=settings, poll_interval_s=0.05)
    service.start()
    try:
        request = {
            "model_id": model.id,
            "constraints": {"max_accuracy_drop": 1},
            "latency_runs": 5,
            "max_eval_samples": 16,
        }
        job_id = service.submit(kind=JobKind.OPTIMIZE, request=request, model_id=model.id).id
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with db.session() as session:
                job = jobs.get_job(session, job_id=job_id)
            if job.status.terminal:
                break
            time.sleep(0.2)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.executor == "local" and job.worker_id is not None
        with db.session() as session:
            stored = events.list_events(session, job_id=job_id)
            attempts = history.list_attempts(session, job_id=job_id)
            rows, count = versions.list_versions(session, model_id=model.id)
        assert [e.seq for e in stored] == list(range(len(stored))) and stored[-1].percent == 100
        assert attempts and len(job.result["attempts"]) == len(attempts)
        assert (
            [r.version for r in rows]
            == list(range(count))
            == list(range(len(job.result["versions"])))
        )
    finally:
        service.stop()
        db.dispose()
