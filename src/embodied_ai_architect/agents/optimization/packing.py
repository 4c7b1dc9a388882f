"""zstd packing of model files: written once at a high level, unpacked before a runtime loads it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from embodied_ai_architect.errors import ModelFormatError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def pack_file(source: Path, target: Path, level: int) -> Path:
    """Compress ``source`` into ``target`` (a single zstd frame with the content size)."""
    import zstandard

    # Long-distance matching finds repeats across large weight tensors, at no decode cost.
    parameters = zstandard.ZstdCompressionParameters.from_level(
        level, enable_ldm=True, write_content_size=True, write_checksum=True
    )
    target.write_bytes(
        zstandard.ZstdCompressor(compression_params=parameters).compress(source.read_bytes())
    )
    return target


def write_npz_zst(arrays: dict[str, np.ndarray], path: Path, level: int) -> Path:
    """Write ``arrays`` as one ``.npz`` compressed with zstd (the compact artifacts of
    ``weight_sharing`` and ``prune_magnitude``)."""
    import zstandard

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path.write_bytes(zstandard.ZstdCompressor(level=level).compress(buffer.getvalue()))
    return path


def unpack_file(packed: Path, target: Path) -> Path:
    """Decompress a file written by :func:`pack_file` (checksum verified) into ``target``."""
    import zstandard

    data = Path(packed).read_bytes()
    if not data.startswith(ZSTD_MAGIC):
        raise ModelFormatError(
            f"{Path(packed).name!r} is not a zstd-packed model",
            hint="pass the .zst file written by the pack_zstd technique",
        )
    try:
        raw = zstandard.ZstdDecompressor().decompress(data)
    except zstandard.ZstdError as exc:
        raise ModelFormatError(
            f"{Path(packed).name!r} is corrupt: {exc}", hint="copy the packed file again"
        ) from exc
    target.write_bytes(raw)
    return target
