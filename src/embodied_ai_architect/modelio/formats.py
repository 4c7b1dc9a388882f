"""Detect a model file's format from its bytes (magic numbers, archive contents), never its name."""

from __future__ import annotations

import json
import struct
import zipfile
from enum import StrEnum
from pathlib import Path

from embodied_ai_architect.errors import ModelFormatError
from embodied_ai_architect.modelio.onnx_header import read_onnx_header

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"


class ModelFormat(StrEnum):
    TORCHSCRIPT = "torchscript"
    TORCH_EXPORT = "torch_export"  # torch.export .pt2 archive
    TORCH_ZIP = "torch_zip"  # torch.save zip: a state dict or a pickled module
    TORCH_LEGACY = "torch_legacy"  # pre-1.6 torch.save / plain pickle
    ONNX = "onnx"
    SAFETENSORS = "safetensors"
    SAFETENSORS_INDEX = "safetensors_index"  # sharded checkpoint index json
    HF_DIRECTORY = "hf_directory"  # config.json + *.safetensors
    TF_SAVEDMODEL = "tf_savedmodel"
    KERAS = "keras"  # Keras 3 .keras zip
    KERAS_H5 = "keras_h5"
    TFLITE = "tflite"


def detect_format(path: Path, *, max_bytes: int | None = None) -> ModelFormat:
    """Return the format of ``path`` or raise ModelFormatError saying what is wrong and what to do.

    Example:
        >>> detect_format(Path("model.onnx"))  # doctest: +SKIP
        <ModelFormat.ONNX: 'onnx'>
    """
    path = Path(path)
    if not path.exists():
        raise ModelFormatError(
            f"model path {str(path)!r} does not exist",
            hint="check the path; relative paths are resolved from the current directory",
        )
    if path.is_dir():
        fmt = _detect_directory(path)
        _check_size(path, _directory_size(path), max_bytes)
        return fmt
    size = path.stat().st_size
    if size == 0:
        raise ModelFormatError(
            f"model file {path.name!r} is empty (0 bytes)",
            hint="the file was probably not written completely; export or download it again",
        )
    _check_size(path, size, max_bytes)
    with path.open("rb") as handle:
        head = handle.read(64)

    if head.startswith(_ZIP_MAGIC):
        return _detect_zip(path)
    if head.startswith(_HDF5_MAGIC):
        return ModelFormat.KERAS_H5
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return ModelFormat.TFLITE
    if _looks_like_safetensors(head, size):
        return ModelFormat.SAFETENSORS
    if _looks_like_truncated_safetensors(head, size):
        raise ModelFormatError(
            f"{path.name!r} starts like a SafeTensors file but is shorter than its own header "
            f"({size} bytes)",
            hint="the file is truncated; save or download it again",
        )
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in range(2, 6):
        return ModelFormat.TORCH_LEGACY
    if head.lstrip()[:1] == b"{":
        return _detect_json(path)
    if _looks_like_text(head):
        raise ModelFormatError(
            f"{path.name!r} is a text file, not a model (starts with {head[:24]!r})",
            hint="pass the binary model file (e.g. the .onnx / .pt / .safetensors written by "
            "your exporter); formats are recognised from the bytes, not the extension",
        )
    if _looks_like_onnx(head):
        return ModelFormat.ONNX
    raise ModelFormatError(
        f"cannot recognise the format of {path.name!r} from its contents "
        f"(first bytes: {head[:8].hex()})",
        hint="supported: TorchScript, torch.export (.pt2), torch state dicts, ONNX, SafeTensors "
        "(+config.json), TF SavedModel, Keras (.keras/.h5), TFLite; check the file is one of them "
        "and was written completely",
    )


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 2 <= header_len <= size - 8 and head[8:9] == b"{"


