"""Option parsers shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.utils.jsonobj import json_object

if TYPE_CHECKING:
    from embodied_ai_architect.schemas.loading import LoadOptions

RequestT = TypeVar("RequestT", bound=BaseModel)

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
CalibrationDataOption = Annotated[
    Path | None,
    typer.Option(
        "--calibration-data",
        help="Representative inputs for INT8 calibration: a folder of images or .npy/.npz.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the typed result as JSON.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
# A command's whole request as a file: --save-config writes it, --config replays it (the same
# typed request the REST and MCP faces submit).
RequestConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Read the whole request from this JSON file (other flags ignored)."
    ),
]
SaveConfigOption = Annotated[
    Path | None, typer.Option("--save-config", help="Write the request as JSON here and exit.")
]


def read_request(model: type[RequestT], path: Path) -> RequestT:
    """The request a ``--save-config`` file holds (``--config``); pydantic's ValidationError
    goes to the command, which turns it into :func:`invalid_request` as for its flags."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(
            f"cannot read --config {path}: {exc.strerror or exc}",
            hint="write one with --save-config",
        ) from None
    return model.model_validate_json(text)


def invalid_request(exc: ValidationError, command: str) -> InputError:
    """The InputError for a request pydantic refused, naming each field (``command``: the
    command whose ``--help`` lists the flags, e.g. ``deploy run``)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg']}" for err in exc.errors()
    )
    what = command.split()[0]
    return InputError(f"invalid {what} request: {problems}", hint=f"see `branes {command} --help`")


def add_command_group(
    app: typer.Typer, name: str, help: str, commands: dict[str, Callable[..., Any]]
) -> None:
    """Add ``branes NAME <command>``: each entry of ``commands`` maps a CLI name to its function."""
    group = typer.Typer(help=help, no_args_is_help=True)
    for command_name, function in commands.items():
        group.command(command_name)(function)
    app.add_typer(group, name=name)


def save_request(request: BaseModel, path: Path | None) -> bool:
    """Write ``request`` to ``path`` for ``--save-config``; True when written (the command then
    stops without running: the file replays it with ``--config``)."""
    if path is None:
        return False
    path.write_text(request.model_dump_json(indent=2))
    typer.echo(f"wrote {path}")
    return True


def parse_arch_kwargs(text: str | None) -> dict[str, Any]:
    """Parse ``--arch-kwargs`` (a JSON object) into keyword arguments for ``--arch``."""
    return json_object(
        text,
        what="--arch-kwargs",
        hint="write a JSON object, e.g. --arch-kwargs '{\"width\": 32}'",
        error=InputError,
    )


def parse_input_shapes(values: list[str] | None) -> list[list[int]] | None:
    """Parse CLI shapes such as ``["1,3,224,224", "1,16"]`` (one per input).

    Example:
        >>> parse_input_shapes(["1,3,32,32"])
        [[1, 3, 32, 32]]
    """
    if not values:
        return None
    shapes: list[list[int]] = []
    for value in values:
        for text in value.split(";"):
            parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
            try:
                dims = [int(p) for p in parts]
            except ValueError:
                raise InputError(
                    f"input shape {text!r} is not a list of integers",
                    hint="write shapes as comma-separated integers, e.g. --input-shape 1,3,224,224",
                ) from None
            if not dims or any(d <= 0 for d in dims):
                raise InputError(
                    f"input shape {text!r} must have at least one dimension, all positive",
                    hint="e.g. --input-shape 1,3,224,224",
                )
            shapes.append(dims)
    return shapes


def loader_options(
    input_shape: list[str] | None,
    input_: list[str] | None,
    arch: str | None,
    arch_kwargs: str | None,
    trust_pickle: bool,
    config_path: Path | None = None,
) -> LoadOptions:
    """The request's ``LoadOptions`` from the loader flags above, parsed the same way for
    every model-taking command (arguments in the order the commands declare the flags)."""
    from embodied_ai_architect.modelio.signature import parse_input_overrides
    from embodied_ai_architect.schemas.loading import LoadOptions

    return LoadOptions(
        input_shapes=parse_input_shapes(input_shape),
        inputs=parse_input_overrides(input_),
        arch=arch,
        arch_kwargs=parse_arch_kwargs(arch_kwargs),
        config_path=config_path,
        trust_pickle=trust_pickle,
    )
