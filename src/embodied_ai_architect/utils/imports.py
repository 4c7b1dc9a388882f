"""Import a ``package.module:attribute`` a user named (``--arch``, ``--metric``).

Import failures become the caller's error class with what to install; the caller checks the
spec's syntax and what it may name first.
"""

from __future__ import annotations

import importlib
from typing import Any

from embodied_ai_architect.errors import EAAError


def import_attribute(
    module_name: str,
    attribute: str,
    *,
    what: str,
    kind: str,
    hint: str,
    error: type[EAAError],
) -> Any:
    """``getattr(import_module(module_name), attribute)``, which must be callable.

    ``what`` opens every message (``--metric 'pkg.m:f'``), ``kind`` names the attribute
    (``function``, ``attribute``), ``hint`` says how to make the module importable.

    Example:
        >>> import json
        >>> dumps = import_attribute("json", "dumps", what="x", kind="function", hint="", error=EAAError)
        >>> dumps is json.dumps
        True
    """
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(f"{what}: cannot import {module_name!r}: {exc}", hint=hint) from exc
    value = getattr(module, attribute, None)
    if not callable(value):
        raise error(
            f"{what}: {module_name!r} has no {kind} {attribute!r}",
            hint=f"check the name after the colon: a function or class in {module_name}",
        )
    return value
