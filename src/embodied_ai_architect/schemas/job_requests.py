"""Job requests as a client submits them (REST, dashboard): the service's public contract.

A client never sends server paths: it names an uploaded model (``model_id`` and optionally a
``version``) and uploaded data files (``eval_data_id``, ``calibration_data_id``, ``train_data_id``). The worker side
(:mod:`embodied_ai_architect.workers.requests`) resolves those and builds the library request
(AnalysisRequest, OptimizeRequest, DeployRequest), which validates again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from embodied_ai_architect.schemas.constraints import Constraints

Dim = Annotated[int, Field(ge=1, le=1_000_000)]
Shape = Annotated[list[Dim], Field(min_length=1, max_length=8)]
Shapes = Annotated[list[Shape], Field(min_length=1, max_length=16)]
ModelId = Annotated[int, Field(ge=1, le=2**31 - 1, description="Id of an uploaded model.")]
DataId = Annotated[
    int | None,
    Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Id of an uploaded data file (POST /api/v1/datasets).",
    ),
]
SUITE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}/[a-z0-9][a-z0-9_-]{0,31}$"
VersionNumber = Annotated[
    int | None,
    Field(default=None, ge=0, le=1_000_000, description="Model version (default: the latest)."),
]


class _JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_shapes: Shapes | None = Field(
        default=None, description="One concrete shape per model input, batch first."
    )


class AnalyzeJobRequest(_JobRequest):
    """Analyze an uploaded model (or a built-in example)."""

    kind: Literal["analyze"]
    model_id: ModelId | None = Field(default=None, description="Uploaded model to analyze.")
    version: VersionNumber = None
    example: str | None = Field(
        default=None, pattern=r"^[a-z0-9_]{1,32}$", description="Built-in example model instead."
    )
    measure_latency: bool = Field(
        default=True, strict=True, description="Time the model on this host."
    )
    sensitivity_top_k: int = Field(default=5, ge=0, le=200)
    top_layers: int = Field(default=10, ge=1, le=1000)
    runs: int = Field(default=30, ge=1, le=10_000)
    warmup: int = Field(default=3, ge=0, le=1000)
    max_latency_seconds: float = Field(default=15.0, gt=0, le=3600)


# Parallel search processes one optimize job may ask for (Ray tasks; locally the CPU count).
MAX_SEARCH_WORKERS = 64


class OptimizeJobRequest(_JobRequest):
    """Optimize an uploaded model under constraints (evaluated by fidelity unless a sim suite)."""

    kind: Literal["optimize"]
    model_id: ModelId
    version: VersionNumber = None
    constraints: Constraints
    eval_sim: str | None = Field(
        default=None,
        pattern=SUITE_PATTERN,
        description="MuJoCo suite id <name>/<split>, e.g. reach-v0/smoke (no paths).",
    )
    eval_data_id: DataId = Field(
        default=None,
        description="Uploaded evaluation data: .npz with x (and integer labels y for accuracy), "
        "or .npy inputs (fidelity to the original).",
    )
    calibration_data_id: DataId = Field(
        default=None, description="Uploaded representative inputs for INT8 calibration."
    )
    train_data_id: DataId = Field(
        default=None,
        description="Uploaded training data: .npz with x and integer labels y. Enables the "
        "structural steps that retrain (pruning fine-tune, distillation, NAS), whose loss curves "
        "stream live.",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    max_eval_samples: int = Field(default=2000, ge=1, le=100_000)
    latency_runs: int = Field(default=60, ge=5, le=10_000)
    search_workers: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SEARCH_WORKERS,
        description="Candidates applied and fidelity-checked in parallel per search step "
        "(default: the server's EAA_SEARCH_WORKERS); the same result for any value. With the "
        f"local executor at most the server's CPU count, with Ray at most {MAX_SEARCH_WORKERS}.",
    )
    metric: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]{0,127}:[A-Za-z_]\w{0,63}$",
        description="Your metric 'module:function' from a package installed on the server "
        "(imported at submit); fn(model, data) -> float in [0, 1].",
    )


class DeployJobRequest(_JobRequest):
    """Build and validate an artifact of an uploaded model for a deployment target."""

    kind: Literal["deploy"]
    model_id: ModelId
    version: VersionNumber = None
    target: str = Field(default="onnxruntime", pattern=r"^[a-z0-9_]{1,32}$")
    precision: Literal["fp32", "bf16", "fp16", "int8"] = "fp32"
    int8_mode: Literal["static", "dynamic"] = Field(
        default="dynamic", description="Static INT8 needs calibration_data_id."
    )
    calibration_data_id: DataId = Field(
        default=None, description="Uploaded calibration samples for static INT8."
    )
    validate_outputs: bool = Field(
        default=True,
        strict=True,  # 0 / 1 are refused, not coerced: a typo should not flip a check
        description="Compare with the ONNX Runtime FP32 baseline on random inputs.",
    )
    tolerance_percent: float = Field(default=1.0, gt=0, le=100)
    threads: int | None = Field(default=None, ge=1, le=256)


class RolloutJobRequest(_JobRequest):
    """Render one episode of a policy version (or the scripted expert) on a suite scene."""

    kind: Literal["rollout"]
    model_id: ModelId | None = Field(
        default=None, description="Uploaded policy; omit for the suite's scripted expert."
    )
    version: VersionNumber = None
    suite: str = Field(
        default="reach-v0/smoke", pattern=SUITE_PATTERN, description="Suite id <name>/<split>."
    )
    scene: int = Field(default=0, ge=0, le=10_000, description="Index of the suite's scene.")
    format: Literal["gif", "mp4"] = Field(
        default="gif", description="gif (Pillow) or mp4 (needs the video extra on the server)."
    )
    max_steps: int | None = Field(
        default=None,
        ge=1,
        le=500,  # frames are held in memory until the video is written (~230 kB each)
        description="Episode length cap (default: the suite's).",
    )


AnyJobRequest = AnalyzeJobRequest | OptimizeJobRequest | DeployJobRequest | RolloutJobRequest
JobRequest = Annotated[AnyJobRequest, Field(discriminator="kind")]


# Built once: constructing a TypeAdapter compiles a validator (milliseconds per call).
_JOB_REQUEST: TypeAdapter[AnyJobRequest] = TypeAdapter(JobRequest)


def parse_job_request(data: dict[str, Any]) -> AnyJobRequest:
    return _JOB_REQUEST.validate_python(data)
