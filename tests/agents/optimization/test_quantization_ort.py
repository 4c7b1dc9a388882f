"""ONNX Runtime quantization techniques on real tiny models: they run, shrink, stay faithful.

Covers ort_int8_dynamic, ort_int8_static (incl. mixed precision), ort_fp16, ort_int4_rtn and
ort_int4_gptq, and their typed errors for bad configs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.agents.optimization.quant.onnx_graph import (
    float_weight_node_names,
    output_tail,
    quantized_node_names,
)
from embodied_ai_architect.data.calibration import ArrayProvider, random_provider
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.handle import OnnxModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.profile import LayerSensitivity, ModelProfile
from embodied_ai_architect.testing.digits import DigitsSplit, train_digits_cnn
from embodied_ai_architect.testing.models import TinyViT, build_detector


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[OnnxModelHandle, DigitsSplit, Path]:
    model, split = train_digits_cnn(epochs=8, seed=0)
    folder = tmp_path_factory.mktemp("digits")
    handle = export_onnx(handle_from_module(model, name="digits"), folder / "digits.onnx")
    calibration = folder / "calibration.npy"
    np.save(calibration, split.x_train[:128])
    return handle, split, calibration


@pytest.fixture(scope="module")
def vit(tmp_path_factory: pytest.TempPathFactory) -> OnnxModelHandle:
    torch.manual_seed(0)
    model = TinyViT(image_size=32, patch_size=8, dim=64, depth=2, heads=4).eval()
    return export_onnx(
        handle_from_module(model, name="vit"), tmp_path_factory.mktemp("vit") / "vit.onnx"
    )


def _logits(handle: OnnxModelHandle, x: np.ndarray) -> np.ndarray:
    return next(iter(handle.run({handle.inputs[0].name: x}).values()))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_static_int8_digits_keeps_top1_and_shrinks_weights(digits, tmp_path: Path) -> None:
    handle, split, calibration = digits
    provider = ArrayProvider(calibration, handle.inputs, num_samples=128)
    events: list[float] = []
    ctx = TechniqueContext(
        workdir=tmp_path, calibration=provider, sink=lambda e: events.append(e.percent)
    )
    result = apply_technique("ort_int8_static", handle, ctx, {"num_samples": 100})

    out = result.handle
    assert out.path is not None and out.path.parent == tmp_path
    assert [s.model_dump() for s in out.inputs] == [s.model_dump() for s in handle.inputs]
    before, after = _logits(handle, split.x_test), _logits(out, split.x_test)
    agreement = float((before.argmax(1) == after.argmax(1)).mean())
    accuracy_fp32 = float((before.argmax(1) == split.y_test).mean())
    accuracy_int8 = float((after.argmax(1) == split.y_test).mean())
    print(
        f"digits static INT8: agreement {agreement:.4f}, accuracy {accuracy_fp32:.4f} -> {accuracy_int8:.4f}"
    )
    assert agreement >= 0.99
    assert accuracy_int8 >= accuracy_fp32 - 0.01
    # 3 convs + 2 linears quantized; weights ≈ 4× smaller (scales/zero points/int32 biases remain)
    assert result.metrics["quantized_nodes"] == 5
    assert result.metrics["weight_bytes_before"] / result.metrics["weight_bytes_after"] > 3.3
    assert result.metrics["calibration_samples"] == 100
    assert events[0] == 0 and events[-1] == 100 and len(events) >= 4


def test_static_int8_mixed_precision_keeps_named_and_sensitive_layers_fp32(
    digits, tmp_path: Path
) -> None:
    handle, _, calibration = digits
    profile = ModelProfile.model_construct(
        sensitivity=[
            LayerSensitivity(layer="features.0", op_type="Conv2d", metric="rel L2", score=0.3),
            LayerSensitivity(layer="features.3", op_type="Conv2d", metric="rel L2", score=0.01),
        ]
    )
    ctx = TechniqueContext(workdir=tmp_path, profile=profile)
    result = apply_technique(
        "ort_int8_static",
        handle,
        ctx,
        {
            "calibration_path": str(calibration),
            "nodes_to_exclude": ["classifier.3"],  # a torch module path
            "exclude_top_sensitive": 1,
        },
    )
    graph = onnx.load(str(result.handle.path))
    kept = set(float_weight_node_names(graph))
    assert kept == {"/features/features.0/Conv", "/classifier/classifier.3/Gemm"}
    quantized = set(quantized_node_names(graph))
    assert not kept & quantized
    assert "/features/features.3/Conv" in quantized
    assert result.metrics["excluded_nodes"] == 2
    assert any("sensitivity #1" in change for change in result.changes)


def test_dynamic_int8_vit_is_faithful(vit: OnnxModelHandle, tmp_path: Path) -> None:
    result = apply_technique(
        "ort_int8_dynamic",
        vit,
        TechniqueContext(workdir=tmp_path),
        {"op_types": ["MatMul", "Gemm"]},
    )
    x = vit.example_inputs(batch=8, seed=1)[vit.inputs[0].name]
    assert _cosine(_logits(vit, x), _logits(result.handle, x)) > 0.995
    assert result.metrics["quantized_nodes"] >= 8  # 2 blocks × (qkv, out, fc1, fc2) + head
    # the patch-embedding Conv stays FP32 (op_types), so less than the 4× of full INT8
    assert result.metrics["weight_bytes_before"] / result.metrics["weight_bytes_after"] > 2.5
    assert any("without symbolic shape" in change for change in result.changes)


def test_fp16_halves_weights_and_keeps_or_changes_io(vit: OnnxModelHandle, tmp_path: Path) -> None:
    kept = apply_technique("ort_fp16", vit, TechniqueContext(workdir=tmp_path / "a"), {})
    x = vit.example_inputs(batch=2, seed=2)[vit.inputs[0].name]
    assert _cosine(_logits(vit, x), _logits(kept.handle, x)) > 0.9999
    assert 1.9 < kept.metrics["weight_bytes_before"] / kept.metrics["weight_bytes_after"] < 2.1
    assert kept.handle.inputs[0].dtype == "float32"

    raw = apply_technique(
        "ort_fp16", vit, TechniqueContext(workdir=tmp_path / "b"), {"keep_io_types": False}
    )
    assert raw.handle.inputs[0].dtype == "float16"
    assert raw.handle.inputs[0].name == vit.inputs[0].name
    assert raw.warnings
    out = _logits(raw.handle, x.astype(np.float16))
    assert out.dtype == np.float16


def test_int4_rtn_shrinks_matmul_weights(vit: OnnxModelHandle, tmp_path: Path) -> None:
    result = apply_technique("ort_int4_rtn", vit, TechniqueContext(workdir=tmp_path), {})
    ratio = (
        result.metrics["matmul_weight_bytes_before"] / result.metrics["matmul_weight_bytes_after"]
    )
    assert ratio >= 6
    graph = onnx.load(str(result.handle.path))
    assert (
        sum(n.op_type == "MatMulNBits" for n in graph.graph.node)
        == result.metrics["quantized_nodes"]
    )
    x = vit.example_inputs(batch=8, seed=3)[vit.inputs[0].name]
    assert _cosine(_logits(vit, x), _logits(result.handle, x)) > 0.97


@pytest.fixture(scope="module")
def state_mlp(tmp_path_factory: pytest.TempPathFactory) -> OnnxModelHandle:
    """An MLP policy over an 18-wide state: its input layer is not a multiple of any block."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(18, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 4)
    ).eval()
    folder = tmp_path_factory.mktemp("state_mlp")
    return export_onnx(
        handle_from_module(model, name="state_mlp", input_shapes=[[1, 18]]), folder / "mlp.onnx"
    )


