"""A local job worker leaves the API its share of the CPU: niceness that holds across its own
session (autogroup scheduling) and, with EAA_JOB_CPUS, only the CPUs it was given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.workers import child
from embodied_ai_architect.workers.child import JOB_NICENESS, autogroup_nice
from embodied_ai_architect.workers.limits import ResourceLimits

from .test_service import db, make_service, wait_for

__all__ = ["db"]  # the fixture, shared with test_service


@pytest.mark.parametrize(
    ("text", "expected"), [("/autogroup-7 nice 3\n", 3), ("", 0), ("garbled", None)]
)
def test_autogroup_file_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: int | None
) -> None:
    # A session never moved out of the root group (a container's init session) reads empty.
    fake = tmp_path / "autogroup"
    fake.write_text(text)
    monkeypatch.setattr(child, "_AUTOGROUP", fake)
    assert autogroup_nice() == expected
    monkeypatch.setattr(child, "_AUTOGROUP", tmp_path / "missing")
    assert autogroup_nice() is None


def test_worker_is_niced_in_its_own_session_and_pinned_to_job_cpus(
    db: Database, isolated_workspace: Path
) -> None:
    last_cpu = max(os.sched_getaffinity(0))
    service = make_service(db, isolated_workspace, "cpu_share", job_cpus=str(last_cpu))
    service.start()
    try:
        row = service.submit(kind=JobKind.ANALYZE, request={})
        done = wait_for(db, row.id, {JobStatus.SUCCEEDED, JobStatus.FAILED})
    finally:
        service.stop()
    assert done.status is JobStatus.SUCCEEDED, done.error
    facts = done.result
    assert facts["sid"] == facts["pid"]  # its own session: cancel kills its whole group
    assert facts["nice"] == min(19, os.nice(0) + JOB_NICENESS)
    assert facts["cpus"] == [last_cpu]
    # A new session is a new scheduling group, niced relative to ours (the root group, whose
    # file reads empty, weighs as nice 0). Kernels without autogroup have nothing to nice.
    ours = autogroup_nice()
    if ours is None:
        assert facts["autogroup_nice"] is None
    else:
        assert facts["autogroup_nice"] == min(19, ours + JOB_NICENESS)


def test_job_cpus_lists_and_ranges() -> None:
    assert Settings(job_cpus="0-2,5").job_cpu_set == frozenset({0, 1, 2, 5})
    assert Settings().job_cpu_set is None
    with pytest.raises(ValidationError, match="job_cpus"):
        Settings(job_cpus="0;1")


def test_job_cpus_this_host_lacks_stop_the_server_at_start() -> None:
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ConfigError, match=f"EAA_JOB_CPUS={missing}") as raised:
        ResourceLimits.from_settings(Settings(job_cpus=str(missing)))
    assert "subset" in raised.value.hint
    with pytest.raises(ConfigError):  # an empty range names no CPU at all
        ResourceLimits.from_settings(Settings(job_cpus="1-0"))


def test_a_spawned_worker_is_niced_before_its_imports_run(isolated_workspace: Path) -> None:
    """The interpreter start-up and imports before child_main (~0.25 s of CPU) must not run at
    the server's priority: the executor lowers it as soon as the process exists."""
    from embodied_ai_architect.workers.executor import LocalProcessExecutor
    from embodied_ai_architect.workers.protocol import JobSpec

    settings = Settings(workspace=isolated_workspace)
    spec = JobSpec(
        job_id="0" * 32,
        kind=JobKind.ANALYZE,
        request={"seconds": 30},
        settings=settings,
        handler="tests.workers.job_bodies:sleeper",
        limits=ResourceLimits.from_settings(settings),
    )
    handle = LocalProcessExecutor(capacity=1).launch(spec)
    try:
        assert handle.pid is not None
        # Read at once: the child is still importing, far from child_main.
        assert os.getpriority(os.PRIO_PROCESS, handle.pid) == min(19, os.nice(0) + JOB_NICENESS)
    finally:
        handle.terminate(grace_s=1)
