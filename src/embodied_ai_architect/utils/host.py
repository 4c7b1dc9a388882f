"""Cheap host facts needed outside the analysis agent (kept import-light)."""

from __future__ import annotations

import platform
import shutil
from functools import lru_cache
from pathlib import Path

# Any of these makes u8×s8 dot products exact and fast (no 16-bit saturation in ORT's kernels).
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
_X86 = ("x86_64", "amd64", "i686", "x86")


def cuda_available() -> bool:
    """True when a CUDA device is usable from torch (without importing torch if no driver exists)."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (x86 ``flags`` / ARM ``Features``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def needs_reduce_range(
    flags: set[str] | frozenset[str] | None = None, machine: str | None = None
) -> bool:
    """True on x86 CPUs without VNNI/AMX: their u8×s8 AVX2 kernels saturate 16-bit
    intermediates, so 7-bit weights are needed to keep accuracy (ONNX Runtime's advice)."""
    machine = (machine or platform.machine()).lower()
    if machine not in _X86:
        return False
    flags = cpu_flags() if flags is None else flags
    return not (INT8_DOT_PRODUCT_FLAGS & set(flags))


def dynamic_reduce_range(requested: bool | None, weight_type: str = "int8") -> bool:
    """``reduce_range`` for ORT dynamic INT8: ``requested``, or (None) the host's rule.

    Measured on an AVX2-only EPYC: int8 weights without it put a small MLP 11–16 % off its
    FP32 outputs, with it 1.4 %. uint8 weights do not saturate and keep full range.
    """
    if requested is not None:
        return requested
    return weight_type == "int8" and needs_reduce_range()
