"""Job requests (schemas/job_requests.py) translated into the library requests.

The server resolves a request's uploaded model and data ids to their artifact files (an unknown
data id is a 422 naming the field). Everything else maps 1:1 onto the library request
(AnalysisRequest, OptimizeRequest, DeployRequest), which validates again, so both surfaces
enforce the same rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.job_requests import (
    AnalyzeJobRequest,
    AnyJobRequest,
    OptimizeJobRequest,
    RolloutJobRequest,
    parse_job_request,
)
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.settings import Settings

DATA_FIELDS = ("eval_data_id", "calibration_data_id", "train_data_id")


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
        names = {str(a.get("name")) for a in row.arrays}
        if field == "train_data_id" and not (row.labelled and "x" in names):
            raise InputError(
                f"{field}: data file {data_id} ({row.name}) is not inputs 'x' with integer "
                "labels 'y'",
                hint="training data is an .npz with inputs x and integer labels y",
                details={"field": field},
            )
        paths[field] = ArtifactStore(settings.workspace).resolve(row.path)
    return paths


def resolve_model_path(
    session: Session, *, settings: Settings, model_id: int, version: int | None
) -> Path:
    from embodied_ai_architect.store.artifacts import ArtifactStore
    from embodied_ai_architect.store.repo import versions

    # NotFoundError names a missing model or version; InputError a model without versions.
    stored = versions.artifact_path_of(session, model_id=model_id, version=version)
    return ArtifactStore(settings.workspace).resolve(stored)


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
    from embodied_ai_architect.schemas.loading import LoadOptions

    # Only shapes cross the API: arch factories, config paths and trust_pickle would let a
    # client import code or unpickle files on the server.
    load = LoadOptions(input_shapes=request.input_shapes)
    if isinstance(request, AnalyzeJobRequest):
        from embodied_ai_architect.schemas.analysis import AnalysisRequest

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
            train_data=data_paths.get("train_data_id"),
            seed=request.seed,
            max_eval_samples=request.max_eval_samples,
            latency_runs=request.latency_runs,
            search_workers=request.search_workers,
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
