"""How to load a model: the options every surface (CLI, API, tools) builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.modelio.signature import InputOverride


class LoadOptions(BaseModel):
    """Everything the loader may need beyond the file itself."""

    model_config = ConfigDict(frozen=True)

    input_shapes: list[list[int]] | None = Field(
        default=None,
        description="One concrete shape per model input, in order (batch first).",
    )
    inputs: list[InputOverride] | None = Field(
        default=None,
        description="Inputs by name (shape, dtype, constant value), for models with several, "
        "dynamic, integer or scalar inputs; applied after input_shapes.",
    )
    arch: str | None = Field(
        default=None,
        description="Architecture factory 'package.module:function' for state-dict checkpoints.",
    )
    arch_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the architecture factory."
    )
    config_path: Path | None = Field(
        default=None,
        description="Hugging Face config.json for state dicts / safetensors (default: beside it).",
    )
    trust_pickle: bool = Field(
        default=False,
        description="Allow unpickling full nn.Module files. Only for files you trust: "
        "unpickling runs arbitrary code.",
    )
    max_bytes: int | None = Field(
        default=None, gt=0, description="Refuse files larger than this (default from settings)."
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
