"""How to load a model: the options every face (CLI, REST, LLM tools) builds.

``InputOverride`` names one input (shape, dtype, fixed value); ``LoadOptions`` carries everything
the loader may need beyond the file itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator


class InputOverride(BaseModel):
    """One input the user names: its shape, and optionally its dtype and a fixed value.

    Example:
        >>> InputOverride(name="sr", shape=[], dtype="int64", value=16000)
        InputOverride(name='sr', shape=[], dtype='int64', value=16000.0)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="The input's name in the model's signature.")
    shape: list[int] = Field(description="Concrete shape; [] is a scalar.")
    dtype: str | None = Field(default=None, description="numpy dtype, e.g. float32, int64.")
    value: float | None = Field(
        default=None, description="Feed this constant instead of random data (a sample rate)."
    )

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: list[int]) -> list[int]:
        if any(d <= 0 for d in shape):
            raise ValueError(f"every dimension must be positive, got {shape}")
        return shape

    @field_validator("dtype")
    @classmethod
    def _numpy_dtype(cls, dtype: str | None) -> str | None:
        if dtype is None:
            return None
        try:
            return str(np.dtype(dtype))
        except TypeError:
            raise ValueError(f"unknown dtype {dtype!r}; use a numpy name such as int64") from None


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
