"""ONNX export of torch handles (single, multi-input VLA, multi-output detector) and ONNX intake
(wrong extension, external data, corrupt / truncated files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from embodied_ai_architect.errors import ExportError, ModelFormatError
from embodied_ai_architect.modelio.export import check_equivalence, export_onnx
from embodied_ai_architect.modelio.formats import ModelFormat, detect_format
from embodied_ai_architect.modelio.handle import OnnxModelHandle
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing import models


def _compare(source_handle: object, onnx_handle: OnnxModelHandle, batch: int = 1) -> None:
    feeds = source_handle.example_inputs(batch=batch, seed=5)  # type: ignore[attr-defined]
    want = list(source_handle.run(feeds).values())  # type: ignore[attr-defined]
    renamed = {
        dst.name: feeds[src.name]
        for src, dst in zip(source_handle.inputs, onnx_handle.inputs, strict=True)
    }  # type: ignore[attr-defined]
    got = list(onnx_handle.run(renamed).values())
    assert len(got) == len(want)
    for actual, expected in zip(got, want, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_export_mlp_policy_with_dynamic_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    handle = handle_from_module(models.build_mlp_policy(hidden=32), name="policy")
    onnx_handle = export_onnx(handle, tmp_path / "policy.onnx")
    assert onnx_handle.inputs[0].shape[0] == "batch"
    assert onnx_handle.metadata["opset"] == 18
    _compare(handle, onnx_handle, batch=3)


def test_export_detector_keeps_both_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    handle = handle_from_module(models.build_detector(image_size=32, width=8), name="det")
    onnx_handle = export_onnx(handle, tmp_path / "det.onnx")
    assert len(onnx_handle.outputs) == 2
    _compare(handle, onnx_handle)


def test_export_cnn_and_transformer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    for name, module in [
        ("cnn", models.build_small_cnn(width=8)),
        ("vit", models.build_vit(dim=32, depth=1, image_size=16, patch_size=8)),
    ]:
        handle = handle_from_module(module, name=name)
        _compare(handle, export_onnx(handle, tmp_path / f"{name}.onnx"))


def test_export_vla_two_inputs(tmp_path: Path) -> None:
    from embodied_ai_architect.models.vla import save_tiny_vla_checkpoint

    handle = load_model(save_tiny_vla_checkpoint(tmp_path / "vla", seed=1))
    onnx_handle = export_onnx(handle, tmp_path / "vla.onnx")
    assert [s.name for s in onnx_handle.inputs] == ["pixel_values", "input_ids"]
    assert onnx_handle.inputs[1].high == 128  # integer range carried over
    _compare(handle, onnx_handle)
    # detection is by bytes: the same ONNX file named .pt loads as ONNX
    renamed = tmp_path / "vla_model.pt"
    renamed.write_bytes((tmp_path / "vla.onnx").read_bytes())
    assert detect_format(renamed) is ModelFormat.ONNX
    reloaded = load_model(renamed)
    assert isinstance(reloaded, OnnxModelHandle)
    assert [s.name for s in reloaded.inputs] == ["pixel_values", "input_ids"]


def test_equivalence_check_catches_a_different_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    handle = handle_from_module(models.build_mlp_policy(hidden=16))
    onnx_handle = export_onnx(handle, tmp_path / "a.onnx")
    torch.manual_seed(1)
    other = handle_from_module(models.build_mlp_policy(hidden=16))
    with pytest.raises(ExportError):
        check_equivalence(other, onnx_handle)


def test_onnx_with_external_data(tmp_path: Path) -> None:
    import onnx

    torch.manual_seed(0)
    handle = handle_from_module(models.build_mlp_policy(hidden=64))
    exported = export_onnx(handle, tmp_path / "src.onnx")
    proto = onnx.load(str(exported.onnx_path))
    target = tmp_path / "ext" / "policy.onnx"
    target.parent.mkdir()
    onnx.save_model(
        proto,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="policy.onnx.data",
        size_threshold=0,
    )
    assert (target.parent / "policy.onnx.data").exists()
    loaded = load_model(target)
    _compare(handle, loaded)  # type: ignore[arg-type]

    (target.parent / "policy.onnx.data").unlink()
    with pytest.raises(ModelFormatError) as info:
        load_model(target)
    assert "external data" in info.value.message


def test_truncated_and_corrupt_onnx(tmp_path: Path) -> None:
    torch.manual_seed(0)
    exported = export_onnx(
        handle_from_module(models.build_small_cnn(width=8)), tmp_path / "cnn.onnx"
    )
    data = exported.onnx_path.read_bytes()
    half = tmp_path / "half.onnx"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError) as info:
        load_model(half)
    assert "export it again" in info.value.hint

    # a valid protobuf whose graph breaks ONNX rules (a node reading an undefined tensor)
    import onnx

    proto = onnx.load(str(exported.onnx_path))
    proto.graph.node[0].input[0] = "undefined_tensor"
    broken = tmp_path / "broken.onnx"
    onnx.save(proto, str(broken))
    with pytest.raises(ModelFormatError) as info:
        load_model(broken)
    assert "checker" in info.value.message


def test_with_file_keeps_the_signature_and_copies_what_it_keeps(tmp_path: Path) -> None:
    torch.manual_seed(0)
    onnx_handle = export_onnx(
        handle_from_module(models.build_mlp_policy(hidden=8)), tmp_path / "a.onnx"
    )
    onnx_handle.threads = 2
    copy = tmp_path / "b.onnx"
    copy.write_bytes(onnx_handle.onnx_path.read_bytes())
    same = onnx_handle.with_file(copy, name="b")
    assert (same.onnx_path, same.name, same.threads) == (copy, "b", 2)
    assert same.inputs == onnx_handle.inputs and same.inputs is not onnx_handle.inputs
    same.metadata["note"] = "mine"  # a copy: the source handle's metadata is untouched
    assert "note" not in onnx_handle.metadata
    fresh = onnx_handle.with_threads(1)
    assert fresh.threads == 1 and fresh.onnx_path == onnx_handle.onnx_path
    feeds = onnx_handle.example_inputs(seed=1)
    np.testing.assert_array_equal(
        next(iter(same.run(feeds).values())), next(iter(onnx_handle.run(feeds).values()))
    )
