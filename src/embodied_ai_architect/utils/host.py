"""Cheap host facts needed outside the analysis agent (kept import-light)."""

from __future__ import annotations

import shutil


def cuda_available() -> bool:
    """True when a CUDA device is usable from torch (without importing torch if no driver exists)."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False
