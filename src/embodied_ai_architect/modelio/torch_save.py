"""Save torch modules with their input signature embedded (TorchScript, torch.export).

The signature travels inside the archive as ``branes_meta.json`` so a later load needs no
--input-shape and keeps integer ranges (token ids stay below the vocabulary size).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import InputError, ModelFormatError, ModelLoadError, first_line
from embodied_ai_architect.modelio.handle import set_eval
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.jsonobj import json_object

if TYPE_CHECKING:
    import torch

META_FILE = "branes_meta.json"  # archive extra file carrying the input signature


def read_meta(text: str, path: Path) -> dict[str, Any]:
    return json_object(
        text,
        what=f"{path.name!r} carries a {META_FILE} that",
        hint="save the model again with save_torchscript / save_exported_program",
        error=ModelFormatError,
    )


def specs_from_meta(meta: dict[str, Any], path: Path) -> list[TensorSpec] | None:
    from pydantic import ValidationError

    try:
        specs = [TensorSpec.model_validate(item) for item in meta.get("inputs", [])]
    except ValidationError as exc:
        raise ModelFormatError(
            f"{path.name!r} carries an invalid input signature in {META_FILE}: "
            f"{exc.errors()[0]['msg']}",
            hint="save the model again with save_torchscript / save_exported_program",
        ) from exc
    return specs or None


def _meta_json(inputs: list[TensorSpec], extra: dict[str, Any] | None) -> str:
    return json.dumps({**(extra or {}), "inputs": [spec.model_dump() for spec in inputs]})


@contextmanager
def _fails_as(message: str, *, hint: str) -> Iterator[None]:
    """Tracing and torch.export raise many error types: each becomes a ModelLoadError."""
    try:
        yield
    except Exception as exc:
        raise ModelLoadError(f"{message}: {first_line(exc)}", hint=hint) from exc


def _prepare(
    module: torch.nn.Module, path: Path, inputs: list[TensorSpec]
) -> tuple[Path, tuple[torch.Tensor, ...]]:
    """Check the signature and put the module in eval mode; example inputs made from it."""
    import torch

    from embodied_ai_architect.modelio.handle import make_feeds

    if not inputs or not all(isinstance(spec, TensorSpec) for spec in inputs):
        raise InputError(
            "saving needs the input signature as a non-empty list of TensorSpec",
            hint="e.g. [TensorSpec(name='x', shape=[1, 3, 32, 32])]; handle.inputs works",
        )
    set_eval(module)
    feeds = make_feeds(inputs, batch=1, seed=0)
    return Path(path), tuple(torch.from_numpy(feeds[spec.name]) for spec in inputs)


def save_torchscript(
    module: torch.nn.Module,
    path: Path,
    inputs: list[TensorSpec],
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save ``module`` as a TorchScript archive that carries its input signature.

    Modules that are not scripted already are traced on random inputs made from ``inputs``; the
    signature (names, shapes, dtypes, integer ranges) goes into the archive as ``branes_meta.json``
    so loading needs no --input-shape. ``extra`` (JSON-serialisable) is stored beside it and comes
    back as ``handle.metadata["file_meta"]``.

    Example:
        >>> save_torchscript(model, Path("cnn.pt"), [TensorSpec(name="x", shape=[1, 1, 8, 8])])
        ... # doctest: +SKIP
    """
    import torch

    path, args = _prepare(module, path, inputs)
    if isinstance(module, torch.jit.ScriptModule):
        scripted = module
    else:
        with (
            _fails_as(
                "cannot trace the module into TorchScript",
                hint="script it yourself (torch.jit.script) or save a torch.export program",
            ),
            torch.inference_mode(False),
            torch.no_grad(),
        ):
            scripted = torch.jit.trace(module, args, strict=False, check_trace=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(scripted, str(path), _extra_files={META_FILE: _meta_json(inputs, extra)})
    return path


def save_exported_program(
    module: torch.nn.Module,
    path: Path,
    inputs: list[TensorSpec],
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """``torch.export`` ``module`` on inputs made from ``inputs`` and save it (.pt2) with its
    signature as an extra file (integer ranges survive the round trip)."""
    import torch

    path, args = _prepare(module, path, inputs)
    with _fails_as(
        "torch.export failed on the module",
        hint="save a TorchScript archive (save_torchscript) or a state dict instead",
    ):
        program = torch.export.export(module, args)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(path), extra_files={META_FILE: _meta_json(inputs, extra)})
    return path
