"""The technique contract: a frozen config, a capability manifest and one registered ``apply``.

Example:
    >>> class MyConfig(TechniqueConfig):
    ...     technique: ClassVar[str] = "my_technique"
    ...     ratio: float = searched(0.5, ge=0, lt=1, description="...", search=[0.3, 0.5])
    >>> @register_technique(MyConfig, TechniqueManifest(...))
    ... def apply(handle: ModelHandle, config: MyConfig, ctx: TechniqueContext) -> TechniqueResult: ...
    >>> result = apply_technique("my_technique", handle, ctx, {"ratio": 0.3})
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embodied_ai_architect.agents.optimization.fields import SEARCH_KEY
from embodied_ai_architect.errors import (
    ConfigError,
    DependencyError,
    EAAError,
    TechniqueError,
    describe,
)
from embodied_ai_architect.modelio.handle import Framework, ModelHandle, OnnxModelHandle
from embodied_ai_architect.registry import Registry
from embodied_ai_architect.schemas.progress import ProgressEvent, ProgressSink, null_sink
from embodied_ai_architect.utils.deps import requirements_status

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.schemas.profile import ModelProfile

ENTRY_POINT_GROUP = "embodied_ai_architect.techniques"


class TechniqueFamily(StrEnum):
    QUANTIZATION = "quantization"
    PRUNING = "pruning"
    DISTILLATION = "distillation"
    NAS = "nas"
    COMPRESSION = "compression"
    RUNTIME = "runtime"  # session settings of the same model file (ort_threads)


class TechniqueConfig(BaseModel):
    """Base of every technique config: frozen, strict, versioned.

    Fields the planner or NAS may vary declare their candidates with ``searched(...)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    technique: ClassVar[str] = ""  # the registered name: registration reads it from here
    version: int = Field(default=1, description="Config schema version.")

    @classmethod
    def search_space(cls) -> dict[str, list[Any]]:
        space: dict[str, list[Any]] = {}
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra
            candidates = extra.get(SEARCH_KEY) if isinstance(extra, dict) else None
            if isinstance(candidates, list):
                space[name] = list(candidates)
        return space


class TechniqueManifest(BaseModel):
    """What the planner needs to know without running the technique."""

    model_config = ConfigDict(frozen=True)

    family: TechniqueFamily
    description: str
    input_frameworks: list[Framework] = Field(description="Frameworks the technique accepts.")
    output_framework: Framework
    runtime: str = Field(
        description="Runtime the output is meant for: onnxruntime, openvino, torch."
    )
    precisions: list[str] = Field(default_factory=list, description="e.g. int8, fp16, int4.")
    model_families: list[str] | None = Field(
        default=None, description="Architecture families it suits (None: any)."
    )
    needs_data: Literal["none", "calibration", "training"] = "none"
    requires: list[str] = Field(default_factory=list, description="Importable modules needed.")
    extra: str | None = Field(default=None, description="pip extra that provides `requires`.")
    needs_cuda: bool = False
    needs_eager_module: bool = Field(
        default=False,
        description="Rewrites or retrains torch layers, so a TorchScript / torch.export graph "
        "cannot be given to it (an eager module from a state dict and an arch factory can).",
    )

    @classmethod
    def torch_rewrite(
        cls, family: TechniqueFamily, description: str, *, requires: list[str], **fields: Any
    ) -> TechniqueManifest:
        """A technique that edits or retrains an eager torch module and returns one."""
        return cls(
            family=family,
            description=description,
            input_frameworks=[Framework.TORCH],
            output_framework=Framework.TORCH,
            runtime="torch",
            requires=requires,
            needs_eager_module=True,
            **fields,
        )

    @classmethod
    def onnxruntime_rewrite(
        cls,
        family: TechniqueFamily,
        description: str,
        *,
        input_frameworks: list[Framework] | None = None,
        **fields: Any,
    ) -> TechniqueManifest:
        """A technique that needs ONNX Runtime and returns an ONNX model for it (takes ONNX unless
        ``input_frameworks`` says otherwise)."""
        return cls(
            family=family,
            description=description,
            input_frameworks=[Framework.ONNX] if input_frameworks is None else input_frameworks,
            output_framework=Framework.ONNX,
            runtime="onnxruntime",
            requires=["onnxruntime"],
            **fields,
        )

    @classmethod
    def onnx_conversion(
        cls,
        family: TechniqueFamily,
        description: str,
        precision: str,
        *,
        output_framework: Framework,
        runtime: str,
        requires: list[str],
        needs_data: Literal["none", "calibration"],
        **fields: Any,
    ) -> TechniqueManifest:
        """A precision conversion that takes an ONNX graph (ONNX Runtime and TensorRT)."""
        return cls(
            family=family,
            description=description,
            input_frameworks=[Framework.ONNX],
            output_framework=output_framework,
            runtime=runtime,
            precisions=[precision],
            needs_data=needs_data,
            requires=requires,
            **fields,
        )


