"""The deployment-target contract and its registry (loaded through entry points).

A target turns an ONNX graph (plus, where it converts from the source framework, the source
model) into an artifact for one runtime, and can load that artifact back for validation.

Example:
    >>> @register_target("myruntime")
    ... class MyTarget(DeploymentTarget): ...
    >>> target = get_target("myruntime")
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from embodied_ai_architect.agents.deployment.models import (
    DeploymentArtifact,
    DeploymentPrecision,
    ValidationConfig,
    ValidationResult,
)
from embodied_ai_architect.errors import TargetUnavailableError
from embodied_ai_architect.registry import Registry
from embodied_ai_architect.schemas.progress import ProgressEvent, ProgressSink, null_sink
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle

ENTRY_POINT_GROUP = "embodied_ai_architect.targets"


class TargetCapabilities(BaseModel):
    """What a target can build, read by `branes deploy list`, the planner and the agent."""

    model_config = ConfigDict(frozen=True)

    precisions: list[DeploymentPrecision]
    int8_modes: list[Literal["static", "dynamic"]] = Field(
        default_factory=list, description="INT8 flavours supported (static = calibrated)."
    )
    formats: list[str] = Field(description="Artifact formats written, e.g. onnx, tensorrt_engine.")
    devices: list[str] = Field(description="Where artifacts run, e.g. cpu, cuda (Jetson).")
    input_frameworks: list[str] = Field(
        description="Source frameworks accepted: 'onnx' means anything exportable to ONNX."
    )
    requires: list[str] = Field(default_factory=list, description="Importable modules needed.")
    extra: str | None = Field(default=None, description="pip extra that provides `requires`.")
    needs_cuda: bool = False
    verified: str = Field(description="What has been verified, and where.")


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


class DeploymentTarget(ABC):
    """One runtime family. Subclasses are registered with :func:`register_target`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    @abstractmethod
    def is_available(self) -> tuple[bool, str]:
        """(True, 'available') or (False, exactly why not and what to do about it)."""

    @abstractmethod
    def get_capabilities(self) -> TargetCapabilities:
        """Static facts: precisions, formats, devices, requirements."""

    @abstractmethod
    def deploy(
        self,
        model: OnnxModelHandle,
        precision: DeploymentPrecision,
        ctx: DeployContext,
        *,
        calibration: CalibrationProvider | None = None,
        int8_mode: Literal["static", "dynamic"] = "static",
        source: ModelHandle | None = None,
    ) -> DeploymentArtifact:
        """Build the artifact under ``ctx.out_dir``. ``model`` is the FP32 ONNX graph;
        ``source`` is the model as loaded (targets that convert from it directly use it)."""

    @abstractmethod
    def load_artifact(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        """A handle that runs the artifact on this host (used by validation)."""

    def validate(
        self,
        artifact: DeploymentArtifact,
        baseline: OnnxModelHandle,
        config: ValidationConfig,
        ctx: DeployContext,
    ) -> ValidationResult:
        """Compare the artifact with the ORT FP32 baseline (shared implementation)."""
        from embodied_ai_architect.agents.deployment.validation import validate_artifact

        deployed = self.load_artifact(artifact, threads=ctx.threads)
        return validate_artifact(deployed, baseline, config, ctx, runtime=artifact.runtime)

    def check_available(self) -> None:
        """Raise TargetUnavailableError (with the reason as hint) when the target cannot run."""
        ok, reason = self.is_available()
        if not ok:
            raise TargetUnavailableError(
                f"target {self.name!r} is not available on this host: {reason}",
                hint=reason,
                details={"target": self.name},
            )


TARGETS: Registry[type[DeploymentTarget]] = Registry("target", decorator="@register_target")


def register_target(name: str) -> Callable[[type[DeploymentTarget]], type[DeploymentTarget]]:
    """Class decorator adding a target to the registry under ``name``."""

    def decorate(cls: type[DeploymentTarget]) -> type[DeploymentTarget]:
        cls.name = name
        return TARGETS.add(name, cls)

    return decorate


_loaded: list[bool] = []


def load_targets() -> Registry[type[DeploymentTarget]]:
    """Import every target module declared under the entry-point group (built-ins included).

    Target modules import their runtimes lazily, so loading the registry is cheap.
    """
    if not _loaded:
        for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            importlib.import_module(entry.value)
        _loaded.append(True)
    return TARGETS


def get_target(name: str) -> DeploymentTarget:
    """Instantiate the target registered as ``name`` (ConfigError listing the names if unknown)."""
    return load_targets().get(name)()


class TargetStatus(BaseModel):
    """One line of `branes deploy list`."""

    name: str
    description: str
    available: bool
    reason: str
    capabilities: TargetCapabilities


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
