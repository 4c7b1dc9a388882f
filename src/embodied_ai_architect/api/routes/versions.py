"""Model versions: list with metrics, restore (roll back), download the artifact."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from embodied_ai_architect.api.convert import page_of
from embodied_ai_architect.api.deps import ArtifactsDep, DbDep, ReadAccess, WriteAccess
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.params import Limit, ModelId, Offset, VersionNumber
from embodied_ai_architect.api.routing import read_route
from embodied_ai_architect.api.schemas import ListPublic
from embodied_ai_architect.schemas.runs import VersionView
from embodied_ai_architect.store.artifacts import safe_suffix
from embodied_ai_architect.store.repo import models, versions

router = APIRouter(prefix="/api/v1/models/{model_id}/versions", tags=["versions"])


@read_route(router, "", ListPublic[VersionView], 404, 422)
def list_versions(
    model_id: ModelId,
    db: DbDep,
    offset: Offset = 0,
    limit: Limit = 100,
) -> ListPublic[VersionView]:
    with db.session() as session:
        rows, count = versions.list_versions(session, model_id=model_id, offset=offset, limit=limit)
        return page_of(VersionView, rows, count)


@read_route(router, "/{version}", VersionView, 404, 422)
def get_version(model_id: ModelId, version: VersionNumber, db: DbDep) -> VersionView:
    with db.session() as session:
        row = versions.get_version_by_number(session, model_id=model_id, version=version)
        return VersionView.model_validate(row)


@router.post(
    "/{version}/restore",
    response_model=VersionView,
    status_code=201,
    dependencies=[WriteAccess],
    responses=error_responses(401, 404, 422),
)
def restore_version(model_id: ModelId, version: VersionNumber, db: DbDep) -> VersionView:
    """Roll back: record a new latest version with this version's artifact and metrics."""
    with db.session() as session:
        source = versions.get_version_by_number(session, model_id=model_id, version=version)
        return VersionView.model_validate(versions.restore_version(session, version_id=source.id))


@router.get(
    "/{version}/artifact",
    response_class=FileResponse,
    dependencies=[ReadAccess],
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        },
        **error_responses(401, 404, 422, 500),
    },
)
def download_artifact(
    model_id: ModelId, version: VersionNumber, db: DbDep, artifacts: ArtifactsDep
) -> FileResponse:
    with db.session() as session:
        model = models.get_model(session, model_id=model_id)
        row = versions.get_version_by_number(session, model_id=model_id, version=version)
        path = artifacts.resolve(row.artifact_path)
        stem = "".join(c for c in model.name.rsplit(".", 1)[0] if c.isalnum() or c in "-_")[:64]
    filename = f"{stem or 'model'}-v{version}{safe_suffix(path.name)}"
    return FileResponse(path, media_type="application/octet-stream", filename=filename)