def _check_size(path: Path, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ModelFormatError(
            f"model {path.name!r} is {size / 1e6:.1f} MB, over the limit of "
            f"{max_bytes / 1e6:.1f} MB",
            hint="raise the limit with EAA_MAX_MODEL_BYTES (or LoadOptions.max_bytes) if the "
            "model is expected to be this big",
            details={"size_bytes": size, "max_bytes": max_bytes},
        )


def _directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _looks_like_truncated_safetensors(head: bytes, size: int) -> bool:
    # A little-endian u64 header length (sane: < 100 MB) followed by a JSON header.
    if len(head) < 10 or head[8:9] != b"{":
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return size - 8 < header_len < 100_000_000


def _looks_like_text(head: bytes) -> bool:
    # Model files start with binary bytes (magic numbers, protobuf tags, lengths); a head that
    # decodes as printable UTF-8 is a text file (the last bytes may split a character).
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return False


def _looks_like_onnx(head: bytes) -> bool:
    # ModelProto starts with ir_version (field 1, varint: tag 0x08) in every exporter we know,
    # occasionally with producer_name (field 2: 0x12) or opset_import first.
    return head[:1] in (b"\x08", b"\x12", b"\x3a", b"\x42")


def _detect_zip(path: Path) -> ModelFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFormatError(
            f"{path.name!r} starts like a zip archive (PyTorch/Keras) but cannot be read: {exc}",
            hint="the file is probably truncated; save or download it again",
        ) from exc
    basenames = {name.rsplit("/", 1)[-1] for name in names}
    dirs = {part for name in names for part in name.split("/")[:-1]}
    if any("serialized_exported_program" in n for n in names) or "archive_format" in basenames:
        return ModelFormat.TORCH_EXPORT
    if "code" in dirs and ("constants.pkl" in basenames or "data.pkl" in basenames):
        return ModelFormat.TORCHSCRIPT
    if "data.pkl" in basenames:
        return ModelFormat.TORCH_ZIP
    if "config.json" in basenames and any(n.endswith(".weights.h5") for n in names):
        return ModelFormat.KERAS
    raise ModelFormatError(
        f"{path.name!r} is a zip archive but not a PyTorch or Keras model "
        f"(contains: {', '.join(sorted(names)[:5])}...)",
        hint="pass the model file itself, not an archive containing it",
    )


def _detect_json(path: Path) -> ModelFormat:
    try:
        content = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(
            f"{path.name!r} looks like JSON but cannot be parsed: {exc}",
            hint="pass a model file; JSON is only accepted as a sharded safetensors index",
        ) from exc
    if isinstance(content, dict) and "weight_map" in content:
        return ModelFormat.SAFETENSORS_INDEX
    raise ModelFormatError(
        f"{path.name!r} is a JSON file, not a model",
        hint="give the weights file (or the directory holding both) as the model, and the "
        "config as `config_path`",
        field="model_path",
    )


def _detect_directory(path: Path) -> ModelFormat:
    if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
        return ModelFormat.TF_SAVEDMODEL
    has_config = (path / "config.json").exists()
    has_weights = (
        any(path.glob("*.safetensors"))
        or (path / "model.safetensors.index.json").exists()
        or (path / "pytorch_model.bin").exists()
    )
    if has_config and has_weights:
        return ModelFormat.HF_DIRECTORY
    if has_weights and not has_config:
        raise ModelFormatError(
            f"directory {str(path)!r} has safetensors weights but no config.json",
            hint="put the model's config.json next to the weights, or pass the weights file with "
            "`arch` (module:factory)",
            field="arch",
        )
    raise ModelFormatError(
        f"{str(path)!r} is a directory that holds no recognised model",
        hint="pass a model file, a TF SavedModel directory (saved_model.pb) or a Hugging Face "
        "directory (config.json + *.safetensors)",
    )


# --- Upload checks: parse enough of a file to be sure of its format (never the whole file) ---


def check_upload(path: Path, *, max_bytes: int | None = None) -> ModelFormat:
    """Detect the format and parse enough of the file to be sure of it.

    ONNX: the protobuf wire structure of the model and graph (lengths within the file, a
    graph with nodes and outputs); zip archives: the central directory; SafeTensors: the
    JSON header and every tensor's offsets; TFLite: the identifier and root offset. Raises
    ModelFormatError for truncated files and random bytes that merely start like a model.
    """
    fmt = detect_format(path, max_bytes=max_bytes)
    if fmt is ModelFormat.ONNX:
        read_onnx_header(path)
    elif fmt is ModelFormat.SAFETENSORS:
        _check_safetensors(path)
    elif fmt is ModelFormat.TFLITE:
        _check_tflite(path)
    return fmt  # zip formats: detect_format already read the central directory


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        raw = handle.read(header_len)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(
            f"{path.name!r}: the SafeTensors header is not valid JSON ({exc})",
            hint="the file is damaged; save or download it again",
        ) from exc
    data_bytes = size - 8 - header_len
    if not isinstance(header, dict):
        raise ModelFormatError(f"{path.name!r}: the SafeTensors header is not an object", hint="")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            raise ModelFormatError(
                f"{path.name!r}: tensor {name!r} lies outside the file "
                f"({data_bytes} data bytes; offsets {offsets})",
                hint="the file is truncated or damaged; save or download it again",
            )


def _check_tflite(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        (root,) = struct.unpack("<I", handle.read(4))
    if not 8 <= root < size:
        raise ModelFormatError(
            f"{path.name!r} has the TFLite identifier but its root table offset {root} lies "
            f"outside the file ({size} bytes)",
            hint="the file is truncated or damaged; convert or download it again",
        )
