"""openvino_threads: an IR that records its OpenVINO thread count is compiled, measured, stored,
reloaded and shipped with it; session settings and clean-ups apply to the version itself, never
to an ancestor of another runtime (real OpenVINO, real ORT, real SQLite; no timing assertions)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tests.agents.optimization.test_ort_threads import export_policy
from tests.pipeline.test_declared_threads import empty_registry

from embodied_ai_architect.agents.deployment.targets.base import DeployContext
from embodied_ai_architect.agents.deployment.targets.openvino import OpenVinoTarget
from embodied_ai_architect.agents.evaluation.metrics import measure_version
from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.modelio.handle import OnnxModelHandle
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS, declared_threads
from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle, load_openvino
from embodied_ai_architect.pipeline.apply import inapplicable
from embodied_ai_architect.pipeline.versions import VersionRegistry, pack_artifact
from embodied_ai_architect.schemas.deployment import DeploymentArtifact, DeploymentPrecision
from embodied_ai_architect.schemas.results import StepCandidate

pytest.importorskip("openvino")


def compiled_threads(handle: OpenVinoModelHandle) -> int:
    """The INFERENCE_NUM_THREADS OpenVINO actually compiled the model with."""
    return int(handle.compiled_model().get_property("INFERENCE_NUM_THREADS"))


@pytest.fixture
def versions(tmp_path: Path) -> tuple[OnnxModelHandle, OpenVinoModelHandle, OpenVinoModelHandle]:
    """The policy as ONNX, its FP32 IR (2 threads) and that IR with one thread."""
    onnx = export_policy(tmp_path)
    ir = apply_technique(
        "openvino_ir", onnx, TechniqueContext(workdir=tmp_path / "ir", threads=2), {}
    ).handle
    one = apply_technique(
        "openvino_threads",
        ir,
        TechniqueContext(workdir=tmp_path / "one", threads=2),
        {DECLARED_THREADS: 1},
    )
    assert one.metrics["intra_op_threads_before"] == 2.0 and "2 → 1" in one.changes[0]
    assert isinstance(ir, OpenVinoModelHandle) and isinstance(one.handle, OpenVinoModelHandle)
    return onnx, ir, one.handle


def test_the_ir_runs_with_the_count_it_records_wherever_it_is_loaded(versions: Any) -> None:
    _, ir, one = versions
    assert compiled_threads(ir) == 2 and compiled_threads(one) == 1
    assert declared_threads(one) == 1 and declared_threads(ir) is None
    # A caller's default does not override a measured count; the precision pin survives.
    again = load_openvino(one.xml_path, threads=2)
    assert compiled_threads(again) == 1 and again.inference_precision == ir.inference_precision
    feeds = ir.example_inputs(batch=1, seed=3)
    (a,), (b,) = ir.run(feeds).values(), again.run(feeds).values()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # same weights, other thread count


def test_it_is_measured_stored_and_shipped_with_its_count(versions: Any, tmp_path: Path) -> None:
    onnx, ir, one = versions
    metrics = measure_version(
        one, one.xml_path, evaluator=None, reference=None, threads=2, runs=5, max_seconds=1.0
    )
    assert metrics.threads == 1  # the figure says what it was measured with

    db, registry = empty_registry(tmp_path, onnx.onnx_path)
    registry.register(onnx, onnx.onnx_path, parent=None, technique=None, config={}, metrics=metrics)
    for handle, technique, config in ((ir, "openvino_ir", {}), (one, "openvino_threads", {})):
        registry.register(
            handle,
            pack_artifact(handle, tmp_path),
            parent=f"v{len(registry.records()) - 1}",
            technique=technique,
            config=config,
            metrics=metrics,
        )
    # A registry that has not held the handles (a later deploy) reloads them from the store.
    reopened = VersionRegistry(db, registry.artifacts, model_id=registry.model_id, job_id="job")
    reopened._records = dict(registry._records)
    stored = reopened.handle("v2")
    assert isinstance(stored, OpenVinoModelHandle) and compiled_threads(stored) == 1

    # Session settings apply to the version itself: ONNX Runtime's to ONNX versions only.
    state: Any = SimpleNamespace(registry=reopened)
    ort = StepCandidate(technique="ort_threads", config={DECLARED_THREADS: 1})
    why = inapplicable(state, ort, "v1")
    assert why is not None and "runs on openvino" in why
    assert inapplicable(state, ort, "v0") is None
    ov = StepCandidate(technique="openvino_threads", config={DECLARED_THREADS: 1})
    assert inapplicable(state, ov, "v1") is None
    assert "runs on onnx" in (inapplicable(state, ov, "v0") or "")
    # A version already pinned to that count (v2) is not timed again: that would measure noise.
    assert "already runs on 1 thread" in (inapplicable(state, ov, "v2") or "")
    two = StepCandidate(technique="openvino_threads", config={DECLARED_THREADS: 2})
    assert inapplicable(state, two, "v2") is None
    # So do graph clean-ups; only a precision conversion may start from the ONNX ancestor of an
    # OpenVINO version (its INT8 competes with that FP32 IR).
    cleanup = StepCandidate(technique="onnx_graph_optimize")
    assert "runs on openvino" in (inapplicable(state, cleanup, "v1") or "")
    assert inapplicable(state, cleanup, "v0") is None
    assert inapplicable(state, StepCandidate(technique="ort_int8_dynamic"), "v1") is None
    db.dispose()

    target = OpenVinoTarget()
    ctx = DeployContext(out_dir=tmp_path / "deploy", threads=2)
    ctx.out_dir.mkdir()
    artifact = target.package(stored, DeploymentPrecision.FP32, ctx)
    record = DeploymentArtifact.model_validate_json(artifact.model_dump_json())
    assert record.details[DECLARED_THREADS] == 1
    assert compiled_threads(target.load(record, threads=2)) == 1  # type: ignore[arg-type]


def test_the_fp32_conversion_can_record_one_thread_itself(tmp_path: Path) -> None:
    # The runtime step's 1-thread OpenVINO candidate for small models: one conversion, pinned.
    onnx = export_policy(tmp_path)
    result = apply_technique(
        "openvino_ir",
        onnx,
        TechniqueContext(workdir=tmp_path / "ir1", threads=2),
        {DECLARED_THREADS: 1},
    )
    handle = result.handle
    assert isinstance(handle, OpenVinoModelHandle)
    assert compiled_threads(handle) == 1 and declared_threads(handle) == 1
    assert "1 inference thread(s)" in result.changes[0]
    assert compiled_threads(load_openvino(handle.xml_path, threads=2)) == 1
    feeds = onnx.example_inputs(batch=1, seed=3)
    (a,), (b,) = onnx.run(feeds).values(), handle.run(feeds).values()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