@pytest.mark.parametrize("technique", ["ort_int4_rtn", "ort_int4_gptq"])
def test_int4_keeps_indivisible_layers_fp32_or_pads_them(
    state_mlp: OnnxModelHandle, technique: str, tmp_path: Path
) -> None:
    x = state_mlp.example_inputs(batch=16, seed=2)
    reference = next(iter(state_mlp.run(x).values()))

    def run(mode: str) -> tuple[onnx.ModelProto, float, str]:
        ctx = TechniqueContext(
            workdir=tmp_path / mode,
            calibration=random_provider(state_mlp.inputs, num_samples=16, seed=1),
        )
        result = apply_technique(technique, state_mlp, ctx, {"indivisible": mode})
        out = next(iter(result.handle.run(x).values()))
        assert _cosine(reference, out) > 0.9
        return (
            onnx.load(str(result.handle.path)),
            result.metrics["quantized_nodes"],
            result.changes[-1],
        )

    kept, quantized, note = run("fp32")
    float_matmuls = [n.name for n in kept.graph.node if n.op_type == "MatMul"]
    # The 18-wide input layer stays a float MatMul (GPTQ too: ORT's GPTQ path ignored the
    # exclusion until the node config marked it); the 128-wide ones became MatMulNBits.
    assert len(float_matmuls) == 1 and "kept 1 layer(s) in FP32" in note
    assert float_matmuls[0] in note and quantized == 2
    padded, quantized, _ = run("pad")
    assert not any(n.op_type == "MatMul" for n in padded.graph.node) and quantized == 3


def test_int4_refuses_a_model_with_no_divisible_layer(tmp_path: Path) -> None:
    narrow = nn.Sequential(nn.Linear(18, 24), nn.ReLU(), nn.Linear(24, 2)).eval()
    handle = export_onnx(
        handle_from_module(narrow, input_shapes=[[1, 18]]), tmp_path / "narrow.onnx"
    )
    with pytest.raises(ConfigError, match="2 of 2 layer") as info:
        apply_technique("ort_int4_rtn", handle, TechniqueContext(workdir=tmp_path), {})
    assert "indivisible='pad'" in info.value.hint and "'fp32'" not in info.value.hint
    padded = apply_technique(
        "ort_int4_rtn", handle, TechniqueContext(workdir=tmp_path / "pad"), {"indivisible": "pad"}
    )
    assert padded.metrics["quantized_nodes"] == 2


