"""TFLite target: Keras → .tflite with TFLiteConverter, run with LiteRT, validated against ORT.

Marked ``tf`` (TensorFlow import + conversion take tens of seconds): ``make test-slow``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.deployment.agent import deploy_model
from embodied_ai_architect.agents.deployment.targets.tflite import TfliteTarget
from embodied_ai_architect.errors import ConfigError, DependencyError
from embodied_ai_architect.schemas.deployment import (
    CalibrationConfig,
    DeployRequest,
    ValidationConfig,
)
from embodied_ai_architect.settings import get_settings


def test_capabilities_and_availability_are_truthful() -> None:
    from embodied_ai_architect.utils.deps import has_package

    ok, reason = TfliteTarget().is_available()
    caps = TfliteTarget().get_capabilities()
    assert caps.int8_modes == ["static", "dynamic"] and "tflite" in caps.formats
    # LiteRT alone makes the target available (a .tflite runs as it is); converters are
    # the tflite_* techniques, each with its own requirements.
    assert ok == has_package("ai_edge_litert") and reason


needs_tflite = pytest.mark.skipif(
    not TfliteTarget().is_available()[0], reason="the tflite target is not available here"
)


@needs_tflite
def test_torch_source_without_litert_torch_names_the_extra(
    deploy_assets: dict[str, Path], tmp_path: Path
) -> None:
    from embodied_ai_architect.utils.deps import has_package

    if has_package("litert_torch"):
        pytest.skip("litert-torch is installed here")
    with pytest.raises(DependencyError, match="litert_torch") as info:
        deploy_model(
            DeployRequest(
                model_path=deploy_assets["cnn"],
                target="tflite",
                input_shapes=[[1, 3, 64, 64]],
                out_dir=tmp_path,
            ),
            AgentContext(settings=get_settings()),
        )
    assert "tflite" in info.value.hint


@needs_tflite
def test_onnx_source_is_refused_with_a_hint(deploy_assets: dict[str, Path], tmp_path: Path) -> None:
    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.loader import load_model
    from embodied_ai_architect.schemas.loading import LoadOptions

    handle = load_model(deploy_assets["cnn"], LoadOptions(input_shapes=[[1, 3, 64, 64]]))
    onnx_path = export_onnx(handle, tmp_path / "cnn.onnx").onnx_path
    with pytest.raises(ConfigError, match="cannot convert a onnx model") as info:
        deploy_model(
            DeployRequest(model_path=onnx_path, target="tflite", out_dir=tmp_path / "out"),
            AgentContext(settings=get_settings()),
        )
    assert "Keras" in info.value.hint


@pytest.fixture(scope="module")
def keras_cnn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tf = pytest.importorskip("tensorflow")
    root = tmp_path_factory.mktemp("keras")
    tf.keras.utils.set_random_seed(0)
    keras = tf.keras
    images = keras.Input((32, 32, 3), name="images")
    hidden = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(images)
    hidden = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(hidden)
    hidden = keras.layers.GlobalAveragePooling2D()(hidden)
    model = keras.Model(images, keras.layers.Dense(10, name="logits")(hidden))
    model.save(root / "cnn.keras")
    rng = np.random.default_rng(0)
    np.save(root / "calib.npy", rng.random((16, 32, 32, 3), dtype=np.float32))
    np.save(root / "test.npy", rng.random((4, 32, 32, 3), dtype=np.float32))
    return {"model": root / "cnn.keras", "calib": root / "calib.npy", "test": root / "test.npy"}


@pytest.mark.tf
@pytest.mark.parametrize(
    ("precision", "int8_mode", "tolerance"),
    [
        ("fp32", "static", 0.1),
        ("fp16", "static", 1),
        ("int8", "dynamic", 5),
        ("int8", "static", 10),
    ],
)
def test_keras_model_converts_runs_and_validates(
    keras_cnn: dict[str, Path], tmp_path: Path, precision: str, int8_mode: str, tolerance: float
) -> None:
    calibration = (
        CalibrationConfig(data_path=keras_cnn["calib"], num_samples=16)
        if precision == "int8" and int8_mode == "static"
        else None
    )
    result = deploy_model(
        DeployRequest(
            model_path=keras_cnn["model"],
            target="tflite",
            precision=precision,  # type: ignore[arg-type]
            int8_mode=int8_mode,  # type: ignore[arg-type]
            calibration=calibration,
            validation=ValidationConfig(
                test_data_path=keras_cnn["test"],
                num_samples=4,
                latency_runs=5,
                tolerance_percent=tolerance,
            ),
            out_dir=tmp_path,
        ),
        AgentContext(settings=get_settings()),
    )
    artifact = result.artifact
    assert (
        artifact is not None and artifact.path.suffix == ".tflite" and artifact.runtime == "litert"
    )
    check = result.validation
    assert check is not None and check.passed, check.reasons
    assert check.deployed_latency.runtime == "litert"
    if precision == "int8" and int8_mode == "static":
        assert artifact.details["conversion"] == "tflite_int8"


@needs_tflite
def test_a_tflite_file_deploys_at_fp32_without_tensorflow(tmp_path: Path) -> None:
    """A vendor .tflite runs on LiteRT as it is: packaging it needs no converter."""
    from tests.corpus.helpers import MANIFEST, corpus_file

    entry = next(m for m in MANIFEST.models if m.id == "blazeface")
    result = deploy_model(
        DeployRequest(
            model_path=corpus_file(entry),
            target="tflite",
            precision="fp32",
            validation=ValidationConfig(allow_random_inputs=True, num_samples=2, latency_runs=3),
            out_dir=tmp_path,
        ),
        AgentContext(settings=get_settings()),
    )
    assert result.success, result.validation
    artifact = result.artifact
    assert artifact is not None and artifact.format == "tflite" and artifact.runtime == "litert"
    assert "conversion" not in artifact.details  # packaged as it is
    check = result.validation
    assert check is not None and check.max_relative_diff == 0.0  # the same file, the same runtime
    assert (tmp_path / "deployment.json").exists()
    # Other precisions need the TensorFlow source, and say so before any work.
    with pytest.raises(ConfigError, match="cannot convert a tflite model to fp16"):
        deploy_model(
            DeployRequest(
                model_path=corpus_file(entry), target="tflite", precision="fp16", out_dir=tmp_path
            ),
            AgentContext(settings=get_settings()),
        )


def test_torch_to_tflite_is_the_tflite_from_torch_technique() -> None:
    from embodied_ai_architect.agents.optimization.base import get_technique
    from embodied_ai_architect.modelio.handle import Framework
    from embodied_ai_architect.schemas.deployment import DeploymentPrecision

    conversion = TfliteTarget().conversion(DeploymentPrecision.FP32, "static", Framework.TORCH)
    assert conversion.technique == "tflite_from_torch"
    spec = get_technique("tflite_from_torch")
    assert spec.manifest.runtime == "litert" and "litert_torch" in spec.manifest.requires
    with pytest.raises(ConfigError, match="fp32 only"):
        TfliteTarget().conversion(DeploymentPrecision.FP16, "static", Framework.TORCH)
