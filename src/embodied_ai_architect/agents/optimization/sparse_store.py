"""Compact storage of sparse weights: CSR per pruned tensor, everything in one zstd'd .npz.

Unstructured sparsity only pays off on disk (dense kernels skip nothing), so the artifact keeps
non-zeros plus the smallest index type that fits, and :func:`load_sparse_state` rebuilds the
dense state dict to run it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embodied_ai_architect.agents.optimization.packing import write_npz_zst
from embodied_ai_architect.errors import ModelFormatError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SparseStore:
    path: Path
    dense_bytes: int  # every tensor stored densely (what a plain checkpoint holds)
    csr_bytes: int  # CSR values + indices for pruned tensors, others dense, before zstd
    file_bytes: int  # the artifact on disk


def _index_dtype(size: int) -> type[np.unsignedinteger]:
    return np.uint16 if size <= np.iinfo(np.uint16).max else np.uint32


def save_sparse_state(
    state: dict[str, torch.Tensor], sparse_names: set[str], path: Path, level: int
) -> SparseStore:
    """Write ``state`` with the tensors in ``sparse_names`` as CSR matrices (rows = dim 0)."""
    arrays: dict[str, np.ndarray] = {}
    dense_bytes = csr_bytes = 0
    for name, tensor in state.items():
        array = np.ascontiguousarray(tensor.detach().cpu().numpy())
        dense_bytes += array.nbytes
        if name not in sparse_names or array.ndim < 2:
            arrays[f"dense::{name}"] = array
            csr_bytes += array.nbytes
            continue
        matrix = array.reshape(array.shape[0], -1)
        rows, cols = np.nonzero(matrix)
        values = matrix[rows, cols]
        row_pointer = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=matrix.shape[0]))])
        parts = {
            "values": values,
            "cols": cols.astype(_index_dtype(matrix.shape[1])),
            "rowptr": row_pointer.astype(_index_dtype(values.size)),
            "shape": np.asarray(array.shape, dtype=np.int64),
        }
        for key, part in parts.items():
            arrays[f"csr::{name}::{key}"] = part
        csr_bytes += sum(part.nbytes for key, part in parts.items() if key != "shape")
    write_npz_zst(arrays, path, level)
    return SparseStore(path, dense_bytes, csr_bytes, path.stat().st_size)


def load_sparse_state(path: Path) -> dict[str, torch.Tensor]:
    """Unpack an artifact written by :func:`save_sparse_state` into a dense state dict."""
    import torch
    import zstandard

    try:
        raw = zstandard.ZstdDecompressor().decompress(Path(path).read_bytes())
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (zstandard.ZstdError, OSError, ValueError) as exc:
        raise ModelFormatError(
            f"{Path(path).name!r} is not a sparse weight artifact: {exc}",
            hint="pass the .npz.zst file written by prune_magnitude",
        ) from exc
    state: dict[str, torch.Tensor] = {}
    for key in archive.files:
        kind, _, rest = key.partition("::")
        if kind == "dense":
            state[rest] = torch.from_numpy(archive[key].copy())
        elif rest.endswith("::values"):
            name = rest.removesuffix("::values")
            shape = tuple(int(d) for d in archive[f"csr::{name}::shape"])
            pointer = archive[f"csr::{name}::rowptr"].astype(np.int64)
            cols = archive[f"csr::{name}::cols"].astype(np.int64)
            values = archive[key]
            matrix = np.zeros((shape[0], int(np.prod(shape[1:]))), dtype=values.dtype)
            rows = np.repeat(np.arange(shape[0]), np.diff(pointer))
            matrix[rows, cols] = values
            state[name] = torch.from_numpy(matrix.reshape(shape))
    # Keep the original key order so load_state_dict(strict=True) sees a familiar dict.
    return state
