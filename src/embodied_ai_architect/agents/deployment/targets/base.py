"""The deployment-target contract and its registry (loaded through entry points).

A target is a runtime: it says what it needs (availability is derived from that), what it
can build, which registered technique converts a model to each precision for it, how to
package a model it runs into deployable files, and how to load those files back to measure them.

Example:
    >>> @register_target("myruntime")
    ... class MyTarget(DeploymentTarget): ...
    >>> target = get_target("myruntime")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from embodied_ai_architect.errors import ConfigError, TargetUnavailableError
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.registry import Registry
from embodied_ai_architect.schemas.deployment import (
    DeploymentArtifact,
    DeploymentPrecision,
    TargetCapabilities,
    TargetStatus,
    ValidationConfig,
    ValidationResult,
)
from embodied_ai_architect.schemas.progress import ProgressEvent, ProgressSink, null_sink
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.deps import requirements_status

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.handle import ModelHandle

ENTRY_POINT_GROUP = "embodied_ai_architect.targets"


@dataclass
class DeployContext:
    """What a target may use besides the model: where to write, progress, threads, logs."""

    out_dir: Path
    threads: int = 2
    seed: int = 0
    sink: ProgressSink = null_sink
    span: tuple[float, float] = (0.0, 100.0)
    logs: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        self.logs.append(message)

    def emit(self, percent: float, message: str) -> None:
        low, high = self.span
        overall = low + (high - low) * max(0.0, min(100.0, percent)) / 100
        self.sink(
            ProgressEvent(percent=overall, stage="deployment", agent="deployment", message=message)
        )


@dataclass(frozen=True)
class Conversion:
    """The registered technique (and config) that brings a model to one precision on a target.

    ``technique`` None means no conversion: the model runs on the target as it is (after the
    checked ONNX export, for targets that run ONNX).
    """

    technique: str | None
    config: dict[str, Any] = field(default_factory=dict)


class DeploymentTarget(ABC):
    """One runtime. Subclasses declare what they need and run; conversions are techniques.

    Availability is derived from ``requires`` / ``extra`` / ``needs_cuda`` (plus :meth:`probe`
    for device facts only the runtime knows), never hand-written per target.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    runtime: ClassVar[str] = ""  # the ``TechniqueManifest.runtime`` of models this target runs
    frameworks: ClassVar[frozenset[Framework]] = frozenset()  # handles it runs as they are
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    needs_cuda: ClassVar[bool] = False
    install: ClassVar[str | None] = None  # replaces the generic pip hint
    # (precision, INT8 mode; "static" for fp32/fp16) → the technique that produces it.
    conversions: ClassVar[dict[tuple[DeploymentPrecision, str], Conversion]] = {}
    artifact_format: ClassVar[str] = ""
    artifact_suffix: ClassVar[str] = ""  # of the main packaged file, e.g. ".onnx"
    packages: ClassVar[str] = ""  # what package() takes, in words: "ONNX models"
    convert_hint: ClassVar[str] = ""  # how to get such a model from another one
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    input_frameworks: ClassVar[tuple[str, ...]] = ("onnx",)
    verified: ClassVar[str] = ""

    def is_available(self) -> tuple[bool, str]:
        """(True, why) or (False, everything that is missing and how to get it)."""
        ok, reason = requirements_status(
            self.requires, extra=self.extra, needs_cuda=self.needs_cuda, install=self.install
        )
        return self.probe() if ok else (False, reason)

    def probe(self) -> tuple[bool, str]:
        """Runtime facts beyond imports (devices, versions); called once requirements are met."""
        return True, "available"

    def get_capabilities(self) -> TargetCapabilities:
        """Static facts, derived from the class declaration (conversions give the precisions)."""
        keys = list(self.conversions)
        return TargetCapabilities(
            precisions=[p for p in DeploymentPrecision if any(k[0] is p for k in keys)],
            int8_modes=[m for m in ("static", "dynamic") if (DeploymentPrecision.INT8, m) in keys],
            formats=[self.artifact_format],
            devices=list(self.devices),
            input_frameworks=list(self.input_frameworks),
            requires=list(self.requires),
            extra=self.extra,
            needs_cuda=self.needs_cuda,
            verified=self.verified,
        )

    def conversion(
        self,
        precision: DeploymentPrecision,
        int8_mode: Literal["static", "dynamic"],
        framework: Framework,
    ) -> Conversion:
        """The technique that produces ``precision`` for this runtime from a ``framework`` model:
        :meth:`source_conversion` where the source decides it, else the declared table."""
        by_source = self.source_conversion(precision, framework)
        if by_source is not None:
            return by_source
        mode = int8_mode if precision is DeploymentPrecision.INT8 else "static"
        if (precision, mode) not in self.conversions:
            what = f"{mode} INT8" if precision is DeploymentPrecision.INT8 else precision.value
            raise self.unsupported(what)
        return self.conversions[(precision, mode)]

    def source_conversion(
        self, precision: DeploymentPrecision, framework: Framework
    ) -> Conversion | None:
        """Overridden by targets whose conversion depends on the source framework (None: the
        declared ``conversions`` table decides)."""
        del precision, framework
        return None

    def artifact(
        self,
        handle: ModelHandle,
        path: Path,
        precision: DeploymentPrecision,
        *,
        runtime_version: str,
        extra_files: list[Path] | None = None,
        details: dict[str, str | int | float | bool | None] | None = None,
    ) -> DeploymentArtifact:
        """The record of a packaged file (sizes and shapes read, not declared)."""
        extra = extra_files or []
        return DeploymentArtifact(
            path=path,
            extra_files=extra,
            target=self.name,
            precision=precision,
            format=self.artifact_format,
            size_bytes=file_size(path, *extra),
            input_shapes=shapes_of(handle.inputs),
            output_shapes=shapes_of(handle.outputs),
            runtime=self.runtime,
            runtime_version=runtime_version,
            details=details or {},
        )

    def runs(self, handle: ModelHandle) -> bool:
        """Whether this runtime executes ``handle`` as it is (no conversion)."""
        return handle.framework in self.frameworks

    def package_path(
        self, handle: ModelHandle, precision: DeploymentPrecision, ctx: DeployContext
    ) -> Path:
        """Where :meth:`package` writes ``handle``: ``<out_dir>/<model>_<precision><suffix>``.

        Raises a ConfigError naming what this target packages, with ``convert_hint``, for a
        model this runtime does not run as it is.
        """
        if not self.runs(handle):
            raise ConfigError(
                f"the {self.name} target packages {self.packages}, got {handle.framework.value}",
                hint=self.convert_hint,
            )
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        return ctx.out_dir / f"{handle.name}_{precision.value}{self.artifact_suffix}"

    @abstractmethod
    def package(
        self, handle: ModelHandle, precision: DeploymentPrecision, ctx: DeployContext
    ) -> DeploymentArtifact:
        """Write the deployable files for ``handle`` (already on this runtime) under
        ``ctx.out_dir``."""

    @abstractmethod
    def load(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        """A handle that runs the artifact on this host (used for measurement and validation)."""

    def validate(
        self,
        artifact: DeploymentArtifact,
        baseline: ModelHandle,
        config: ValidationConfig,
        ctx: DeployContext,
    ) -> ValidationResult:
        """Compare the artifact with a reference model, sample by sample, and time both."""
        from embodied_ai_architect.agents.deployment.validation import validate_artifact

        deployed = self.load(artifact, threads=ctx.threads)
        return validate_artifact(deployed, baseline, config, ctx, runtime=artifact.runtime)

    def check_available(self) -> None:
        """Raise TargetUnavailableError (with the reason as hint) when the target cannot run."""
        ok, reason = self.is_available()
        if not ok:
            here = [s.name for s in list_targets() if s.available]
            raise TargetUnavailableError(
                f"target {self.name!r} is not available on this host: {reason}",
                hint=f"install what is missing on a host that has it, or use a target "
                f"available here: {', '.join(here) or 'none'} (`branes deploy list`)",
                details={"target": self.name, "reason": reason},
            )

    def unsupported(self, what: str) -> ConfigError:
        caps = self.get_capabilities()
        return ConfigError(
            f"target {self.name!r} does not support {what}",
            hint=f"precisions: {[p.value for p in caps.precisions]}; INT8 modes: {caps.int8_modes}",
        )


TARGETS: Registry[type[DeploymentTarget]] = Registry(
    "target", decorator="@register_target", entry_point_group=ENTRY_POINT_GROUP
)


def register_target(name: str) -> Callable[[type[DeploymentTarget]], type[DeploymentTarget]]:
    """Class decorator adding a target to the registry under ``name``."""

    def decorate(cls: type[DeploymentTarget]) -> type[DeploymentTarget]:
        cls.name = name
        return TARGETS.add(name, cls)

    return decorate


def load_targets() -> Registry[type[DeploymentTarget]]:
    """Every registered target (modules import their runtimes lazily: loading is cheap)."""
    return TARGETS.load_plugins()


def get_target(name: str) -> DeploymentTarget:
    """Instantiate the target registered as ``name`` (ConfigError listing the names if unknown)."""
    return load_targets().get(name)()


def list_targets() -> list[TargetStatus]:
    """Every registered target with its availability on this host and why."""
    statuses = []
    for name, cls in load_targets().items():
        target = cls()
        ok, reason = target.is_available()
        statuses.append(
            TargetStatus(
                name=name,
                description=cls.description,
                available=ok,
                reason=reason,
                capabilities=target.get_capabilities(),
            )
        )
    return statuses


def file_size(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


def shapes_of(specs: list[TensorSpec]) -> dict[str, list[int | str]]:
    return {spec.name: list(spec.shape) for spec in specs}
