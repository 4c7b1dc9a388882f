"""Option parsers shared by several commands."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from embodied_ai_architect.errors import InputError

# Loader options every model-taking command offers, declared once.
InputOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        help="NAME=SHAPE[:DTYPE][=VALUE] per named input, e.g. x=1,3,48,320, state=2,1,128, "
        "sr=:int64=16000 (scalar).",
    ),
]
ArchOption = Annotated[
    str | None,
    typer.Option("--arch", help="Architecture factory 'module:function' for state dicts."),
]
ArchKwargsOption = Annotated[
    str | None, typer.Option("--arch-kwargs", help="JSON keyword arguments for --arch.")
]
TrustPickleOption = Annotated[
    bool, typer.Option("--trust-pickle", help="Allow unpickling whole-module files (runs code).")
]


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
