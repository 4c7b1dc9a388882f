"""Format detection from bytes and the specific errors for bad input (no model is run here)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from embodied_ai_architect.errors import ModelFormatError
from embodied_ai_architect.modelio.formats import ModelFormat, detect_format
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.schemas.loading import LoadOptions


def _error(path: Path, **kwargs: object) -> ModelFormatError:
    with pytest.raises(ModelFormatError) as info:
        load_model(path, LoadOptions(**kwargs))  # type: ignore[arg-type]
    assert info.value.hint, "every format error carries a hint"
    return info.value


def test_missing_path(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope.onnx").message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"")
    assert "empty" in _error(path).message


def test_text_file_named_onnx(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text("this is not a model, just some notes\n")
    error = _error(path)
    assert "text file" in error.message
    assert "extension" in error.hint


def test_random_bytes_are_an_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(bytes([0xFE, 0x01, 0x9C, 0x00, 0x17, 0xAA, 0x03, 0x88]) * 16)
    error = _error(path)
    assert "cannot recognise" in error.message
    assert "fe019c" in error.message
    assert "ONNX" in error.hint


def test_directory_without_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    assert "holds no recognised model" in _error(tmp_path).message


def test_directory_with_safetensors_but_no_config(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "model.safetensors").write_bytes(
        struct.pack("<Q", len(header)) + header + b"\0\0\0\0"
    )
    assert detect_format(tmp_path / "model.safetensors") is ModelFormat.SAFETENSORS
    error = _error(tmp_path)
    assert "no config.json" in error.message
    assert "`arch`" in error.hint


def test_safetensors_file_without_config(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "weights.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    error = _error(path)
    assert "no config.json" in error.message
    assert "`config_path`" in error.hint and error.field == "config_path"


def test_safetensors_truncated_inside_its_header(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]}}).encode()
    path = tmp_path / "weights.safetensors"
    path.write_bytes((struct.pack("<Q", len(header)) + header)[: len(header) // 2])
    assert "truncated" in _error(path).hint


def test_json_that_is_not_an_index(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama"}))
    assert "not a model" in _error(path).message


def test_size_limit_from_options_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.onnx"
    with path.open("wb") as handle:  # sparse: 64 MiB apparent size, nothing written
        handle.truncate(64 * 1024 * 1024)
    error = _error(path, max_bytes=1024 * 1024)
    assert "over the limit" in error.message
    assert error.details["size_bytes"] == 64 * 1024 * 1024
    assert "EAA_MAX_MODEL_BYTES" in error.hint

    monkeypatch.setenv("EAA_MAX_MODEL_BYTES", str(1024 * 1024))
    assert "over the limit" in _error(path).message


def test_directory_size_counts_against_the_limit(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\0" * 4096)
    assert "over the limit" in _error(tmp_path, max_bytes=1024).message


def test_corrupt_zip_is_reported_as_truncated(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    assert "truncated" in _error(path).hint


def test_zip_that_is_not_a_model(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "bundle.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.md", "hello")
    assert "not a PyTorch or Keras model" in _error(path).message


def test_hdf5_tflite_and_index_magic(tmp_path: Path) -> None:
    h5 = tmp_path / "a.bin"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 32)
    assert detect_format(h5) is ModelFormat.KERAS_H5
    tflite = tmp_path / "b.bin"
    tflite.write_bytes(b"\x1c\0\0\0TFL3" + b"\0" * 32)
    assert detect_format(tflite) is ModelFormat.TFLITE
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"w": "a.safetensors"}}))
    assert detect_format(index) is ModelFormat.SAFETENSORS_INDEX
    error = _error(index)
    assert "missing" in error.message and "a.safetensors" in error.message
