"""Checks of an uploaded data file (.npz / .npy) before it is kept.

A data file comes from a client, so it is treated as hostile: the format is read from the
bytes (not the name), pickled object arrays are refused (``np.load(allow_pickle=False)``, and
object dtypes are refused from the header before anything is loaded), the arrays' total
in-memory size is bounded from their headers before any array is read (a small compressed
.npz can expand to gigabytes), and every array must share the sample axis.

Example:
    >>> summary = check_data_file(Path("eval.npz"), max_bytes=1 << 30)
    >>> summary.format, summary.samples, summary.labelled
    ('npz', 256, True)
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import IO, Literal

import numpy as np
from pydantic import BaseModel, Field

from embodied_ai_architect.errors import InputError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
MAX_ARRAYS = 64
MAX_RANK = 8
# Booleans, signed / unsigned integers and floats: what models take and labels are.
_NUMERIC_KINDS = frozenset("biuf")
_HINT = "save numeric arrays with numpy.savez(path, x=inputs, y=labels) or numpy.save(path, x)"


class ArraySummary(BaseModel):
    name: str = Field(description="Array name ('x', 'y' or a model input name; 'arr_0' in .npy).")
    shape: list[int]
    dtype: str


class DataSummary(BaseModel):
    """What an accepted data file holds."""

    format: Literal["npz", "npy"]
    samples: int = Field(ge=1, description="Length of the shared first (sample) axis.")
    labelled: bool = Field(description="Has an integer label array 'y' (one per sample).")
    arrays: list[ArraySummary]


def _refuse(message: str, hint: str = _HINT) -> InputError:
    return InputError(message, hint=hint, details={"field": "file"})


def sniff_format(path: Path) -> Literal["npz", "npy"]:
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(ZIP_MAGIC):
        return "npz"
    raise _refuse("the file is neither a NumPy .npy array nor an .npz archive")


def _header(handle: IO[bytes], name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an .npy header, without reading the data."""
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except (ValueError, OSError, SyntaxError) as exc:
        raise _refuse(f"array {name!r} has no valid .npy header: {exc}") from exc
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _check_array(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise _refuse(
            f"array {name!r} holds Python objects (dtype {dtype}); pickled data is refused",
            hint="convert it to a numeric array before saving",
        )
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise _refuse(f"array {name!r} has dtype {dtype}; only numeric arrays are accepted")
    if not 1 <= len(shape) <= MAX_RANK:
        raise _refuse(
            f"array {name!r} has rank {len(shape)}; samples go along the first axis "
            f"(rank 1 to {MAX_RANK})"
        )
    if shape[0] < 1:
        raise _refuse(f"array {name!r} holds no samples (shape {list(shape)})")


def _headers(path: Path, fmt: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    if fmt == "npy":
        with path.open("rb") as handle:
            return {"arr_0": _header(handle, "arr_0")}
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(f"the .npz archive cannot be read: {exc}") from exc
    with archive:
        members = archive.infolist()
        if not members:
            raise _refuse("the .npz archive holds no arrays")
        if len(members) > MAX_ARRAYS:
            raise _refuse(f"the .npz archive holds {len(members)} files (at most {MAX_ARRAYS})")
        headers = {}
        for member in members:
            name = member.filename.removesuffix(".npy")
            if not member.filename.endswith(".npy") or not name or "/" in name:
                raise _refuse(f"the .npz archive holds {member.filename!r}, which is no array")
            try:
                with archive.open(member) as handle:
                    headers[name] = _header(handle, name)
            except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
                raise _refuse(f"array {name!r} cannot be read: {exc}") from exc
        return headers


def check_data_file(path: Path, *, max_bytes: int) -> DataSummary:
    """Validate ``path`` as an upload; raises InputError (``details.field == 'file'``).

    Args:
        path: the stored upload.
        max_bytes: limit on the arrays' total size in memory (uncompressed).
    """
    fmt = sniff_format(path)
    headers = _headers(path, fmt)
    total = 0
    for name, (shape, dtype) in headers.items():
        _check_array(name, shape, dtype)
        total += math.prod(shape) * dtype.itemsize
    if total > max_bytes:
        raise _refuse(
            f"the arrays take {total:,} bytes in memory, over the limit of {max_bytes:,}",
            hint="upload fewer samples, or raise EAA_MAX_DATA_BYTES",
        )
    samples = {shape[0] for shape, _ in headers.values()}
    if len(samples) != 1:
        raise _refuse(
            "the arrays have different sample counts: "
            + ", ".join(f"{n} {list(s)}" for n, (s, _) in headers.items()),
            hint="stack every array along the same first (sample) axis",
        )
    # The headers are trusted only once NumPy itself loads the data without pickle.
    try:
        if fmt == "npy":
            np.load(path, allow_pickle=False, mmap_mode="r")
        else:
            with np.load(path, allow_pickle=False) as archive:
                for name in archive.files:
                    loaded = archive[name]  # one at a time: memory stays at the largest one
                    del loaded
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _refuse(f"NumPy cannot load the file: {exc}") from exc
    label = headers.get("y") if fmt == "npz" else None
    labelled = (
        label is not None
        and label[1].kind in "iu"
        and (len(label[0]) == 1 or math.prod(label[0][1:]) == 1)
    )
    return DataSummary(
        format=fmt,
        samples=samples.pop(),
        labelled=labelled,
        arrays=[ArraySummary(name=n, shape=list(s), dtype=str(d)) for n, (s, d) in headers.items()],
    )
