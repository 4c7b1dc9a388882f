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
