"""PyTorch intake: TorchScript, torch.export, state dicts + architecture, pickles (trust only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from embodied_ai_architect.errors import InputError, ModelFormatError, ModelLoadError
from embodied_ai_architect.modelio.formats import ModelFormat, detect_format
from embodied_ai_architect.modelio.handle import Framework, TorchModelHandle
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.modelio.torch_io import (
    handle_from_module,
    save_exported_program,
    save_torchscript,
)
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.testing import models

CNN_ARCH = "embodied_ai_architect.testing.models:build_small_cnn"


def _reference(module: torch.nn.Module, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    module.eval()
    with torch.no_grad():
        out = module(*(torch.from_numpy(v) for v in feeds.values()))
    outs = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in outs]


def _assert_matches(handle: TorchModelHandle, module: torch.nn.Module) -> None:
    feeds = handle.example_inputs(seed=3)
    got = list(handle.run(feeds).values())
    want = _reference(module, feeds)
    assert len(got) == len(want)
    for actual, expected in zip(got, want, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_torchscript_round_trip_keeps_signature_and_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = models.build_transformer_policy(horizon=4, dim=32, depth=1).eval()
    spec = TensorSpec(name="obs_history", shape=["batch", 4, 16])
    path = save_torchscript(policy, tmp_path / "policy.pt", [spec])
    assert detect_format(path) is ModelFormat.TORCHSCRIPT
    handle = load_model(path)
    assert isinstance(handle, TorchModelHandle)
    assert handle.framework is Framework.TORCH
    assert handle.inputs == [spec]
    assert handle.metadata["input_evidence"] == "file metadata"
    _assert_matches(handle, policy)


def test_torchscript_keeps_integer_ranges(tmp_path: Path) -> None:
    embed = torch.nn.Sequential(
        torch.nn.Embedding(50, 8), torch.nn.Flatten(), torch.nn.Linear(40, 2)
    )
    spec = TensorSpec(name="ids", shape=[1, 5], dtype="int64", low=0, high=50)
    handle = load_model(save_torchscript(embed, tmp_path / "ids.pt", [spec]))
    assert handle.inputs[0].high == 50
    ids = handle.example_inputs()["ids"]
    assert ids.dtype == np.int64 and ids.max() < 50


def test_half_a_torchscript_archive_is_a_format_error(tmp_path: Path) -> None:
    path = save_torchscript(
        models.build_mlp_policy(hidden=16),
        tmp_path / "p.pt",
        [TensorSpec(name="obs", shape=[1, 16])],
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert "truncated" in info.value.hint


def test_exported_program_detector_two_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    detector = models.build_detector(image_size=32, width=8).eval()
    spec = TensorSpec(name="images", shape=[1, 3, 32, 32])
    path = save_exported_program(detector, tmp_path / "det.pt2", [spec])
    assert detect_format(path) is ModelFormat.TORCH_EXPORT
    handle = load_model(path)
    assert handle.inputs == [spec]
    _assert_matches(handle, detector)  # type: ignore[arg-type]


def test_state_dict_with_arch_factory(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cnn = models.build_small_cnn(width=8).eval()
    path = tmp_path / "cnn_state.pth"
    torch.save(cnn.state_dict(), path)
    assert detect_format(path) is ModelFormat.TORCH_ZIP
    handle = load_model(path, LoadOptions(arch=CNN_ARCH, arch_kwargs={"width": 8}))
    assert handle.inputs[0].shape == [1, 1, 8, 8]
    _assert_matches(handle, cnn)  # type: ignore[arg-type]


def test_state_dict_without_arch_says_what_to_pass(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save(models.build_mlp_policy(hidden=16).state_dict(), path)
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    # Field terms (each face renders its own names): `arch` / `config_path`.
    assert "`arch`" in info.value.hint and "`config_path`" in info.value.hint
    assert info.value.field == "arch"


def test_state_dict_with_wrong_keys_lists_them(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    state = models.build_small_cnn(width=8).state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["classifier.3.bias"]
    torch.save(state, path)
    with pytest.raises(ModelLoadError) as info:
        load_model(path, LoadOptions(arch=CNN_ARCH, arch_kwargs={"width": 8}))
    assert info.value.details["missing"] == ["classifier.3.bias"]
    assert info.value.details["unexpected"] == ["extra.weight"]
    assert "never used silently" in info.value.hint


def test_state_dict_with_wrong_shapes(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save(models.build_small_cnn(width=8).state_dict(), path)
    with pytest.raises(ModelLoadError) as info:
        load_model(path, LoadOptions(arch=CNN_ARCH, arch_kwargs={"width": 4}))
    assert "wrong shape" in info.value.message


def test_pickled_module_needs_trust(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = models.build_mlp_policy(hidden=16).eval()
    path = tmp_path / "policy_full.pt"
    torch.save(policy, path)
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    hint = info.value.hint
    assert "arbitrary code" in hint and "`trust_pickle`" in hint and "--" not in hint
    assert info.value.field == "trust_pickle"
    assert "state dict" in hint and "TorchScript" in hint  # the two safe alternatives
    handle = load_model(path, LoadOptions(trust_pickle=True))
    assert handle.inputs[0].shape == [1, 16]
    _assert_matches(handle, policy)  # type: ignore[arg-type]


def test_legacy_pickle_without_trust(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save(models.build_mlp_policy(hidden=8), path, _use_new_zipfile_serialization=False)
    assert detect_format(path) is ModelFormat.TORCH_LEGACY
    with pytest.raises(ModelFormatError):
        load_model(path)


def test_input_shape_option_overrides_and_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "cnn_state.pth"
    torch.save(models.build_small_cnn(width=8).state_dict(), path)
    options = LoadOptions(arch=CNN_ARCH, arch_kwargs={"width": 8}, input_shapes=[[2, 1, 16, 16]])
    handle = load_model(path, options)
    assert handle.inputs[0].shape == [2, 1, 16, 16]
    assert handle.metadata["input_evidence"] == "input_shapes"
    with pytest.raises(InputError):
        load_model(path, options.model_copy(update={"input_shapes": [[1, 1, 8, 8], [1, 2]]}))


def test_bad_arch_spec(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save(models.build_mlp_policy(hidden=8).state_dict(), path)
    for arch in ("no_colon", "embodied_ai_architect.testing.models:nope", "not_a_module_x:f"):
        with pytest.raises(InputError):
            load_model(path, LoadOptions(arch=arch))


def test_save_requires_a_signature(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        save_torchscript(models.build_mlp_policy(hidden=8), tmp_path / "x.pt", [])


def test_handle_from_module_infers_linear_input() -> None:
    handle = handle_from_module(torch.nn.Sequential(torch.nn.Linear(5, 2)))
    assert handle.inputs[0].shape == [1, 5]
    with pytest.raises(InputError):
        handle_from_module(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))


def test_training_checkpoint_dict_uses_its_model_state(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cnn = models.build_small_cnn(width=8).eval()
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model_state_dict": cnn.state_dict(), "lr": 0.1}, path)
    handle = load_model(path, LoadOptions(arch=CNN_ARCH, arch_kwargs={"width": 8}))
    _assert_matches(handle, cnn)  # type: ignore[arg-type]


def test_extra_metadata_round_trips_and_bad_meta_is_reported(tmp_path: Path) -> None:
    policy = models.build_mlp_policy(hidden=8)
    spec = TensorSpec(name="obs", shape=[1, 16])
    path = save_torchscript(policy, tmp_path / "p.pt", [spec], extra={"task": "reach"})
    assert load_model(path).metadata["file_meta"] == {"task": "reach"}

    scripted = torch.jit.trace(policy.eval(), (torch.zeros(1, 16),))
    bad = tmp_path / "bad.pt"
    torch.jit.save(scripted, str(bad), _extra_files={"branes_meta.json": '{"inputs": [{"x": 1}]}'})
    with pytest.raises(ModelFormatError) as info:
        load_model(bad)
    assert "invalid input signature" in info.value.message


def test_trusted_checkpoint_dict_holding_a_module(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = models.build_mlp_policy(hidden=8).eval()
    path = tmp_path / "ckpt_module.pt"
    torch.save({"model": policy, "epoch": 1}, path)
    with pytest.raises(ModelFormatError):
        load_model(path)
    _assert_matches(load_model(path, LoadOptions(trust_pickle=True)), policy)  # type: ignore[arg-type]
