"""The same JobService on Ray (optional `ray` extra): a real analyze job as a Ray task."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.repo import events, jobs
from embodied_ai_architect.workers.service import JobService

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def test_analyze_job_runs_as_a_ray_task(isolated_workspace: Path) -> None:
    from embodied_ai_architect.workers.ray_executor import RayExecutor

    settings = Settings(workspace=isolated_workspace, workers=1)
    db = Database.from_settings(settings)
    db.upgrade()
    executor = RayExecutor(1, init_kwargs={"num_cpus": 2})
    service = JobService(db=db, settings=settings, executor=executor, poll_interval_s=0.05)
    service.start()
    try:
        row = service.submit(
            kind=JobKind.ANALYZE,
            request={"example": "mlp_policy", "measure_latency": False, "sensitivity_top_k": 0},
        )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with db.session() as session:
                job = jobs.get_job(session, job_id=row.id)
            if job.status.terminal:
                break
            time.sleep(0.2)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.result is not None and job.result["parameters"] > 0
        with db.session() as session:
            stored = events.list_events(session, job_id=row.id)
        assert [e.seq for e in stored] == list(range(len(stored))) and stored[-1].percent == 100
    finally:
        service.stop()
        db.dispose()
