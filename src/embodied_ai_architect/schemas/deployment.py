"""Typed requests and results of the deployment agent (one schema for every surface).

The CLI, the LLM tools and the MCP server all build a :class:`DeployRequest` and call
:func:`embodied_ai_architect.agents.deployment.agent.deploy_model`; the JSON schema the LLM
tools publish is generated from these classes, so they cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from embodied_ai_architect.data.calibration import Preprocessing
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.profile import LatencyStats

SCHEMA_VERSION = 1


class DeploymentPrecision(StrEnum):
    FP32 = "fp32"
    # FP32 weights computed in BF16 (OpenVINO on CPUs with AMX-BF16 / AVX512-BF16).
    BF16 = "bf16"
    FP16 = "fp16"
    INT8 = "int8"


class CalibrationConfig(BaseModel):
    """Where INT8 calibration samples come from and how they are prepared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_path: Path = Field(
        description="Folder of images (searched recursively) or an .npy / .npz file of samples."
    )
    num_samples: int = Field(
        default=128, ge=1, le=100_000, description="How many samples to use (100–500 is typical)."
    )
    batch_size: int = Field(
        default=1, ge=1, le=1024, description="Samples per calibration batch (TensorRT batches)."
    )
    preprocessing: Preprocessing = Field(
        default_factory=Preprocessing,
        description="How images become inputs; must match inference preprocessing.",
    )


