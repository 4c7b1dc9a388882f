"""What a registered technique is, as every face shows it (``branes techniques``, REST, docs).

Built from the registry's ``TechniqueSpec`` — its manifest, its config class and its
availability on this host — so the CLI table, ``GET /api/v1/techniques`` and the planner read
one description.

Example:
    >>> from embodied_ai_architect.agents.optimization.base import get_technique
    >>> info = TechniqueInfo.from_spec(get_technique("ort_int8_static"))
    >>> [f.name for f in info.fields if f.search]  # doctest: +SKIP
    ['exclude_top_sensitive', 'quant_format', 'scheme', ...]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, JsonValue
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

if TYPE_CHECKING:
    from embodied_ai_architect.agents.optimization.base import TechniqueSpec


class TechniqueField(BaseModel):
    """One field of a technique's config: what it is, its default and its search candidates."""

    name: str
    type: str = Field(description="The Python type, e.g. float, bool, Literal['l1', 'l2'].")
    required: bool = Field(description="No default: the field must be given.")
    default: JsonValue = Field(default=None, description="Default value (JSON), when there is one.")
    description: str = ""
    constraints: list[str] = Field(
        default_factory=list, description="Bounds such as '>= 0' or '< 1'."
    )
    search: list[JsonValue] | None = Field(
        default=None, description="Candidate values the planner or NAS may try (None: fixed)."
    )


class TechniqueSummary(BaseModel):
    """One row of ``branes techniques list`` / ``GET /api/v1/techniques``."""

    name: str
    family: str = Field(description="quantization, pruning, distillation, nas or compression.")
    description: str
    runtime: str = Field(description="Runtime the output is meant for (onnxruntime, torch, ...).")
    precisions: list[str] = Field(description="Precisions it produces (empty: unchanged).")
    needs_data: Literal["none", "calibration", "training"]
    available: bool = Field(description="Whether it can run on this host.")
    availability: str = Field(description="'available', or what is missing and how to get it.")

    @classmethod
    def from_spec(cls, spec: TechniqueSpec) -> TechniqueSummary:
        manifest = spec.manifest
        available, reason = spec.availability()
        return cls(
            name=spec.name,
            family=manifest.family.value,
            description=manifest.description,
            runtime=manifest.runtime,
            precisions=list(manifest.precisions),
            needs_data=manifest.needs_data,
            available=available,
            availability=reason,
        )


class TechniqueInfo(TechniqueSummary):
    """A technique in full: its manifest, its config fields and its availability."""

    input_frameworks: list[str]
    output_framework: str
    model_families: list[str] | None = Field(description="Architectures it suits (None: any).")
    requires: list[str] = Field(description="Modules it imports.")
    extra: str | None = Field(description="pip extra that provides `requires`.")
    needs_cuda: bool
    needs_eager_module: bool
    config_class: str = Field(description="Name of its config class.")
    config_doc: str = Field(description="The config class's docstring.")
    fields: list[TechniqueField]

    @classmethod
    def from_spec(cls, spec: TechniqueSpec) -> TechniqueInfo:
        manifest = spec.manifest
        search = spec.config_type.search_space()
        return cls(
            **TechniqueSummary.from_spec(spec).model_dump(),
            input_frameworks=[f.value for f in manifest.input_frameworks],
            output_framework=manifest.output_framework.value,
            model_families=manifest.model_families,
            requires=list(manifest.requires),
            extra=manifest.extra,
            needs_cuda=manifest.needs_cuda,
            needs_eager_module=manifest.needs_eager_module,
            config_class=spec.config_type.__name__,
            config_doc=(spec.config_type.__doc__ or "").strip(),
            fields=[
                _describe_field(name, info, search.get(name))
                for name, info in spec.config_type.model_fields.items()
            ],
        )


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "len >="))


def _describe_field(name: str, info: FieldInfo, search: list[Any] | None) -> TechniqueField:
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    constraints = [
        f"{symbol} {getattr(item, attr)}"
        for item in info.metadata
        for attr, symbol in _BOUNDS
        if getattr(item, attr, None) is not None
    ]
    return TechniqueField(
        name=name,
        type=_type_name(info.annotation),
        required=required,
        default=None if default is PydanticUndefined else to_jsonable_python(default),
        description=info.description or "",
        constraints=constraints,
        search=to_jsonable_python(search) if search is not None else None,
    )


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
