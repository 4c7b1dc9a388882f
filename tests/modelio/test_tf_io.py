"""TensorFlow intake: a tiny Keras model saved as SavedModel, .keras, .h5 and .tflite is loaded,
run and converted to ONNX, and every path reproduces the Keras model's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.errors import ModelFormatError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.formats import ModelFormat, detect_format
from embodied_ai_architect.modelio.handle import Framework, OnnxModelHandle
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.schemas.loading import LoadOptions

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One two-headed policy (action + value) saved in every TF format."""
    tf = pytest.importorskip("tensorflow")
    import keras

    root = tmp_path_factory.mktemp("tf")
    keras.utils.set_random_seed(0)
    obs = keras.Input((8,), name="obs")
    hidden = keras.layers.Dense(16, activation="relu")(obs)
    action = keras.layers.Dense(4, activation="tanh", name="action")(hidden)
    value = keras.layers.Dense(1, name="value")(hidden)
    model = keras.Model(obs, [action, value])
    model.save(root / "policy.keras")
    model.save(root / "policy.h5")
    model.export(str(root / "saved_model"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(root / "saved_model"))
    (root / "policy.tflite").write_bytes(converter.convert())
    model.save_weights(root / "only.weights.h5")
    return {"model": model, "root": root}


def _reference(keras_models: dict[str, object], obs: np.ndarray) -> list[np.ndarray]:
    model = keras_models["model"]
    return [np.asarray(out) for out in model(obs, training=False)]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("relative", "fmt", "framework"),
    [
        ("saved_model", ModelFormat.TF_SAVEDMODEL, Framework.TENSORFLOW),
        ("policy.keras", ModelFormat.KERAS, Framework.TENSORFLOW),
        ("policy.h5", ModelFormat.KERAS_H5, Framework.TENSORFLOW),
        ("policy.tflite", ModelFormat.TFLITE, Framework.TFLITE),
    ],
)
def test_load_run_and_convert_to_onnx(
    keras_models: dict[str, object],
    tmp_path: Path,
    relative: str,
    fmt: ModelFormat,
    framework: Framework,
) -> None:
    path = Path(str(keras_models["root"])) / relative
    assert detect_format(path) is fmt
    handle = load_model(path)
    assert handle.framework is framework
    assert len(handle.inputs) == 1
    assert handle.inputs[0].shape[-1] == 8
    assert handle.inputs[0].dtype == "float32"
    assert len(handle.outputs) == 2

    obs = np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32)
    want = _reference(keras_models, obs)
    got = sorted(handle.run({handle.inputs[0].name: obs}).values(), key=lambda a: a.shape[-1])
    want_sorted = sorted(want, key=lambda a: a.shape[-1])
    for expected, actual in zip(want_sorted, got, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)

    onnx_handle = export_onnx(handle, tmp_path / "policy.onnx")
    assert isinstance(onnx_handle, OnnxModelHandle)
    onnx_out = onnx_handle.run({onnx_handle.inputs[0].name: obs})
    onnx_sorted = sorted(onnx_out.values(), key=lambda a: a.shape[-1])
    for expected, actual in zip(want_sorted, onnx_sorted, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_tflite_runs_a_larger_batch(keras_models: dict[str, object]) -> None:
    handle = load_model(Path(str(keras_models["root"])) / "policy.tflite")
    obs = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    outputs = handle.run({handle.inputs[0].name: obs})
    assert sorted(o.shape for o in outputs.values()) == [(3, 1), (3, 4)]


def test_weights_only_h5_explains_what_to_save(keras_models: dict[str, object]) -> None:
    with pytest.raises(ModelFormatError) as info:
        load_model(Path(str(keras_models["root"])) / "only.weights.h5")
    assert "model.save" in info.value.hint


def test_savedmodel_without_variables_is_a_format_error(
    keras_models: dict[str, object], tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(Path(str(keras_models["root"])) / "saved_model", broken)
    shutil.rmtree(broken / "variables")
    with pytest.raises(ModelFormatError) as info:
        load_model(broken)
    assert "SavedModel" in info.value.message


def test_keras_lambda_layer_needs_trust(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    import keras

    inp = keras.Input((4,), name="x")
    out = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert "`trust_pickle`" in info.value.hint and info.value.field == "trust_pickle"
    trusted = load_model(path, LoadOptions(trust_pickle=True))
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(next(iter(trusted.run({"x": x}).values())), x * 2.0)


def test_savedmodel_without_signature(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    tf.saved_model.save(module, str(tmp_path / "plain"))
    with pytest.raises(ModelFormatError) as info:
        load_model(tmp_path / "plain")
    assert "no serving signature" in info.value.message
    assert "model.export" in info.value.hint


def test_keras_conv_model_nhwc_to_onnx(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(image)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(5, name="logits")(x)
    model = keras.Model(image, logits)
    model.save(tmp_path / "cnn.keras")

    handle = load_model(tmp_path / "cnn.keras")
    assert handle.inputs[0].shape == ["batch", 16, 16, 3]
    onnx_handle = export_onnx(handle, tmp_path / "cnn.onnx")
    batch = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype(np.float32)
    want = np.asarray(model(batch, training=False))
    got = next(iter(onnx_handle.run({onnx_handle.inputs[0].name: batch}).values()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_keras_sequential_model_to_onnx(tmp_path: Path) -> None:
    """A Keras 3 Sequential model has no ``output_names``: tf2onnx's from_keras then looks its
    output up by the KerasTensor's name and fails (KeyError 'keras_tensor_N'); the corpus's
    Keras digit classifier failed analyze, optimize and deploy that way."""
    pytest.importorskip("tensorflow")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.save(tmp_path / "seq.keras")

    handle = load_model(tmp_path / "seq.keras")
    onnx_handle = export_onnx(handle, tmp_path / "seq.onnx")
    assert [spec.name for spec in onnx_handle.outputs] == [spec.name for spec in handle.outputs]
    batch = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype(np.float32)
    want = np.asarray(model(batch, training=False))
    got = next(iter(onnx_handle.run({onnx_handle.inputs[0].name: batch}).values()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
