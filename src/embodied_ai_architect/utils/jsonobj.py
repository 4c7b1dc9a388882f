"""Text that must hold a JSON object (``--arch-kwargs``, a saved model's signature file)."""

from __future__ import annotations

import json
from typing import Any

from embodied_ai_architect.errors import EAAError


def json_object(text: str | None, *, what: str, hint: str, error: type[EAAError]) -> dict[str, Any]:
    """Parse ``text`` as a JSON object; empty text is ``{}``.

    ``what`` names the text in the message (``--arch-kwargs``, ``'cnn.pt' carries a
    branes_meta.json that``); ``error`` is the class raised, with ``hint``.

    Example:
        >>> json_object('{"width": 32}', what="--arch-kwargs", hint="", error=EAAError)
        {'width': 32}
    """
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise error(f"{what} is not valid JSON: {exc}", hint=hint) from exc
    if not isinstance(value, dict):
        raise error(f"{what} is not a JSON object but {type(value).__name__}", hint=hint)
    return value