class TechniqueResult(BaseModel):
    """A technique's output: the new model and what changed."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    handle: ModelHandle
    changes: list[str] = Field(description="Human-readable list of what was changed.")
    warnings: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Technique-specific figures (sparsity, rank, ...)."
    )
    seconds: float = 0.0


@dataclass
class TechniqueContext:
    """What a technique may use besides the model and its config."""

    workdir: Path
    sink: ProgressSink = null_sink
    seed: int = 0
    threads: int = 2
    calibration: CalibrationProvider | None = None
    training_data: Any = None  # (x, y) numpy arrays or a callable yielding batches
    profile: ModelProfile | None = None
    span: tuple[float, float] = (0.0, 100.0)
    extras: dict[str, Any] = field(default_factory=dict)

    def emit(self, percent: float, message: str, data: dict[str, Any] | None = None) -> None:
        low, high = self.span
        overall = low + (high - low) * max(0.0, min(100.0, percent)) / 100
        self.sink(
            ProgressEvent(
                percent=overall,
                stage="optimization",
                agent="optimization",
                message=message,
                data=data or {},
            )
        )

    def path(self, name: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir / name


ApplyFn = Callable[[ModelHandle, Any, TechniqueContext], TechniqueResult]


@dataclass(frozen=True)
class TechniqueSpec:
    name: str
    config_type: type[TechniqueConfig]
    manifest: TechniqueManifest
    apply: ApplyFn

    def availability(self) -> tuple[bool, str]:
        """Derived from the manifest's requirements, by the same rule as targets'."""
        m = self.manifest
        return requirements_status(m.requires, extra=m.extra, needs_cuda=m.needs_cuda)


TECHNIQUES: Registry[TechniqueSpec] = Registry(
    "technique", decorator="@register_technique", entry_point_group=ENTRY_POINT_GROUP
)


def register_technique(
    config_type: type[TechniqueConfig], manifest: TechniqueManifest
) -> Callable[[ApplyFn], ApplyFn]:
    """Register ``apply`` under its config type's ``technique`` name (written once, there)."""
    name = config_type.technique
    if not name:
        raise ConfigError(
            f"{config_type.__name__} names no technique",
            hint='add `technique: ClassVar[str] = "my_technique"` to the config class',
        )

    def decorate(apply: ApplyFn) -> ApplyFn:
        TECHNIQUES.add(name, TechniqueSpec(name, config_type, manifest, apply))
        return apply

    return decorate


def can_take(manifest: TechniqueManifest, framework: Framework) -> bool:
    """Whether a technique can take a model of ``framework`` (directly, or after the checked
    ONNX export of a torch model). The one place this is decided."""
    accepts = manifest.input_frameworks
    return framework in accepts or (Framework.ONNX in accepts and framework is Framework.TORCH)


def require_onnx(handle: ModelHandle, technique: str) -> OnnxModelHandle:
    """``handle`` as an ONNX model, or a ConfigError for a technique that takes only ONNX."""
    if not isinstance(handle, OnnxModelHandle):
        raise ConfigError(
            f"{technique} takes an ONNX model, got a {handle.framework.value} model",
            hint="export it first with modelio.export_onnx",
        )
    return handle


def load_techniques() -> Registry[TechniqueSpec]:
    """Every registered technique, built-ins and plugins (entry points), imported once."""
    return TECHNIQUES.load_plugins()


def get_technique(name: str) -> TechniqueSpec:
    return load_techniques().get(name)


def technique_family(name: str | None) -> TechniqueFamily | None:
    """The family of a registered technique; None for v0 or the built-in ONNX export."""
    registry = load_techniques()
    return registry.get(name).manifest.family if name is not None and name in registry else None


def parse_config(
    spec: TechniqueSpec, config: TechniqueConfig | dict[str, Any] | None
) -> TechniqueConfig:
    if isinstance(config, spec.config_type):
        return config
    if isinstance(config, TechniqueConfig):
        raise ConfigError(
            f"technique {spec.name!r} takes {spec.config_type.__name__}, got {type(config).__name__}",
            hint="build the config with the technique's own config class",
        )
    try:
        return spec.config_type.model_validate(config or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(
            f"invalid config for technique {spec.name!r}: {problems}",
            hint=f"see the fields of {spec.config_type.__name__} (branes techniques show {spec.name})",
            details={"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]},
        ) from exc


def check_available(spec: TechniqueSpec) -> None:
    """Raise before running when the technique cannot run on this host (planning-time check)."""
    ok, reason = spec.availability()
    if not ok:
        raise DependencyError(f"technique {spec.name!r} is {reason}", hint=reason)


def apply_technique(
    name: str,
    handle: ModelHandle,
    ctx: TechniqueContext,
    config: TechniqueConfig | dict[str, Any] | None = None,
) -> TechniqueResult:
    """Validate, check availability and framework, run the technique; translate failures.

    User errors (bad config, missing data) propagate as they are; anything unexpected inside the
    technique becomes a TechniqueError, so the orchestrator can record it and move on.
    """
    spec = get_technique(name)
    parsed = parse_config(spec, config)
    check_available(spec)
    if handle.framework not in spec.manifest.input_frameworks:
        raise ConfigError(
            f"technique {name!r} takes {[f.value for f in spec.manifest.input_frameworks]} models, "
            f"got a {handle.framework.value} model",
            hint="export the model first (ONNX techniques need an ONNX handle: modelio.export_onnx)",
        )
    started = time.perf_counter()
    ctx.emit(0, f"{name}: started")
    try:
        result = spec.apply(handle, parsed, ctx)
    except EAAError:
        raise
    except Exception as exc:
        raise TechniqueError(
            f"technique {name!r} failed: {describe(exc)}",
            hint="the model may be unsupported by this technique; the planner will try others",
            details={"technique": name, "config": parsed.model_dump(mode="json")},
        ) from exc
    result.seconds = time.perf_counter() - started
    ctx.emit(100, f"{name}: done in {result.seconds:.1f}s")
    return result
