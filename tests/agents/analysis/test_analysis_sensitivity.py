"""INT8 sensitivity: real fake-quantization, real forward passes, weights restored afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.analysis.onnx_stats import analyze_onnx
from embodied_ai_architect.agents.analysis.sensitivity import (
    fake_quantize,
    fake_quantize_torch,
    layer_sensitivity,
    relative_error,
)
from embodied_ai_architect.agents.analysis.torch_stats import analyze_torch
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.torch_io import handle_from_module


def test_fake_quantize_is_per_channel_symmetric_int8() -> None:
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 16)).astype(np.float32)
    weight[2] *= 100  # one channel with a much larger range must not hurt the others
    quantized = fake_quantize(weight, axis=0)
    scales = np.abs(weight).max(axis=1) / 127
    for row in range(4):
        assert np.max(np.abs(quantized[row] - weight[row])) <= scales[row] / 2 + 1e-6
        levels = np.round(quantized[row] / scales[row])
        assert np.allclose(levels, np.round(levels)) and np.abs(levels).max() <= 127
    assert quantized.dtype == np.float32
    # Output channels last (ONNX MatMul [K, N]): the axis argument is honoured.
    assert np.allclose(fake_quantize(weight.T, axis=1), quantized.T)


def test_relative_error_is_per_output_so_small_outputs_are_not_drowned() -> None:
    reference = {"boxes": np.full((4,), 100.0), "scores": np.full((4,), 0.5)}
    actual = {"boxes": reference["boxes"].copy(), "scores": np.full((4,), 0.25)}
    assert relative_error(reference, actual) == 0.5


def _outlier_mlp() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8)
    )
    with torch.no_grad():
        # Hidden unit 0 is always 0 after the ReLU, so a huge weight reading it changes nothing
        # in FP32 — but it stretches every row's INT8 grid in layer 2 ~1000×, rounding the
        # useful weights of that layer to zero.
        model[0].weight[0] = 0.0
        model[0].bias[0] = -1.0
        model[2].weight[:, 0] = 500.0
    return model.eval()


def test_the_layer_with_outliers_ranks_first_and_weights_are_restored() -> None:
    module = _outlier_mlp()
    handle = handle_from_module(module, input_shapes=[[4, 32]])
    before = {k: v.clone() for k, v in module.state_dict().items()}
    feeds = handle.example_inputs()
    reference = handle.run(feeds)
    ranked = layer_sensitivity(handle, analyze_torch(handle), feeds, reference, top_k=3)

    assert ranked[0].layer == "2"
    assert ranked[0].score > 10 * ranked[-1].score
    assert all(item.score >= 0 for item in ranked)
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert np.array_equal(handle.run(feeds)["output"], reference["output"])


def test_onnx_sensitivity_agrees_with_torch(tmp_path: Path) -> None:
    handle = handle_from_module(_outlier_mlp(), input_shapes=[[4, 32]])
    feeds = handle.example_inputs()
    torch_ranked = layer_sensitivity(
        handle, analyze_torch(handle), feeds, handle.run(feeds), top_k=3
    )
    onnx_handle = export_onnx(handle, tmp_path / "mlp.onnx")
    onnx_feeds = {onnx_handle.inputs[0].name: feeds[handle.inputs[0].name]}
    onnx_ranked = layer_sensitivity(
        onnx_handle, analyze_onnx(onnx_handle), onnx_feeds, onnx_handle.run(onnx_feeds), top_k=3
    )
    assert len(onnx_ranked) == 3
    # Same weights, same quantizer: the scores agree (node names differ between the two).
    assert np.allclose(
        sorted(s.score for s in torch_ranked), sorted(s.score for s in onnx_ranked), rtol=1e-2
    )


def test_torch_and_numpy_fake_quantizers_agree() -> None:
    weight = torch.randn(8, 4, 3, 3)
    for axis in (0, 1):
        expected = fake_quantize(weight.numpy(), axis)
        assert np.allclose(fake_quantize_torch(weight, axis).numpy(), expected, atol=1e-6)


def test_relative_error_ignores_constant_offsets() -> None:
    """Sigmoid scores around 0.5: the error is measured against their spread, not their norm."""
    reference = {"scores": np.array([0.49, 0.51, 0.49, 0.51])}
    actual = {"scores": np.array([0.50, 0.50, 0.50, 0.50])}
    assert np.isclose(relative_error(reference, actual), 1.0)


@pytest.mark.tf
def test_keras_model_sensitivity_perturbs_its_onnx_export(tmp_path: Path) -> None:
    """TF / Keras models are read from their ONNX export, so sensitivity perturbs that graph's
    weights (it used to stop at "not implemented for tensorflow models", a warning on every
    Keras file the corpus has)."""
    pytest.importorskip("tensorflow")
    import keras

    from embodied_ai_architect.agents.analysis.agent import analyze_model
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.schemas.analysis import AnalysisRequest
    from embodied_ai_architect.settings import get_settings

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(4, 3, activation="relu", padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.save(tmp_path / "seq.keras")
    profile = analyze_model(
        AnalysisRequest(
            model_path=tmp_path / "seq.keras", measure_latency=False, sensitivity_top_k=2
        ),
        AgentContext(settings=get_settings()),
    )
    assert profile.warnings == []
    assert len(profile.sensitivity) == 2
    assert all(layer.score > 0 for layer in profile.sensitivity)
