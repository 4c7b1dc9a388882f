"""openvino_int8's FP32 scope: the output tail (a detector's decode, a softmax), the head layers
and the most sensitive layers, found on the converted graph by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.data.calibration import random_provider
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.models import build_detector

pytest.importorskip("openvino")
pytest.importorskip("nncf")


def test_output_tail_of_a_detector_stops_at_the_last_weighted_layers(tmp_path: Path) -> None:
    import openvino as ov

    from embodied_ai_architect.agents.optimization.quant.openvino_graph import (
        output_tail,
        ov_names_for,
    )

    handle = export_onnx(handle_from_module(build_detector(), name="det"), tmp_path / "det.onnx")
    model = ov.convert_model(str(handle.onnx_path))
    head, tail = output_tail(model)
    weighted = [op for op in model.get_ops() if op.get_friendly_name() in head]
    assert head and all(op.get_type_name() in ("Convolution", "MatMul") for op in weighted)
    assert len(head) < len([o for o in model.get_ops() if o.get_type_name() == "Convolution"])
    assert not set(head) & set(tail)
    # ONNX node names map onto the converted ops (a biased Conv is '<name>/WithoutBiases').
    import onnx

    conv = next(n.name for n in onnx.load(str(handle.onnx_path)).graph.node if n.op_type == "Conv")
    assert ov_names_for([conv, "no_such_node"], model)


def test_openvino_int8_keeps_tail_and_head_in_fp32_on_request(tmp_path: Path) -> None:
    handle = export_onnx(handle_from_module(build_detector(), name="det"), tmp_path / "det.onnx")
    provider = random_provider(handle.inputs, num_samples=8, seed=0)
    ctx = TechniqueContext(workdir=tmp_path / "a", calibration=provider, threads=1)
    default = apply_technique(
        "openvino_int8", handle, ctx, {"subset_size": 8, "keep_output_tail": True}
    )
    assert any("output tail" in change for change in default.changes)
    ctx = TechniqueContext(workdir=tmp_path / "b", calibration=provider, threads=1)
    head = apply_technique(
        "openvino_int8",
        handle,
        ctx,
        {"subset_size": 8, "keep_output_tail": True, "keep_head_layers": True},
    )
    assert any("nearest the outputs" in change for change in head.changes)
    assert head.metrics["quantized_nodes"] < default.metrics["quantized_nodes"]
    assert head.metrics["excluded_nodes"] > default.metrics["excluded_nodes"]


def test_auto_preset_is_mixed_for_silu_and_performance_for_relu(tmp_path: Path) -> None:
    import openvino as ov

    from embodied_ai_architect.agents.optimization.quant.openvino_graph import (
        signed_activations,
    )
    from embodied_ai_architect.testing.models import build_small_cnn

    silu = export_onnx(handle_from_module(build_detector(), name="det"), tmp_path / "det.onnx")
    relu = export_onnx(handle_from_module(build_small_cnn(), name="cnn"), tmp_path / "cnn.onnx")
    assert signed_activations(ov.convert_model(str(silu.onnx_path)))
    assert not signed_activations(ov.convert_model(str(relu.onnx_path)))
    provider = random_provider(silu.inputs, num_samples=8, seed=0)
    ctx = TechniqueContext(workdir=tmp_path / "q", calibration=provider, threads=1)
    result = apply_technique("openvino_int8", silu, ctx, {"subset_size": 8})
    assert any("mixed preset" in change for change in result.changes)


def test_openvino_int8_quantizes_the_runtime_steps_fp32_ir(tmp_path: Path) -> None:
    """After the runtime step keeps an OpenVINO FP32 IR, INT8 must still be reachable from it."""
    from embodied_ai_architect.agents.optimization.base import get_technique
    from embodied_ai_architect.modelio.handle import Framework

    assert Framework.OPENVINO in get_technique("openvino_int8").manifest.input_frameworks
    handle = export_onnx(handle_from_module(build_detector(), name="det"), tmp_path / "det.onnx")
    ir = apply_technique("openvino_ir", handle, TechniqueContext(workdir=tmp_path / "ir"), {})
    provider = random_provider(handle.inputs, num_samples=8, seed=0)
    ctx = TechniqueContext(workdir=tmp_path / "q", calibration=provider, threads=1)
    result = apply_technique("openvino_int8", ir.handle, ctx, {"subset_size": 8})
    assert result.metrics["quantized_nodes"] > 0
    assert result.metrics["size_after_bytes"] < result.metrics["size_before_bytes"] * 0.6
    feeds = handle.example_inputs(seed=1)
    before, after = handle.run(feeds), result.handle.run(feeds)
    assert [v.shape for v in before.values()] == [v.shape for v in after.values()]
