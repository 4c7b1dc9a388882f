"""OpenVinoModelHandle: converts from ONNX, loads, runs and matches ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.errors import ModelFormatError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.modelio.openvino_io import load_openvino, save_openvino
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.models import TinyDetector

pytest.importorskip("openvino")


def test_ir_from_onnx_runs_and_matches_onnxruntime(tmp_path: Path) -> None:
    import openvino as ov

    onnx_handle = export_onnx(
        handle_from_module(TinyDetector().eval(), name="det"), tmp_path / "det.onnx"
    )
    xml = save_openvino(ov.convert_model(str(onnx_handle.path)), tmp_path / "det.xml")
    handle = load_openvino(
        xml,
        threads=2,
        input_specs=onnx_handle.inputs,
        output_names=[spec.name for spec in onnx_handle.outputs],
    )
    assert handle.framework is Framework.OPENVINO
    assert handle.path == xml
    assert [s.name for s in handle.inputs] == [s.name for s in onnx_handle.inputs]
    assert [s.name for s in handle.outputs] == [s.name for s in onnx_handle.outputs]

    feeds = onnx_handle.example_inputs(batch=2, seed=3)
    expected = onnx_handle.run(feeds)
    actual = handle.run(feeds)
    assert list(actual) == list(expected)
    for name, want in expected.items():
        assert actual[name].shape == want.shape
        # boxes are in pixels (0–64): OpenVINO's CPU kernels agree to well under a pixel
        assert np.abs(actual[name] - want).max() < 0.05
    # outputs are copies, not views of the request's reused buffers
    first = handle.run(feeds)[handle.outputs[0].name]
    handle.run(handle.example_inputs(batch=2, seed=4))
    np.testing.assert_array_equal(first, actual[handle.outputs[0].name])


def test_an_ir_runs_in_the_precision_of_its_weights_not_the_plugins_choice(tmp_path: Path) -> None:
    """OpenVINO's CPU plugin computes FP32 IR in BF16 on CPUs with AVX512-BF16 / AMX (an AMD EPYC
    Zen 4 here): the optimizer would then measure a faster, less exact model than the OpenVINO
    target deploys (pinned f32). Every loaded IR is compiled with its precision pinned."""
    import openvino as ov

    from embodied_ai_architect.modelio.openvino_io import compute_precision

    onnx_handle = export_onnx(
        handle_from_module(TinyDetector().eval(), name="det"), tmp_path / "det.onnx"
    )
    model = ov.convert_model(str(onnx_handle.path))
    fp32 = load_openvino(save_openvino(model, tmp_path / "fp32.xml"), threads=1)
    fp16 = load_openvino(save_openvino(model, tmp_path / "fp16.xml", compress_to_fp16=True))
    hint = fp32.compiled_model().get_property("INFERENCE_PRECISION_HINT")
    assert hint == ov.Type.f32, hint
    assert fp32.inference_precision == "f32"
    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert fp16.inference_precision == ("f16" if "FP16" in capabilities else "f32")
    assert compute_precision(fp16_weights=False) == "f32"


def test_missing_bin_and_wrong_file_are_format_errors(tmp_path: Path) -> None:
    xml = tmp_path / "m.xml"
    xml.write_text("<net/>")
    with pytest.raises(ModelFormatError, match=r"m\.bin"):
        load_openvino(xml)
    with pytest.raises(ModelFormatError, match="not an OpenVINO IR"):
        load_openvino(tmp_path / "m.onnx")
