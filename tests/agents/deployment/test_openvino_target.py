"""OpenVINO target: real IR conversion, real NNCF calibration, validated against ORT FP32."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.agents.analysis.host import openvino_bf16
from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.deployment.agent import deploy_model
from embodied_ai_architect.modelio.openvino_io import load_openvino
from embodied_ai_architect.schemas.deployment import (
    CalibrationConfig,
    DeployRequest,
    ValidationConfig,
)
from embodied_ai_architect.settings import get_settings

pytest.importorskip("openvino")
pytest.importorskip("nncf")


@pytest.mark.parametrize(
    "precision", ["fp32", pytest.param("fp16", marks=pytest.mark.slow), "int8"]
)
def test_openvino_ir_is_built_and_validated(
    precision: str, deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    calibration = (
        CalibrationConfig(data_path=deploy_assets["calib"], num_samples=16)
        if precision == "int8"
        else None
    )
    result = deploy_model(
        DeployRequest(
            model_path=deploy_assets["cnn"],
            target="openvino",
            precision=precision,  # type: ignore[arg-type]
            input_shapes=[[1, 3, 64, 64]],
            calibration=calibration,
            validation=ValidationConfig(
                test_data_path=deploy_assets["test"],
                num_samples=4,
                latency_runs=5,
                tolerance_percent={"fp32": 1, "fp16": 2, "int8": 5}[precision],
            ),
            out_dir=tmp_path,
        ),
        AgentContext(settings=get_settings()),
    )
    artifact = result.artifact
    assert artifact is not None and artifact.format == "openvino_ir"
    assert artifact.path.suffix == ".xml" and artifact.extra_files[0].suffix == ".bin"
    assert (
        artifact.size_bytes == artifact.path.stat().st_size + artifact.extra_files[0].stat().st_size
    )
    check = result.validation
    assert check is not None and check.passed, check.reasons
    assert check.deployed_latency.runtime == "openvino"
    if precision == "fp32":
        # Compiled with INFERENCE_PRECISION_HINT=f32: no silent BF16 on AVX512-BF16 / AMX CPUs.
        assert artifact.details["inference_precision"] == "f32"
        assert check.max_relative_diff < 1e-4
    elif precision == "fp16":
        assert artifact.details["compress_to_fp16"] is True
        assert artifact.details["inference_precision"] in ("f16", "f32")
    else:
        assert artifact.details["calibration_samples"] == 16
        # INT8 really happened: weights are stored as 8-bit, the IR is much smaller.
        assert "i8" in artifact.path.read_text() or "u8" in artifact.path.read_text()


@pytest.mark.skipif(not openvino_bf16()[0], reason=f"no native BF16: {openvino_bf16()[1]}")
def test_bf16_artifact_runs_in_bf16_where_it_is_deployed(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    result = deploy_model(
        DeployRequest(
            model_path=deploy_assets["cnn"],
            target="openvino",
            precision="bf16",  # type: ignore[arg-type]
            input_shapes=[[1, 3, 64, 64]],
            validation=ValidationConfig(
                test_data_path=deploy_assets["test"],
                num_samples=4,
                latency_runs=5,
                tolerance_percent=3,
            ),
            out_dir=tmp_path,
        ),
        AgentContext(settings=get_settings()),
    )
    artifact, check = result.artifact, result.validation
    assert artifact is not None and artifact.details["inference_precision"] == "bf16"
    assert check is not None and check.passed, check.reasons
    # Validated in BF16, not FP32: the outputs differ from the FP32 original, within tolerance.
    assert 0 < check.max_relative_diff < 0.03
    # The package loads it the same way: the IR records its compute precision.
    assert load_openvino(artifact.path).inference_precision == "bf16"
