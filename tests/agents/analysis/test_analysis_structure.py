"""Parameter counts and MACs against hand-computed values, for torch modules and ONNX graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.analysis.onnx_stats import analyze_onnx
from embodied_ai_architect.agents.analysis.structure import ModelStructure
from embodied_ai_architect.agents.analysis.torch_stats import analyze_torch, collect_weights
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.testing.models import (
    SmallCNN,
    TinyViT,
    TransformerPolicy,
    count_parameters,
)

# Conv2d(3→8, 3×3, pad 1) on 8×8: 8·8·8 outputs × 3·3·3 MACs each; Linear 512→10: 5120.
CONV_MACS = 8 * 8 * 8 * 3 * 3 * 3
LINEAR_MACS = 512 * 10


def _stack() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 10)
    ).eval()


def test_torch_macs_and_parameters_of_a_conv_linear_stack_match_hand_computation() -> None:
    module = _stack()
    structure = analyze_torch(handle_from_module(module, input_shapes=[[1, 3, 8, 8]]))

    assert structure.parameters == count_parameters(module) == (8 * 27 + 8) + (5120 + 10)
    assert structure.macs == CONV_MACS + LINEAR_MACS
    assert structure.flops == 2 * (CONV_MACS + LINEAR_MACS)
    layers = {layer.name: layer for layer in structure.layers}
    assert layers["0"].macs == CONV_MACS
    assert layers["0"].output_shape == [1, 8, 8, 8]
    assert layers["3"].macs == LINEAR_MACS
    assert layers["3"].parameters == 5130
    assert structure.parameter_bytes == structure.parameters * 4


def test_onnx_macs_match_the_torch_count_for_the_same_model(tmp_path: Path) -> None:
    handle = handle_from_module(_stack(), input_shapes=[[1, 3, 8, 8]])
    onnx_handle = export_onnx(handle, tmp_path / "stack.onnx")
    structure = analyze_onnx(onnx_handle)

    assert structure.macs == CONV_MACS + LINEAR_MACS
    assert structure.parameters == count_parameters(handle.module)
    by_op = {layer.op_type: layer for layer in structure.layers if layer.macs}
    assert by_op["Conv"].macs == CONV_MACS
    assert by_op["Gemm"].macs == LINEAR_MACS


def test_attention_fast_path_is_counted() -> None:
    """nn.MultiheadAttention's inference kernel has no FlopCounterMode formula; ours must count it.

    TransformerPolicy(obs 16, dim 64, 2 blocks, horizon 8), by hand:
    obs_proj 8·16·64; per block: q/k/v 3·8·64·64 + scores and mix 2·8·8·64 + out 8·64·64
    + MLP 2·8·64·256; action head on the last step 64·4.
    """
    module = TransformerPolicy().eval()
    block = 3 * 8 * 64 * 64 + 2 * 8 * 8 * 64 + 8 * 64 * 64 + 2 * 8 * 64 * 256
    expected = 8 * 16 * 64 + 2 * block + 64 * 4
    structure = analyze_torch(handle_from_module(module))
    assert structure.macs == expected
    assert structure.parameters == count_parameters(module)


def test_vit_macs_match_hand_computation() -> None:
    """TinyViT (32×32 image, 8×8 patches → 16 tokens + class token, dim 64, 2 blocks, MLP 256):
    patch conv 16·64·3·8·8; per block over 17 tokens: q/k/v 3·17·64·64, scores and mix
    2·17·17·64, out 17·64·64, MLP 2·17·64·256; head on the class token 64·10."""
    module = TinyViT().eval()
    block = 3 * 17 * 64 * 64 + 2 * 17 * 17 * 64 + 17 * 64 * 64 + 2 * 17 * 64 * 256
    expected = 16 * 64 * 3 * 8 * 8 + 2 * block + 64 * 10
    structure = analyze_torch(handle_from_module(module))
    assert structure.macs == expected
    assert structure.parameters == count_parameters(module)
    patch = next(layer for layer in structure.layers if layer.name == "patch_embed")
    assert patch.macs == 16 * 64 * 3 * 8 * 8 and patch.output_shape == [1, 64, 4, 4]


def test_a_layer_used_twice_counts_its_parameters_once_and_its_macs_twice() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = self.a  # the same layer registered (and called) twice

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    module = Shared()
    structure = analyze_torch(handle_from_module(module, input_shapes=[[1, 8]]))
    assert structure.parameters == count_parameters(module) == 72
    assert structure.macs == 2 * 64


def test_batchnorm_fold_candidates_are_seen_in_execution_order() -> None:
    structure = analyze_torch(handle_from_module(SmallCNN()))
    assert structure.foldable_batchnorms == 3  # every Conv in SmallCNN feeds a BatchNorm

    class NormFirst(nn.Module):  # a BatchNorm that does not consume a conv output
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm2d(3)
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.bn(x))

    other = analyze_torch(handle_from_module(NormFirst(), input_shapes=[[1, 3, 8, 8]]))
    assert other.foldable_batchnorms == 0


def test_by_dtype_separates_half_precision_weights() -> None:
    module = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    module[1].half()  # mixed precision: 4·2+2 = 10 fp16 values, 4·4+4 = 20 fp32 values
    structure = ModelStructure(framework="torch", weights=collect_weights(module), layers=[])
    rows = {row.dtype: row for row in structure.by_dtype()}
    assert rows["float16"].parameters == 10 and rows["float16"].bytes == 20
    assert rows["float32"].parameters == 20 and rows["float32"].bytes == 80
    assert structure.parameter_bytes == 100


def test_torchscript_file_totals(tmp_path: Path) -> None:
    module = _stack()
    path = tmp_path / "stack.pt"
    torch.jit.trace(module, torch.randn(1, 3, 8, 8)).save(str(path))
    handle = load_model(path, LoadOptions(input_shapes=[[1, 3, 8, 8]]))
    structure = analyze_torch(handle)
    assert structure.parameters == count_parameters(module)
    assert structure.macs == CONV_MACS + LINEAR_MACS
    assert any("TorchScript" in warning for warning in structure.warnings)


@pytest.mark.parametrize("shape", [[1, 3, 16, 16]])
def test_onnx_macs_follow_the_given_input_shape(tmp_path: Path, shape: list[int]) -> None:
    """A fully convolutional graph with a dynamic spatial size: MACs scale with --input-shape."""
    module = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)).eval()
    path = tmp_path / "conv.onnx"
    torch.onnx.export(
        module,
        (torch.randn(1, 3, 8, 8),),
        str(path),
        input_names=["x"],
        dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}},
        dynamo=False,
    )
    handle = load_model(path, LoadOptions(input_shapes=[shape]))
    structure = analyze_onnx(handle)
    assert structure.macs == 4 * 16 * 16 * 3 * 9


def test_onnx_conv_batchnorm_pairs_are_counted(tmp_path: Path) -> None:
    """A hand-built graph Conv → BatchNormalization → Relu → Conv: one foldable pair, MACs of both
    convs from inferred shapes (3→4 then 4→2 channels, 3×3, no padding, on 8×8)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["n1"], name="bn1"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["y"], kernel_shape=[3, 3], name="conv2"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 4, 4])],
        [
            init("w1", 4, 3, 3, 3),
            init("g", 4),
            init("b", 4),
            init("m", 4),
            numpy_helper.from_array(np.ones(4, np.float32), "v"),
            init("w2", 2, 4, 3, 3),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "convbn.onnx"
    onnx.save(model, str(path))
    structure = analyze_onnx(load_model(path, LoadOptions(input_shapes=[[1, 3, 8, 8]])))

    assert structure.foldable_batchnorms == 1
    assert structure.macs == 4 * 6 * 6 * 3 * 9 + 2 * 4 * 4 * 4 * 9
    assert structure.parameters == 108 + 4 * 4 + 72
