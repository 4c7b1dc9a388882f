"""A version's declared intra-op thread count (ort_threads) is honoured wherever the run
measures it or reopens it: the measurement cache, interleaved re-timing, search workers' handle
references and the version registry (real ORT, real SQLite; no timing assertions)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.agents.optimization.test_ort_threads import export_policy, intra_op

from embodied_ai_architect.modelio.handle import OnnxModelHandle
from embodied_ai_architect.modelio.onnx_io import (
    DECLARED_THREADS,
    declare_threads,
    declared_threads,
)
from embodied_ai_architect.pipeline.bus import EventBus
from embodied_ai_architect.pipeline.parallel import HandleRef
from embodied_ai_architect.pipeline.retime import retimed
from embodied_ai_architect.pipeline.state import RunState
from embodied_ai_architect.pipeline.versions import VersionRegistry
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.schemas.results import OptimizeRequest
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import ArtifactStore
from embodied_ai_architect.store.repo import jobs as job_repo
from embodied_ai_architect.store.repo import models as model_repo


@pytest.fixture
def policy(tmp_path: Path) -> OnnxModelHandle:
    return export_policy(tmp_path)


@pytest.fixture
def state(tmp_path: Path, policy: OnnxModelHandle) -> RunState:
    request = OptimizeRequest(
        model_path=policy.onnx_path, constraints=Constraints(max_accuracy_drop=2), latency_runs=5
    )
    run = RunState(request, Settings(workspace=tmp_path / "ws", num_threads=2), EventBus())
    run.workdir = tmp_path
    return run


def test_the_same_file_with_fewer_threads_is_measured_not_read_from_the_cache(
    state: RunState, policy: OnnxModelHandle
) -> None:
    parent = state.measure(policy, policy.onnx_path)
    child = state.measure(declare_threads(policy, 1), policy.onnx_path)
    assert parent.threads == 2 and child.threads == 1
    assert child.measure_seconds > 0  # taken, not the parent's cached figures


def test_interleaved_retiming_runs_each_version_with_its_own_count(
    state: RunState, policy: OnnxModelHandle
) -> None:
    parent = state.measure(policy, policy.onnx_path)
    child = state.measure(declare_threads(policy, 1), policy.onnx_path)
    run: Any = SimpleNamespace(
        threads=2, bus=state.bus, timings=state.timings, bus_percent=lambda: 50.0
    )
    figures = retimed(run, ["v1", "v2"], [policy, declare_threads(policy, 1)], [parent, child])
    assert figures is not None
    assert [m.threads for m in figures] == [2, 1]


def test_a_search_worker_reference_reopens_the_declared_count(
    state: RunState, policy: OnnxModelHandle
) -> None:
    ref = HandleRef.of(declare_threads(policy, 1), kind="onnx", path=policy.onnx_path)
    reopened = ref.model_validate_json(ref.model_dump_json()).open(state.request, threads=2)
    assert intra_op(reopened) == 1
    plain = HandleRef.of(policy, kind="onnx", path=policy.onnx_path).open(state.request, 2)
    assert intra_op(plain) == 2


def empty_registry(tmp_path: Path, model: Path) -> tuple[Database, VersionRegistry]:
    """A real SQLite database with ``model`` uploaded and one optimize job, and its (empty)
    version registry."""
    db = Database(f"sqlite:///{tmp_path / 'branes.db'}")
    db.upgrade()
    with db.session() as session:
        model_id = model_repo.create_model(
            session,
            name="policy",
            format="onnx",
            sha256="0" * 64,
            size_bytes=model.stat().st_size,
            path=str(model),
        ).id
        job_repo.create_job(session, kind=JobKind.OPTIMIZE, request={}, job_id="job")
    registry = VersionRegistry(
        db, ArtifactStore(tmp_path / "store", remote=None), model_id=model_id, job_id="job"
    )
    return db, registry


def test_the_registry_reloads_a_version_with_its_declared_count(
    tmp_path: Path, state: RunState, policy: OnnxModelHandle
) -> None:
    db, registry = empty_registry(tmp_path, policy.onnx_path)
    metrics = state.measure(policy, policy.onnx_path)
    registry.register(
        policy, policy.onnx_path, parent=None, technique=None, config={}, metrics=metrics
    )
    registry.register(
        declare_threads(policy, 1),
        policy.onnx_path,
        parent="v0",
        technique="ort_threads",
        config={DECLARED_THREADS: 1},
        metrics=metrics.model_copy(update={"threads": 1}),
    )
    # A registry that has not held the handles (another process, a later deploy) reloads them
    # from the stored artifact and record.
    reopened = VersionRegistry(db, registry.artifacts, model_id=registry.model_id, job_id="job")
    reopened._records = dict(registry._records)
    assert intra_op(reopened.handle("v1")) == 1
    assert declared_threads(reopened.handle("v0")) is None  # v0 declares nothing
    db.dispose()
