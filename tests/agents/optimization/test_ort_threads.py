"""ort_threads: a version that declares its ONNX Runtime intra-op thread count is timed and
shipped with it (real ORT sessions on a tiny MLP policy; no timing assertions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.agents.deployment.targets.base import DeployContext
from embodied_ai_architect.agents.deployment.targets.onnxruntime import OnnxRuntimeTarget
from embodied_ai_architect.agents.evaluation.metrics import measure_version, pinned
from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS, declared_threads
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.deployment import DeploymentArtifact, DeploymentPrecision
from embodied_ai_architect.testing.models import build_mlp_policy


def intra_op(handle: ModelHandle) -> int:
    """The intra-op thread count of the ORT session the handle actually runs."""
    assert isinstance(handle, OnnxModelHandle)
    return int(handle.session().get_session_options().intra_op_num_threads)


def export_policy(folder: Path) -> OnnxModelHandle:
    """The tiny MLP policy as an ONNX file (what ort_threads takes)."""
    torch_handle = handle_from_module(build_mlp_policy(), name="policy")
    onnx_handle = export_onnx(torch_handle, folder / "policy.onnx", threads=2)
    assert isinstance(onnx_handle, OnnxModelHandle)
    return onnx_handle


@pytest.fixture
def policy(tmp_path: Path) -> OnnxModelHandle:
    return export_policy(tmp_path)


def one_thread(policy: OnnxModelHandle, tmp_path: Path) -> OnnxModelHandle:
    ctx = TechniqueContext(workdir=tmp_path / "work", threads=2)
    result = apply_technique("ort_threads", policy, ctx, {DECLARED_THREADS: 1})
    assert isinstance(result.handle, OnnxModelHandle)
    return result.handle


def test_the_version_keeps_the_file_and_declares_its_thread_count(
    policy: OnnxModelHandle, tmp_path: Path
) -> None:
    version = one_thread(policy, tmp_path)
    assert version.onnx_path == policy.onnx_path  # no conversion: the same ONNX file
    assert declared_threads(version) == 1 and declared_threads(policy) is None
    assert intra_op(version) == 1


def test_a_thread_count_below_one_is_refused(policy: OnnxModelHandle, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=DECLARED_THREADS):
        apply_technique(
            "ort_threads", policy, TechniqueContext(workdir=tmp_path), {DECLARED_THREADS: 0}
        )


def test_the_version_is_timed_with_its_own_thread_count_the_parent_with_the_runs(
    policy: OnnxModelHandle, tmp_path: Path
) -> None:
    version = one_thread(policy, tmp_path)
    # The run's --threads is 2: pinning keeps the declared count, and the figure records it.
    assert intra_op(pinned(version, 2)) == 1
    assert intra_op(pinned(policy, 2)) == 2
    measured = measure_version(
        version, version.onnx_path, evaluator=None, reference=None, threads=2, runs=5, warmup=1
    )
    parent = measure_version(
        policy, policy.onnx_path, evaluator=None, reference=None, threads=2, runs=5, warmup=1
    )
    assert measured.threads == 1 and parent.threads == 2


def test_the_packaged_deployment_records_and_loads_the_thread_count(
    policy: OnnxModelHandle, tmp_path: Path
) -> None:
    target = OnnxRuntimeTarget()
    ctx = DeployContext(out_dir=tmp_path / "deploy", threads=2)
    ctx.out_dir.mkdir()
    artifact = target.package(one_thread(policy, tmp_path), DeploymentPrecision.FP32, ctx)
    # deployment.json is the artifact record: the count survives its JSON round trip.
    restored = DeploymentArtifact.model_validate_json(artifact.model_dump_json())
    assert restored.details[DECLARED_THREADS] == 1
    loaded = target.load(restored, threads=2)
    assert declared_threads(loaded) == 1 and intra_op(loaded) == 1
    # A version that declares nothing ships without the key and loads with the caller's count.
    plain = target.package(policy, DeploymentPrecision.FP16, ctx)
    assert DECLARED_THREADS not in plain.details
    assert intra_op(target.load(plain, threads=2)) == 2