class ValidationConfig(BaseModel):
    """How the deployed artifact is checked against the ONNX Runtime FP32 baseline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test_data_path: Path | None = Field(
        default=None,
        description="Folder of images or an .npy / .npz file of test samples. Required unless "
        "allow_random_inputs is set.",
    )
    tolerance_percent: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="Largest relative L2 error ‖deployed−baseline‖/‖baseline‖ (in %) allowed on "
        "any output of any sample.",
    )
    num_samples: int = Field(default=32, ge=1, le=10_000, description="Test samples to compare.")
    min_top1_agreement: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="When set, classifier-shaped outputs must also agree on the arg-max class "
        "for at least this fraction of samples.",
    )
    latency_runs: int = Field(default=30, ge=1, le=10_000, description="Timed runs per model.")
    allow_random_inputs: bool = Field(
        default=False,
        description="Validate on random inputs when no test data is given (smoke checks only).",
    )
    preprocessing: Preprocessing = Field(
        default_factory=Preprocessing, description="How test images become inputs."
    )

    @model_validator(mode="after")
    def _needs_data(self) -> ValidationConfig:
        if self.test_data_path is None and not self.allow_random_inputs:
            from embodied_ai_architect.errors import InputError

            raise InputError(
                "validation needs test data",
                hint="give `validation.test_data_path` (images or .npy/.npz), or explicitly allow "
                "random inputs for a smoke check",
                field="validation.test_data_path",
            )
        return self


class DeploymentArtifact(BaseModel):
    """The file a target produced, and what it takes and returns."""

    path: Path = Field(description="The deployable file (.onnx, .engine, .xml, .tflite).")
    extra_files: list[Path] = Field(
        default_factory=list, description="Files that must travel with it (.bin, cache, ...)."
    )
    target: str
    precision: DeploymentPrecision
    format: str = Field(description="onnx, tensorrt_engine, openvino_ir, tflite.")
    size_bytes: int = Field(ge=0, description="Bytes of path plus extra_files.")
    input_shapes: dict[str, list[int | str]]
    output_shapes: dict[str, list[int | str]]
    runtime: str = Field(description="Runtime that executes it.")
    runtime_version: str
    details: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="Target-specific build facts (quantization options, ...)."
    )


class OutputComparison(BaseModel):
    """One output of one sample: deployed vs baseline."""

    output: str
    max_abs_diff: float = Field(ge=0)
    relative_l2: float = Field(ge=0, description="‖deployed−baseline‖₂ / ‖baseline‖₂.")
    top1_match: bool | None = Field(
        default=None, description="Arg-max agreement, for classifier-shaped outputs only."
    )


class SampleComparison(BaseModel):
    index: int
    source: str = Field(description="File (and index) the sample came from, or 'random'.")
    outputs: list[OutputComparison]


class ValidationResult(BaseModel):
    """Deployed artifact vs the ONNX Runtime FP32 baseline."""

    passed: bool
    reasons: list[str] = Field(default_factory=list, description="Why it failed (empty if passed).")
    tolerance_percent: float
    num_samples: int = Field(ge=0)
    data_source: str = Field(description="Test data path, or 'random inputs'.")
    max_abs_diff: float = Field(ge=0)
    max_relative_diff: float = Field(ge=0, description="Worst relative L2 error over everything.")
    mean_relative_diff: float = Field(ge=0)
    top1_agreement: float | None = Field(
        default=None, description="Fraction of samples whose arg-max class matches (classifiers)."
    )
    per_output_max_relative_diff: dict[str, float] = Field(default_factory=dict)
    baseline_latency: LatencyStats
    deployed_latency: LatencyStats
    speedup: float = Field(gt=0, description="Baseline p50 / deployed p50 (> 1 means faster).")
    samples: list[SampleComparison] = Field(default_factory=list)


class DeploymentResult(BaseModel):
    """What deploy_model returns (and writes as deployment.json)."""

    schema_version: int = SCHEMA_VERSION
    success: bool
    target: str
    precision: DeploymentPrecision
    artifact: DeploymentArtifact | None = None
    validation: ValidationResult | None = None
    report_path: Path | None = None
    logs: list[str] = Field(default_factory=list)
    error: dict[str, str] | None = Field(
        default=None, description="{code, message, hint} when success is false."
    )
    seconds: float = Field(default=0.0, ge=0)


class DeployRequest(BaseModel):
    """Deploy one model to one target. Every surface (CLI, REST, LLM tools, MCP) builds this.

    Example:
        >>> DeployRequest(model_path=Path("cnn.pt"), target="onnxruntime", precision="fp16",
        ...               input_shapes=[[1, 3, 64, 64]])  # doctest: +SKIP
    """

    model_config = ConfigDict(extra="forbid")

    model_path: Path = Field(description="Model file (PyTorch, ONNX, TensorFlow, ...).")
    target: str = Field(
        default="onnxruntime", description="Deployment target (see `branes deploy list`)."
    )
    precision: DeploymentPrecision = Field(default=DeploymentPrecision.FP32)
    int8_mode: Literal["static", "dynamic"] = Field(
        default="static",
        description="INT8 flavour: 'static' (calibrated activations, needs calibration data) or "
        "'dynamic' (weights only / dynamic-range; where the target supports it).",
    )
    input_shapes: list[list[int]] | None = Field(
        default=None,
        description="One concrete shape per model input, batch first, e.g. [[1, 3, 224, 224]] "
        "(a flat list such as [1, 3, 224, 224] is read as the shape of a single input).",
    )
    load_options: LoadOptions = Field(
        default_factory=LoadOptions,
        description="Loader options (architecture factory, trust flag, ...); input_shapes above "
        "take precedence over load_options.input_shapes.",
    )
    calibration: CalibrationConfig | None = Field(
        default=None, description="INT8 calibration data (required for static INT8)."
    )
    validation: ValidationConfig | None = Field(
        default=None, description="Validate against the ONNX Runtime FP32 baseline when set."
    )
    out_dir: Path | None = Field(
        default=None, description="Where artifacts and reports go (default: a workspace folder)."
    )
    threads: int | None = Field(
        default=None, ge=1, le=256, description="Threads for latency figures (default: settings)."
    )

    @field_validator("input_shapes", mode="before")
    @classmethod
    def _single_shape(cls, value: object) -> object:
        # LLM callers often pass one flat shape for a single-input model.
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            return [value]
        return value

    @field_validator("target")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    def effective_load_options(self) -> LoadOptions:
        if self.input_shapes is None:
            return self.load_options
        return self.load_options.model_copy(update={"input_shapes": self.input_shapes})


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


class TargetStatus(BaseModel):
    """One line of `branes deploy list`."""

    name: str
    description: str
    available: bool
    reason: str
    capabilities: TargetCapabilities
