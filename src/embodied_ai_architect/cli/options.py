"""Option parsers shared by several commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.utils.jsonobj import json_object

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
InputShapeOption = Annotated[
    list[str] | None,
    typer.Option("--input-shape", help="Input shape, e.g. 1,3,224,224; repeat once per input."),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option("--threads", help="Intra-op threads for timing (default: settings)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the typed result as JSON.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def parse_arch_kwargs(text: str | None) -> dict[str, Any]:
    """Parse ``--arch-kwargs`` (a JSON object) into keyword arguments for ``--arch``."""
    return json_object(
        text,
        what="--arch-kwargs",
        hint="write a JSON object, e.g. --arch-kwargs '{\"width\": 32}'",
        error=InputError,
    )
