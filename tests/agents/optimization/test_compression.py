"""Compression techniques: exactness, predicted sizes, real accuracy, and typed errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.agents.optimization.packing import unpack_file
from embodied_ai_architect.errors import ConfigError, ModelFormatError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.handle import OnnxModelHandle, TorchModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.digits import DigitsSplit, accuracy, train_digits_cnn
from embodied_ai_architect.testing.models import (
    MLPPolicy,
    ResNet18,
    SmallCNN,
    TinyDetector,
    count_parameters,
)


def _ctx(tmp_path: Path) -> TechniqueContext:
    return TechniqueContext(workdir=tmp_path / "work")


def _module(result_handle: object) -> nn.Module:
    assert isinstance(result_handle, TorchModelHandle)
    return result_handle.module


@pytest.fixture(scope="module")
def digits() -> tuple[SmallCNN, DigitsSplit]:
    return train_digits_cnn(epochs=4, seed=0)


def test_fold_batchnorm_is_exact_and_removes_every_bn(
    tmp_path: Path, digits: tuple[SmallCNN, DigitsSplit]
) -> None:
    model, split = digits
    result = apply_technique("fold_batchnorm", handle_from_module(model), _ctx(tmp_path))
    folded = _module(result.handle)
    assert result.metrics["folded"] == 3
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert result.metrics["bytes_after"] < result.metrics["bytes_before"]
    assert accuracy(folded, split.x_test, split.y_test) == accuracy(
        model, split.x_test, split.y_test
    )
    with torch.inference_mode():
        x = torch.from_numpy(split.x_test[:64])
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)


def test_fold_batchnorm_resnet_counts_all_pairs(tmp_path: Path) -> None:
    model = ResNet18(width=8, image_size=32, num_classes=10)
    for module in model.modules():  # non-trivial statistics, so folding has something to do
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    result = apply_technique("fold_batchnorm", handle_from_module(model), _ctx(tmp_path))
    # stem + 2 per basic block × 8 blocks + 3 downsample projections
    assert result.metrics["folded"] == 20
    assert result.metrics["relative_output_change"] < 1e-5


def test_fold_batchnorm_without_bn_warns(tmp_path: Path) -> None:
    result = apply_technique("fold_batchnorm", handle_from_module(MLPPolicy()), _ctx(tmp_path))
    assert result.metrics["folded"] == 0
    assert result.warnings


def test_onnx_graph_optimize_fuses_and_stays_equivalent(tmp_path: Path) -> None:
    handle = handle_from_module(TinyDetector(), name="detector")
    result = apply_technique("onnx_graph_optimize", handle, _ctx(tmp_path))
    assert isinstance(result.handle, OnnxModelHandle)
    assert result.handle.onnx_path.exists()
    assert result.metrics["nodes_after"] < result.metrics["nodes_before"]
    feeds = handle.example_inputs(batch=2)
    onnx_feeds = {
        s.name: feeds[t.name] for s, t in zip(result.handle.inputs, handle.inputs, strict=True)
    }
    for want, got in zip(
        handle.run(feeds).values(), result.handle.run(onnx_feeds).values(), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    import onnx

    ops = {node.op_type for node in onnx.load(str(result.handle.onnx_path)).graph.node}
    assert "BatchNormalization" not in ops  # folded into the convolutions
    assert "FusedConv" in result.warnings[0]  # ORT-only contrib ops are announced


def test_onnx_graph_optimize_basic_stays_standard_onnx(tmp_path: Path) -> None:
    handle = handle_from_module(TinyDetector(), name="detector")
    result = apply_technique("onnx_graph_optimize", handle, _ctx(tmp_path), {"level": "basic"})
    assert result.metrics["contrib_ops"] == 0 and not result.warnings
    assert result.metrics["nodes_after"] < result.metrics["nodes_before"]


def test_lowrank_svd_gives_predicted_parameter_count(tmp_path: Path) -> None:
    model = MLPPolicy(obs_dim=16, act_dim=4, hidden=128, depth=3)
    before = count_parameters(model)
    result = apply_technique("lowrank_svd", handle_from_module(model), _ctx(tmp_path), {"rank": 16})
    # The two 128×128 hidden layers become 128→16→128 (the 16-wide input and 4-wide head
    # are below min_features=32); biases are kept once.
    predicted = before - 2 * 128 * 128 + 2 * 16 * (128 + 128)
    assert count_parameters(_module(result.handle)) == predicted
    assert result.metrics["params_after"] == predicted
    assert result.metrics["layers_factorized"] == 2


def test_lowrank_svd_is_exact_on_low_rank_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MLPPolicy(obs_dim=16, act_dim=4, hidden=128, depth=2)
    with torch.no_grad():
        layer = model.backbone[2]
        layer.weight.copy_(torch.randn(128, 6) @ torch.randn(6, 128) / 10)
    result = apply_technique(
        "lowrank_svd", handle_from_module(model), _ctx(tmp_path), {"energy": 0.9999}
    )
    assert result.changes == [next(c for c in result.changes if "rank 6" in c)]
    assert result.metrics["relative_output_change"] < 1e-4


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"rank": 4096}, "rank 4096"),
        ({"rank": 8, "energy": 0.9}, "either rank or energy"),
        ({"energy": 1.5}, "energy"),
    ],
)
def test_lowrank_svd_bad_configs(tmp_path: Path, config: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        apply_technique("lowrank_svd", handle_from_module(MLPPolicy()), _ctx(tmp_path), config)
    assert info.value.hint


def test_lowrank_svd_unsupported_model_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="min_features"):
        apply_technique("lowrank_svd", handle_from_module(TinyDetector()), _ctx(tmp_path))


def test_weight_sharing_codebooks_size_and_accuracy(
    tmp_path: Path, digits: tuple[SmallCNN, DigitsSplit]
) -> None:
    model, split = digits
    result = apply_technique(
        "weight_sharing", handle_from_module(model), _ctx(tmp_path), {"bits": 4, "min_weights": 256}
    )
    shared = _module(result.handle)
    layers = [m for m in shared.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    big = [m for m in layers if m.weight.numel() >= 256]
    assert all(torch.unique(m.weight).numel() <= 16 for m in big)
    assert result.metrics["codebook_entries"] == 16 * len(big)
    # 4-bit indices instead of 32-bit floats: well under a fifth of the dense size.
    assert result.metrics["bytes_after"] < 0.2 * result.metrics["bytes_before"]
    assert Path(result.handle.metadata["codebook_artifact"]).stat().st_size < (
        0.25 * result.metrics["bytes_before"]
    )
    original = accuracy(model, split.x_test, split.y_test)
    assert accuracy(shared, split.x_test, split.y_test) >= original - 0.03


def test_weight_sharing_bits_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bits"):
        apply_technique(
            "weight_sharing", handle_from_module(SmallCNN()), _ctx(tmp_path), {"bits": 9}
        )


def test_pack_zstd_onnx_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MLPPolicy(hidden=128)
    with torch.no_grad():  # a pruned-like model: zstd has something to find
        for p in model.parameters():
            p.mul_((torch.rand_like(p) > 0.7).float())
    onnx_handle = export_onnx(handle_from_module(model), tmp_path / "policy.onnx")
    result = apply_technique("pack_zstd", onnx_handle, _ctx(tmp_path))
    assert result.metrics["bytes_after"] < 0.6 * result.metrics["bytes_before"]
    packed = Path(result.handle.metadata["packed_path"])
    assert packed.stat().st_size == result.metrics["bytes_after"]
    restored = unpack_file(packed, tmp_path / "again.onnx")
    assert restored.read_bytes() == onnx_handle.onnx_path.read_bytes()
    feeds = onnx_handle.example_inputs(batch=3)
    np.testing.assert_array_equal(
        next(iter(result.handle.run(feeds).values())), next(iter(onnx_handle.run(feeds).values()))
    )
    broken = tmp_path / "broken.zst"
    broken.write_bytes(packed.read_bytes()[:-20])
    with pytest.raises(ModelFormatError):
        unpack_file(broken, tmp_path / "x.onnx")


def test_pack_zstd_torch_model(tmp_path: Path) -> None:
    handle = handle_from_module(SmallCNN(), name="cnn")
    result = apply_technique("pack_zstd", handle, _ctx(tmp_path), {"level": 10})
    assert result.metrics["bytes_after"] < result.metrics["bytes_before"]
    assert result.handle.path is not None
    program = torch.export.load(str(result.handle.path)).module()
    x = handle.example_tensors()[0]
    torch.testing.assert_close(program(x), _module(result.handle)(x))
