"""The one way to reach an optional dependency."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from embodied_ai_architect.errors import DependencyError


def has_package(module: str) -> bool:
    """True when ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_package(module: str, *, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise a DependencyError naming the extra that provides it.

    Example:
        >>> ov = require_package("openvino", extra="openvino", purpose="the openvino target")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" for {purpose}" if purpose else ""
        raise DependencyError(
            f"{module} is required{what} but cannot be imported ({exc})",
            hint=f"pip install 'embodied-ai-architect[{extra}]'",
            details={"module": module, "extra": extra},
        ) from exc


def requirements_status(
    requires: list[str] | tuple[str, ...],
    *,
    extra: str | None = None,
    needs_cuda: bool = False,
    install: str | None = None,
) -> tuple[bool, str]:
    """(True, "available") or (False, everything that is missing and how to get it).

    The one availability rule for techniques and targets: each declares the modules it imports,
    the extra that provides them and whether it needs a CUDA device; nothing is hand-written
    per plugin. ``install`` replaces the generic pip hint (e.g. "JetPack's TensorRT").
    """
    from embodied_ai_architect.utils.host import cuda_available

    missing: list[str] = []
    modules = [module for module in requires if not has_package(module)]
    if modules:
        how = install or (f"pip install 'embodied-ai-architect[{extra}]'" if extra else "")
        missing.append(f"{', '.join(modules)} (not importable{': ' + how if how else ''})")
    if needs_cuda and not cuda_available():
        missing.append("a CUDA device (none visible on this host: nvidia-smi / torch.cuda)")
    if missing:
        return False, "needs " + " and ".join(missing)
    return True, "available"
