"""AnalysisRequest: the one request every surface (CLI, REST, LLM tools) builds to analyze a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.loading import LoadOptions

# Models the project builds itself, so `branes analyze --example NAME` works with no files.
EXAMPLES: dict[str, str] = {
    "cnn": "embodied_ai_architect.testing.models:build_small_cnn",
    "resnet18": "embodied_ai_architect.testing.models:build_resnet18",
    "vit": "embodied_ai_architect.testing.models:build_vit",
    "mlp_policy": "embodied_ai_architect.testing.models:build_mlp_policy",
    "transformer_policy": "embodied_ai_architect.testing.models:build_transformer_policy",
    "detector": "embodied_ai_architect.testing.models:build_detector",
    "vla": "embodied_ai_architect.models.vla:build_tiny_vla",
}


class AnalysisRequest(BaseModel):
    """What to analyze and how much to measure.

    Exactly one source: ``model_path`` (a file or directory), ``example`` (a built-in model) or
    ``handle`` (an in-memory ModelHandle, for library use; never serialized).

    Example:
        >>> AnalysisRequest(example="cnn", measure_latency=False).source_label
        'example:cnn'
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    model_path: Path | None = Field(default=None, description="Model file or directory.")
    example: str | None = Field(
        default=None, description=f"Built-in example model: {', '.join(EXAMPLES)}."
    )
    # Library callers only: never serialized, and left out of the JSON schema so REST / LLM
    # clients are not offered a field they cannot send.
    handle: SkipJsonSchema[Any] = Field(
        default=None, exclude=True, description="An already loaded ModelHandle (library use)."
    )
    load: LoadOptions = Field(default_factory=LoadOptions, description="How to load the file.")
    measure_latency: bool = Field(
        default=True, description="Time ONNX Runtime and torch eager on this host (p50/p95)."
    )
    sensitivity_top_k: int = Field(
        default=5, ge=0, le=200, description="Score INT8 sensitivity of the k largest layers."
    )
    top_layers: int = Field(default=10, ge=1, le=1000, description="Largest layers to list.")
    threads: int | None = Field(
        default=None, ge=1, le=1024, description="Intra-op threads (default: settings)."
    )
    runs: int = Field(default=30, ge=1, le=10_000, description="Timed runs per runtime.")
    warmup: int = Field(default=3, ge=0, le=1000, description="Untimed runs before timing.")
    max_latency_seconds: float = Field(
        default=15.0, gt=0, description="Time budget per runtime (at least 5 runs are taken)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> AnalysisRequest:
        given = [
            name
            for name, value in (
                ("model_path", self.model_path),
                ("example", self.example),
                ("handle", self.handle),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise InputError(
                "give exactly one model source: a model path, an example name or a loaded handle"
                + (f" (got {', '.join(given)})" if given else ""),
                hint="give one of `model_path` (a model file) or `example` (e.g. cnn)",
                field="model_path",
            )
        if self.example is not None and self.example not in EXAMPLES:
            raise InputError(
                f"unknown example {self.example!r}; available: {', '.join(EXAMPLES)}",
                hint="pick one of the listed example names",
            )
        if self.handle is not None:
            from embodied_ai_architect.modelio.handle import ModelHandle

            if not isinstance(self.handle, ModelHandle):
                raise InputError(
                    f"handle must be a ModelHandle, not {type(self.handle).__name__}",
                    hint="load files with embodied_ai_architect.modelio.loader.load_model",
                )
        return self

    @property
    def source_label(self) -> str:
        if self.model_path is not None:
            return str(self.model_path)
        if self.example is not None:
            return f"example:{self.example}"
        return f"handle:{getattr(self.handle, 'name', 'model')}"
