"""DeploymentAgent input validation: every bad input stops early with a message and a hint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.deployment.agent import deploy_model
from embodied_ai_architect.errors import ConfigError, EAAError, InputError, TargetUnavailableError
from embodied_ai_architect.schemas.deployment import (
    CalibrationConfig,
    DeployRequest,
    ValidationConfig,
)
from embodied_ai_architect.settings import get_settings


def run(request: DeployRequest) -> None:
    deploy_model(request, AgentContext(settings=get_settings()))


def request(model: Path, **kwargs: object) -> DeployRequest:
    kwargs.setdefault("input_shapes", [[1, 3, 64, 64]])
    return DeployRequest(model_path=model, **kwargs)  # type: ignore[arg-type]


def raises(kind: type[EAAError], request_: DeployRequest, match: str) -> EAAError:
    with pytest.raises(kind, match=match) as info:
        run(request_)
    assert info.value.hint, "every error needs a hint"
    return info.value


def test_missing_model_file(tmp_path: Path) -> None:
    raises(InputError, request(tmp_path / "nope.pt"), "does not exist")


def test_unknown_target_lists_the_available_ones(deploy_assets: dict[str, Path]) -> None:
    error = raises(ConfigError, request(deploy_assets["cnn"], target="jetsn"), "unknown target")
    assert "onnxruntime" in error.message and "jetson" in error.message
    assert "@register_target" in error.hint


def test_jetson_is_refused_with_the_reason_on_this_host(deploy_assets: dict[str, Path]) -> None:
    error = raises(
        TargetUnavailableError, request(deploy_assets["cnn"], target="jetson"), "not available"
    )
    # What is missing is in the message; the hint says what to do instead.
    assert "tensorrt" in error.message and "CUDA device" in error.message
    assert "onnxruntime" in error.hint


def test_int8_without_calibration_data(deploy_assets: dict[str, Path]) -> None:
    error = raises(
        InputError, request(deploy_assets["cnn"], precision="int8"), "needs calibration data"
    )
    assert "`calibration.data_path`" in error.hint and "fp16" in error.hint
    assert error.field == "calibration.data_path"


def test_calibration_data_with_fp16_is_refused(deploy_assets: dict[str, Path]) -> None:
    calibration = CalibrationConfig(data_path=deploy_assets["calib"])
    raises(
        InputError,
        request(deploy_assets["cnn"], precision="fp16", calibration=calibration),
        "only used for INT8",
    )


def test_empty_calibration_folder(deploy_assets: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    calibration = CalibrationConfig(data_path=tmp_path / "empty")
    raises(
        InputError,
        request(deploy_assets["cnn"], precision="int8", calibration=calibration),
        "contains no images",
    )


def test_unreadable_image_is_named_before_any_export(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "calib"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not an image at all")
    out = tmp_path / "out"
    raises(
        InputError,
        request(
            deploy_assets["cnn"],
            precision="int8",
            calibration=CalibrationConfig(data_path=folder),
            out_dir=out,
        ),
        "broken.png",
    )
    assert not out.exists(), "nothing may be written before the inputs are valid"


def test_input_shape_that_does_not_fit_the_model(deploy_assets: dict[str, Path]) -> None:
    error = raises(
        InputError,
        request(deploy_assets["cnn"], input_shapes=[[1, 1, 64, 64]]),
        "does not run on input shape",
    )
    assert "`input_shapes`" in error.hint and error.field == "input_shapes"


def test_calibration_array_with_wrong_shape(deploy_assets: dict[str, Path], tmp_path: Path) -> None:
    np.save(tmp_path / "calib.npy", np.zeros((4, 3, 32, 32), dtype=np.float32))
    raises(
        InputError,
        request(
            deploy_assets["cnn"],
            precision="int8",
            calibration=CalibrationConfig(data_path=tmp_path / "calib.npy"),
        ),
        "sample shape",
    )


def test_validation_needs_test_data_unless_random_is_allowed() -> None:
    with pytest.raises(InputError, match="needs test data"):
        ValidationConfig()
    assert ValidationConfig(allow_random_inputs=True).test_data_path is None


def test_flat_input_shape_means_one_input(tmp_path: Path) -> None:
    parsed = DeployRequest(model_path=tmp_path / "m.onnx", input_shapes=[1, 3, 8, 8])  # type: ignore[list-item]
    assert parsed.input_shapes == [[1, 3, 8, 8]]
    assert parsed.effective_load_options().input_shapes == [[1, 3, 8, 8]]


def test_onnx_model_with_npz_data_and_random_free_validation(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    """An ONNX input, .npz calibration and .npy test data (no images anywhere)."""
    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.loader import load_model
    from embodied_ai_architect.schemas.loading import LoadOptions

    handle = load_model(deploy_assets["cnn"], LoadOptions(input_shapes=[[1, 3, 64, 64]]))
    onnx_model = export_onnx(handle, tmp_path / "cnn.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.random((8, 3, 64, 64), dtype=np.float32))
    np.save(tmp_path / "test.npy", rng.random((3, 3, 64, 64), dtype=np.float32))
    result = deploy_model(
        DeployRequest(
            model_path=onnx_model.onnx_path,
            precision="int8",
            calibration=CalibrationConfig(data_path=tmp_path / "calib.npz", num_samples=8),
            validation=ValidationConfig(
                test_data_path=tmp_path / "test.npy", num_samples=3, latency_runs=3
            ),
            out_dir=tmp_path / "out",
        ),
        AgentContext(settings=get_settings()),
    )
    assert result.validation is not None
    assert [s.source for s in result.validation.samples] == [f"test.npy[{i}]" for i in range(3)]


def test_fewer_calibration_samples_than_asked_is_announced(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    from embodied_ai_architect.agents.deployment.agent import build_calibration
    from embodied_ai_architect.modelio.loader import load_model
    from embodied_ai_architect.schemas.loading import LoadOptions

    handle = load_model(deploy_assets["cnn"], LoadOptions(input_shapes=[[1, 3, 64, 64]]))
    provider = build_calibration(
        request(
            deploy_assets["cnn"],
            precision="int8",
            calibration=CalibrationConfig(data_path=deploy_assets["calib"], num_samples=500),
        ),
        handle,
    )
    assert provider is not None and provider.num_samples == 24  # the folder holds 24 images
