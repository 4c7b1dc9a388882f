"""Hugging Face intake: safetensors (single, sharded, directory) + config.json, the tiny VLA."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from embodied_ai_architect.errors import ModelFormatError, ModelLoadError
from embodied_ai_architect.modelio.formats import ModelFormat, detect_format
from embodied_ai_architect.modelio.handle import TorchModelHandle
from embodied_ai_architect.modelio.hf_io import build_from_config
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.models.vla import (
    BranesVLAForActionPrediction,
    build_tiny_vla,
    save_tiny_vla_checkpoint,
)
from embodied_ai_architect.schemas.loading import LoadOptions

SEED = 7


@pytest.fixture(scope="module")
def vla_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_vla_checkpoint(tmp_path_factory.mktemp("hf") / "vla", seed=SEED)


def _vla_reference(feeds: dict[str, np.ndarray]) -> np.ndarray:
    model = build_tiny_vla(seed=SEED)
    with torch.no_grad():
        out = model(torch.from_numpy(feeds["pixel_values"]), torch.from_numpy(feeds["input_ids"]))
    return out.actions.numpy()


def _check_vla(handle: object) -> None:
    assert isinstance(handle, TorchModelHandle)
    assert isinstance(handle.module, BranesVLAForActionPrediction)
    names = [spec.name for spec in handle.inputs]
    assert names == ["pixel_values", "input_ids"]
    pixels, ids = handle.inputs
    assert pixels.shape == [1, 3, 32, 32] and pixels.dtype == "float32"
    assert ids.dtype == "int64" and ids.low == 0 and ids.high == 128
    feeds = handle.example_inputs(seed=1)
    actions = handle.run(feeds)["actions"]
    assert actions.shape == (1, 4, 7)
    np.testing.assert_allclose(actions, _vla_reference(feeds), rtol=1e-5, atol=1e-6)


def test_vla_directory(vla_dir: Path) -> None:
    assert detect_format(vla_dir) is ModelFormat.HF_DIRECTORY
    handle = load_model(vla_dir)
    _check_vla(handle)
    assert handle.metadata["hf_model_type"] == "branes_vla"
    assert handle.metadata["input_evidence"] == "config.json"


def test_vla_single_safetensors_file(vla_dir: Path) -> None:
    _check_vla(load_model(vla_dir / "model.safetensors"))


def test_vla_state_dict_pt_with_config(vla_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "vla_state.pt"
    torch.save(build_tiny_vla(seed=SEED).state_dict(), path)
    _check_vla(load_model(path, LoadOptions(config_path=vla_dir / "config.json")))


def test_sharded_vit_checkpoint(tmp_path: Path) -> None:
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=16,
        patch_size=8,
    )
    vit = ViTModel(config).eval()
    vit.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    handle = load_model(tmp_path / "model.safetensors.index.json")
    assert handle.inputs[0].name == "pixel_values"
    assert handle.inputs[0].shape == [1, 3, 16, 16]
    feeds = handle.example_inputs()
    with torch.no_grad():
        want = vit(torch.from_numpy(feeds["pixel_values"])).last_hidden_state.numpy()
    np.testing.assert_allclose(handle.run(feeds)["last_hidden_state"], want, atol=1e-6)

    # a missing shard is named
    next(tmp_path.glob("model-00001-*.safetensors")).unlink()
    with pytest.raises(ModelFormatError) as info:
        load_model(tmp_path)
    assert "missing" in info.value.message


def test_text_model_with_tied_embeddings(tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).eval().save_pretrained(tmp_path)
    handle = load_model(tmp_path)
    (ids,) = handle.inputs
    assert ids.name == "input_ids" and ids.shape == [1, 16] and ids.high == 64
    assert handle.run(handle.example_inputs())["logits"].shape == (1, 16, 64)
    # the longer sequence the user asks for is used
    longer = load_model(tmp_path, LoadOptions(input_shapes=[[1, 24]]))
    assert longer.inputs[0].shape == [1, 24] and longer.inputs[0].high == 64


def test_config_of_another_model_lists_mismatched_weights(vla_dir: Path, tmp_path: Path) -> None:
    config = json.loads((vla_dir / "config.json").read_text())
    config["text_config"]["num_hidden_layers"] = 2  # weights have one layer
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(vla_dir / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(ModelLoadError) as info:
        load_model(tmp_path)
    missing = info.value.details["missing"]
    assert missing and all("layers.1" in key for key in missing)
    assert "never used silently" in info.value.hint


def test_config_with_wrong_sizes(vla_dir: Path, tmp_path: Path) -> None:
    config = json.loads((vla_dir / "config.json").read_text())
    config["action_dim"] = 3
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(vla_dir / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(ModelLoadError) as info:
        load_model(tmp_path)
    assert "action_head" in info.value.message


def test_truncated_safetensors(vla_dir: Path, tmp_path: Path) -> None:
    shutil.copy(vla_dir / "config.json", tmp_path / "config.json")
    data = (vla_dir / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError) as info:
        load_model(tmp_path)
    assert "truncated" in info.value.hint


def test_unknown_model_type_and_missing_model_type(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "no_such_architecture_xyz"}))
    with pytest.raises(ModelLoadError) as info:
        build_from_config(path)
    assert "`arch`" in info.value.hint
    path.write_text(json.dumps({"hidden_size": 3}))
    with pytest.raises(ModelFormatError):
        build_from_config(path)


def test_safetensors_with_arch_factory(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from embodied_ai_architect.testing.models import build_mlp_policy

    torch.manual_seed(0)
    policy = build_mlp_policy(hidden=16).eval()
    path = tmp_path / "policy.safetensors"
    save_file(policy.state_dict(), str(path))
    arch = "embodied_ai_architect.testing.models:build_mlp_policy"
    handle = load_model(path, LoadOptions(arch=arch, arch_kwargs={"hidden": 16}))
    feeds = handle.example_inputs()
    with torch.no_grad():
        want = policy(torch.from_numpy(feeds["obs"])).numpy()
    np.testing.assert_allclose(next(iter(handle.run(feeds).values())), want, atol=1e-6)


def test_directory_with_pytorch_model_bin(vla_dir: Path, tmp_path: Path) -> None:
    shutil.copy(vla_dir / "config.json", tmp_path / "config.json")
    torch.save(build_tiny_vla(seed=SEED).state_dict(), tmp_path / "pytorch_model.bin")
    assert detect_format(tmp_path) is ModelFormat.HF_DIRECTORY
    _check_vla(load_model(tmp_path))


def test_config_without_architectures_uses_the_registered_auto_model(
    vla_dir: Path, tmp_path: Path
) -> None:
    config = json.loads((vla_dir / "config.json").read_text())
    del config["architectures"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(vla_dir / "model.safetensors", tmp_path / "model.safetensors")
    _check_vla(load_model(tmp_path))
