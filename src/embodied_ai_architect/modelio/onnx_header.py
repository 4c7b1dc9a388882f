"""Read an ONNX file's header from its protobuf wire format, without onnx or the whole file.

Enough to be sure an upload is an ONNX model (lengths inside the file, a graph with nodes and
outputs) and to know its graph inputs and outputs before anything heavy is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from embodied_ai_architect.errors import ModelFormatError


class OnnxTensorSpec(NamedTuple):
    name: str
    dims: tuple[int | str | None, ...]  # int, symbolic name, or None (unknown)


class OnnxHeader(NamedTuple):
    ir_version: int
    inputs: tuple[OnnxTensorSpec, ...]  # graph inputs that are not initializers
    outputs: tuple[OnnxTensorSpec, ...]
    nodes: int


_WIRE_VARINT, _WIRE_I64, _WIRE_LEN, _WIRE_I32 = 0, 1, 2, 5
# ModelProto / GraphProto fields whose wire type we rely on (others are skipped if well formed).
_MODEL_FIELDS = {1: _WIRE_VARINT, 7: _WIRE_LEN, 8: _WIRE_LEN}
_GRAPH_FIELDS = {1: _WIRE_LEN, 5: _WIRE_LEN, 11: _WIRE_LEN, 12: _WIRE_LEN}


def _broken_onnx(path: Path, why: str) -> ModelFormatError:
    return ModelFormatError(
        f"{path.name!r} starts like an ONNX model but is not one: {why}",
        hint="the file is truncated or not an ONNX model; export or download it again",
    )


def _varint(handle: BinaryIO, path: Path) -> int:
    result, shift = 0, 0
    while True:
        byte = handle.read(1)
        if not byte:
            raise _broken_onnx(path, "it ends inside a field")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise _broken_onnx(path, "a varint is longer than 10 bytes")


def _fields(
    handle: BinaryIO, path: Path, end: int, expected: dict[int, int]
) -> Iterator[tuple[int, int, int]]:
    """(field number, payload offset, payload length) of LEN fields; checks every field."""
    while handle.tell() < end:
        key = _varint(handle, path)
        number, wire = key >> 3, key & 7
        if number == 0 or wire not in (_WIRE_VARINT, _WIRE_I64, _WIRE_LEN, _WIRE_I32):
            raise _broken_onnx(path, f"invalid field key {key:#x} at byte {handle.tell()}")
        if number in expected and expected[number] != wire:
            raise _broken_onnx(path, f"field {number} has wire type {wire}")
        if wire == _WIRE_VARINT:
            value = _varint(handle, path)
            yield number, value, -1
            continue
        length = {_WIRE_I64: 8, _WIRE_I32: 4}.get(wire) or _varint(handle, path)
        start = handle.tell()
        if start + length > end:
            raise _broken_onnx(path, f"field {number} runs past the end ({end} bytes)")
        handle.seek(start + length)
        if wire == _WIRE_LEN:
            yield number, start, length


def read_onnx_header(path: Path) -> OnnxHeader:
    """Walk an ONNX file's protobuf structure (seeking over tensors) and read its graph I/O.

    Example:
        >>> read_onnx_header(Path("model.onnx")).inputs  # doctest: +SKIP
        (OnnxTensorSpec(name='x', dims=(1, 16)),)
    """
    from onnx import ValueInfoProto

    size = path.stat().st_size
    ir_version, graph, opsets = None, None, 0
    with path.open("rb") as handle:
        for number, offset, length in _fields(handle, path, size, _MODEL_FIELDS):
            if number == 1 and length == -1:
                ir_version = offset
            elif number == 7:
                graph = (offset, length)
            elif number == 8:
                opsets += 1
        if ir_version is None or not 1 <= ir_version <= 100:
            raise _broken_onnx(path, "no valid ir_version")
        if graph is None:
            raise _broken_onnx(path, "it has no graph")
        if not opsets:
            raise _broken_onnx(path, "it imports no operator set")
        handle.seek(graph[0])
        inputs: list[OnnxTensorSpec] = []
        outputs: list[OnnxTensorSpec] = []
        initializers: set[str] = set()
        nodes = 0
        for number, offset, length in list(
            _fields(handle, path, graph[0] + graph[1], _GRAPH_FIELDS)
        ):
            if number == 1:
                nodes += 1
            elif number in (11, 12):
                handle.seek(offset)
                try:
                    info = ValueInfoProto.FromString(handle.read(length))
                except Exception as exc:  # protobuf's DecodeError
                    raise _broken_onnx(
                        path, f"a graph input/output cannot be parsed: {exc}"
                    ) from exc
                (inputs if number == 11 else outputs).append(_spec(info))
            elif number == 5:
                handle.seek(offset)
                initializers.add(_initializer_name(handle, path, offset + length))
    if not outputs:
        raise _broken_onnx(path, "its graph has no outputs")
    return OnnxHeader(
        ir_version=ir_version,
        inputs=tuple(i for i in inputs if i.name not in initializers),
        outputs=tuple(outputs),
        nodes=nodes,
    )


def _spec(info: Any) -> OnnxTensorSpec:
    dims: list[int | str | None] = []
    if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
        for dim in info.type.tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                dims.append(dim.dim_param)
            else:
                dims.append(None)
    return OnnxTensorSpec(name=info.name, dims=tuple(dims))


def _initializer_name(handle: BinaryIO, path: Path, end: int) -> str:
    # TensorProto.name is field 8; read only it, never the tensor data.
    for number, offset, length in _fields(handle, path, end, {8: _WIRE_LEN}):
        if number == 8:
            here = handle.tell()
            handle.seek(offset)
            name = handle.read(length).decode("utf-8", "replace")
            handle.seek(here)
            return name
    return ""
