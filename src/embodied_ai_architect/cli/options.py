"""Option parsers shared by several commands."""

from __future__ import annotations

import json
from typing import Any

from embodied_ai_architect.errors import InputError


def parse_arch_kwargs(text: str | None) -> dict[str, Any]:
    """Parse ``--arch-kwargs`` (a JSON object) into keyword arguments for ``--arch``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--arch-kwargs is not valid JSON: {exc}",
            hint="write a JSON object, e.g. --arch-kwargs '{\"width\": 32}'",
        ) from None
    if not isinstance(value, dict):
        raise InputError(
            f"--arch-kwargs must be a JSON object, not {type(value).__name__}",
            hint="e.g. --arch-kwargs '{\"width\": 32}'",
        )
    return value
