"""Job requests as a client submits them, and their translation into the library requests.

A client never sends server paths: it names an uploaded model (``model_id`` and optionally a
``version``) and uploaded data files (``eval_data_id``, ``calibration_data_id``), and the
server resolves those to their artifact files (an unknown data id is a 422 naming the field). Everything else maps 1:1
onto the library request (AnalysisRequest, OptimizeRequest, DeployRequest), which validates
again, so both surfaces enforce the same rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy.orm import Session

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.settings import Settings

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
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    max_eval_samples: int = Field(default=2000, ge=1, le=100_000)
    latency_runs: int = Field(default=60, ge=5, le=10_000)
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
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
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


DATA_FIELDS = ("eval_data_id", "calibration_data_id")


def resolve_data_paths(
    session: Session, *, settings: Settings, request: AnyJobRequest
) -> dict[str, Path]:
    """``{field: file}`` for each data id the request names; an unknown id is an InputError
    whose ``details.field`` names the field (HTTP 422)."""
    from embodied_ai_architect.errors import NotFoundError
    from embodied_ai_architect.store.artifacts import ArtifactStore
    from embodied_ai_architect.store.repo import datasets

    paths: dict[str, Path] = {}
    for field in DATA_FIELDS:
        data_id = getattr(request, field, None)
        if data_id is None:
            continue
        try:
            row = datasets.get_dataset(session, dataset_id=data_id)
        except NotFoundError as exc:
            raise InputError(
                f"{field}: no uploaded data file has id {data_id}",
                hint="upload it with POST /api/v1/datasets; GET /api/v1/datasets lists them",
                details={"field": field},
            ) from exc
        paths[field] = ArtifactStore(settings.workspace).resolve(row.path)
    return paths


def resolve_model_path(
    session: Session, *, settings: Settings, model_id: int, version: int | None
) -> Path:
    from embodied_ai_architect.store.artifacts import ArtifactStore
    from embodied_ai_architect.store.repo import models, versions

    models.get_model(session, model_id=model_id)  # NotFoundError names the missing model
    if version is None:
        row = versions.latest_version(session, model_id=model_id)
        if row is None:
            raise InputError(f"model {model_id} has no stored version", hint="upload it again")
    else:
        row = versions.get_version_by_number(session, model_id=model_id, version=version)
    return ArtifactStore(settings.workspace).resolve(row.artifact_path)


def build_library_request(
    request: AnyJobRequest,
    *,
    model_path: Path | None,
    job_id: str,
    settings: Settings,
    data_paths: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """The JSON the worker validates into the library's own request type."""
    data_paths = data_paths or {}
    run_dir = settings.workspace / "runs" / job_id
    from embodied_ai_architect.modelio.options import LoadOptions

    # Only shapes cross the API: arch factories, config paths and trust_pickle would let a
    # client import code or unpickle files on the server.
    load = LoadOptions(input_shapes=request.input_shapes)
    if isinstance(request, AnalyzeJobRequest):
        from embodied_ai_architect.agents.analysis.request import AnalysisRequest

        fields = request.model_dump(exclude={"kind", "model_id", "version", "input_shapes"})
        library: BaseModel = AnalysisRequest(
            model_path=model_path if request.example is None else None, load=load, **fields
        )
    elif isinstance(request, OptimizeJobRequest):
        from embodied_ai_architect.schemas.results import OptimizeRequest

        library = OptimizeRequest(
            model_path=_required(model_path),
            load_options=load,
            constraints=request.constraints,
            eval_sim=request.eval_sim,
            eval_data=data_paths.get("eval_data_id"),
            calibration_data=data_paths.get("calibration_data_id"),
            seed=request.seed,
            max_eval_samples=request.max_eval_samples,
            latency_runs=request.latency_runs,
            metric=request.metric,
            out_dir=run_dir / "optimize",
        )
    elif isinstance(request, RolloutJobRequest):
        from embodied_ai_architect.sim.render import EpisodeRenderRequest

        library = EpisodeRenderRequest(
            model_path=model_path,
            load_options=load,
            suite=request.suite,
            scene=request.scene,
            format=request.format,
            max_steps=request.max_steps,
            out_dir=run_dir / "rollout",
        )
    else:
        from embodied_ai_architect.schemas.deployment import (
            CalibrationConfig,
            DeployRequest,
            ValidationConfig,
        )

        validation = (
            ValidationConfig(
                allow_random_inputs=True,
                tolerance_percent=request.tolerance_percent,
                num_samples=8,
            )
            if request.validate_outputs
            else None
        )
        library = DeployRequest(
            model_path=_required(model_path),
            target=request.target,
            precision=request.precision,  # type: ignore[arg-type]
            int8_mode=request.int8_mode,
            input_shapes=request.input_shapes,
            validation=validation,
            calibration=(
                CalibrationConfig(data_path=data_paths["calibration_data_id"])
                if "calibration_data_id" in data_paths
                else None
            ),
            out_dir=run_dir / "deploy",
            threads=request.threads,
        )
    return library.model_dump(mode="json")


def _required(path: Path | None) -> Path:
    if path is None:
        raise InputError("this job needs a model", hint="pass model_id of an uploaded model")
    return path


def prepare_request(
    kind: JobKind, request: dict[str, Any], *, session: Session, settings: Settings, job_id: str
) -> dict[str, Any]:
    """Stored client request → library request JSON (model id resolved to its artifact)."""
    parsed = parse_job_request({**request, "kind": kind.value})
    model_path = None
    if parsed.model_id is not None:
        model_path = resolve_model_path(
            session, settings=settings, model_id=parsed.model_id, version=parsed.version
        )
    data_paths = resolve_data_paths(session, settings=settings, request=parsed)
    return build_library_request(
        parsed, model_path=model_path, job_id=job_id, settings=settings, data_paths=data_paths
    )
