"""ONNX Runtime target: real ORT sessions, real quantization, real timings."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.deployment.agent import deploy_model
from embodied_ai_architect.schemas.deployment import (
    CalibrationConfig,
    DeploymentResult,
    DeployRequest,
    ValidationConfig,
)
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.settings import get_settings
from embodied_ai_architect.utils.host import needs_reduce_range


def deploy(request: DeployRequest, events: list[ProgressEvent] | None = None) -> DeploymentResult:
    sink = events.append if events is not None else (lambda event: None)
    return deploy_model(request, AgentContext(settings=get_settings(), sink=sink))


def validation(test: Path, *, latency_runs: int = 40) -> ValidationConfig:
    return ValidationConfig(test_data_path=test, num_samples=8, latency_runs=latency_runs)


def op_types(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_int8_static_is_calibrated_and_validated(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    events: list[ProgressEvent] = []
    result = deploy(
        DeployRequest(
            model_path=deploy_assets["cnn"],
            precision="int8",
            input_shapes=[[1, 3, 64, 64]],
            calibration=CalibrationConfig(data_path=deploy_assets["calib"], num_samples=24),
            validation=validation(deploy_assets["test"]),
            out_dir=tmp_path / "out",
        ),
        events,
    )
    assert result.success, result.validation
    artifact = result.artifact
    assert artifact is not None and artifact.path.exists()
    # The conversion is the registered technique the optimizer measures, with its settings.
    assert artifact.details["conversion"] == "ort_int8_static"
    assert artifact.details["quant_format"] == "qdq"
    assert artifact.details["per_channel"] is True
    assert artifact.details["calibration_samples"] == 24
    # ORT's optimizer fused the QDQ pairs into integer kernels and saved that graph.
    assert {"QLinearConv"} <= op_types(artifact.path) or "ConvInteger" in op_types(artifact.path)
    check = result.validation
    assert check is not None and check.passed
    assert check.num_samples == 8 and len(check.samples) == 8
    assert check.max_relative_diff < 0.01
    assert check.top1_agreement is not None and check.top1_agreement >= 0.75
    # Whether INT8 is faster depends on the CPU (VNNI or not): benchmarks report it; here
    # the speedup must be the measured ratio.
    assert check.speedup == pytest.approx(
        check.baseline_latency.p50_ms / check.deployed_latency.p50_ms
    )
    # Reports on disk: machine-readable JSON for both.
    report = json.loads((tmp_path / "out" / "deployment.json").read_text())
    assert report["success"] is True and report["request"]["precision"] == "int8"
    assert json.loads((tmp_path / "out" / "validation.json").read_text())["passed"] is True
    percents = [event.percent for event in events]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    # One run through the pipeline: the one-step plan, its only step, then the Deployment stage.
    planned = next(i for i, e in enumerate(events) if e.stage == "planning")
    stepped = [i for i, e in enumerate(events) if e.stage == "optimization"]
    packaged = next(i for i, e in enumerate(events) if "deployment" in e.data)
    assert planned < min(stepped) and max(stepped) < packaged
    assert {events[i].step for i in stepped} - {None} == {"deploy"}  # None: the technique's own
    assert events[planned].data["plan"]["steps"][0]["candidates"] == [
        {
            "technique": "ort_int8_static",
            "config": {"num_samples": 24},
            "note": "int8 on onnxruntime",
        }
    ]


def test_fp16_needs_no_calibration_and_keeps_float32_io(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    result = deploy(
        DeployRequest(
            model_path=deploy_assets["cnn"],
            precision="fp16",
            input_shapes=[[1, 3, 64, 64]],
            validation=validation(deploy_assets["test"], latency_runs=3),
            out_dir=tmp_path,
        )
    )
    assert result.success and result.artifact is not None
    model = onnx.load(str(result.artifact.path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    fp16_weights = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert fp16_weights, "weights were not converted to float16"
    assert result.validation is not None and result.validation.max_relative_diff < 1e-2


def test_fp32_artifact_is_graph_optimized(deploy_assets: dict[str, Path], tmp_path: Path) -> None:
    result = deploy(
        DeployRequest(
            model_path=deploy_assets["cnn"], input_shapes=[[1, 3, 64, 64]], out_dir=tmp_path
        )
    )
    assert result.success and result.artifact is not None and result.validation is None
    assert result.artifact.details["graph_optimization_level"] == "extended"
    ops = op_types(result.artifact.path)
    assert "BatchNormalization" not in ops  # folded into the convolutions by ORT


def test_int8_dynamic_runs_without_calibration(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    result = deploy(
        DeployRequest(
            model_path=deploy_assets["cnn"],
            precision="int8",
            int8_mode="dynamic",
            input_shapes=[[1, 3, 64, 64]],
            validation=ValidationConfig(
                test_data_path=deploy_assets["test"],
                num_samples=2,
                latency_runs=3,
                tolerance_percent=10,
            ),
            out_dir=tmp_path,
        )
    )
    assert result.artifact is not None
    assert result.artifact.details["conversion"] == "ort_int8_dynamic"
    # Not asserting a speedup: dynamic INT8 convolutions are slower on x86 (ENVIRONMENT.md).
    assert result.validation is not None and result.validation.speedup > 0


def test_failed_validation_is_a_result_not_an_exception(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    result = deploy(
        DeployRequest(
            model_path=deploy_assets["cnn"],
            precision="fp16",
            input_shapes=[[1, 3, 64, 64]],
            validation=ValidationConfig(
                test_data_path=deploy_assets["test"],
                num_samples=2,
                latency_runs=2,
                tolerance_percent=1e-7,
            ),
            out_dir=tmp_path,
        )
    )
    assert not result.success
    assert result.validation is not None and not result.validation.passed
    assert "exceeds" in result.validation.reasons[0]
    assert json.loads((tmp_path / "deployment.json").read_text())["success"] is False


@pytest.mark.parametrize(
    ("flags", "machine", "expected"),
    [
        ({"avx2", "fma"}, "x86_64", True),
        ({"avx2", "avx512_vnni"}, "x86_64", False),
        ({"avx2", "avx_vnni"}, "x86_64", False),
        ({"asimd"}, "aarch64", False),
    ],
)
def test_reduce_range_only_on_x86_without_vnni(
    flags: set[str], machine: str, expected: bool
) -> None:
    assert needs_reduce_range(flags, machine) is expected