def test_int4_gptq_uses_calibration(vit: OnnxModelHandle, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs calibration data") as info:
        apply_technique("ort_int4_gptq", vit, TechniqueContext(workdir=tmp_path / "none"), {})
    assert "`calibration_data`" in info.value.hint and info.value.field == "calibration_data"
    ctx = TechniqueContext(
        workdir=tmp_path, calibration=random_provider(vit.inputs, num_samples=8, seed=1)
    )
    result = apply_technique("ort_int4_gptq", vit, ctx, {"num_samples": 8})
    assert result.metrics["calibration_samples"] == 8
    ratio = (
        result.metrics["matmul_weight_bytes_before"] / result.metrics["matmul_weight_bytes_after"]
    )
    assert ratio >= 6
    x = vit.example_inputs(batch=4, seed=3)[vit.inputs[0].name]
    assert _cosine(_logits(vit, x), _logits(result.handle, x)) > 0.95


def test_bad_configs_raise_typed_errors_with_hints(digits, vit, tmp_path: Path) -> None:
    handle, _, calibration = digits
    ctx = TechniqueContext(workdir=tmp_path)
    with pytest.raises(ConfigError, match="needs calibration data") as info:
        apply_technique("ort_int8_static", handle, ctx, {})
    assert info.value.hint
    with pytest.raises(ConfigError, match="num_samples"):
        apply_technique("ort_int8_static", handle, ctx, {"num_samples": 0})
    with pytest.raises(ConfigError, match="matches no node") as info:
        apply_technique(
            "ort_int8_static",
            handle,
            ctx,
            {"calibration_path": str(calibration), "nodes_to_exclude": ["features.99"]},
        )
    assert "/features/features.0/Conv" in info.value.hint
    with pytest.raises(ConfigError, match="sensitivity"):
        apply_technique("ort_int8_dynamic", handle, ctx, {"exclude_top_sensitive": 2})
    with pytest.raises(ConfigError, match="does not divide the input size of 7 of 9") as info:
        apply_technique("ort_int4_rtn", vit, ctx, {"block_size": 128, "indivisible": "error"})
    assert "[16, 32, 64]" in info.value.hint and "indivisible='pad'" in info.value.hint
    with pytest.raises(ConfigError, match="power of two"):
        apply_technique("ort_int4_rtn", vit, ctx, {"block_size": 48})

    convs = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3)).eval()
    conv_only = export_onnx(
        handle_from_module(convs, input_shapes=[[1, 3, 16, 16]]), tmp_path / "convs.onnx"
    )
    with pytest.raises(ConfigError, match="no MatMul / Linear") as info:
        apply_technique("ort_int4_rtn", conv_only, ctx, {})
    assert "ort_int8_static" in info.value.hint
    # torch handles are refused before running (ONNX techniques need an exported model)
    with pytest.raises(ConfigError, match="export"):
        apply_technique(
            "ort_int8_dynamic", handle_from_module(convs, input_shapes=[[1, 3, 16, 16]]), ctx, {}
        )


def test_static_int8_keeps_a_detectors_output_tail_in_fp32(tmp_path: Path) -> None:
    # The decode (box scaling, score sigmoid, the Concats) stays float: quantized, ORT put box
    # pixels and 0-1 class scores behind one scale (YOLOv8s: class agreement 0.59 -> 1.00).
    handle = export_onnx(handle_from_module(build_detector(), name="det"), tmp_path / "det.onnx")
    tail = output_tail(onnx.load(str(handle.onnx_path)))
    kinds = {n.name: n.op_type for n in onnx.load(str(handle.onnx_path)).graph.node}
    assert tail and {"Sigmoid", "Concat"} <= {kinds[name] for name in tail}
    assert not {"Conv", "Constant"} & {kinds[name] for name in tail}
    provider = random_provider(handle.inputs, num_samples=8, seed=0)

    def quantize(keep: bool) -> tuple[list[str], list[str]]:
        ctx = TechniqueContext(workdir=tmp_path / str(keep), calibration=provider, threads=1)
        result = apply_technique(
            "ort_int8_static", handle, ctx, {"num_samples": 8, "keep_output_tail": keep}
        )
        graph = onnx.load(str(result.handle.onnx_path)).graph
        producer = {out: node.op_type for node in graph.node for out in node.output}
        return [producer[o.name] for o in graph.output], result.changes

    kept, changes = quantize(True)
    assert "DequantizeLinear" not in kept and any("output tail" in c for c in changes)
    quantized, changes = quantize(False)
    assert set(quantized) == {"DequantizeLinear"}
    assert not any("output tail" in c for c in changes)
