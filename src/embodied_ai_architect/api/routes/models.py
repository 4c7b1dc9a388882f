"""Uploaded models: streamed upload (off the event loop) with a size limit and a structural
format check."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from embodied_ai_architect.api.convert import model_public
from embodied_ai_architect.api.deps import ArtifactsDep, DbDep, SettingsDep
from embodied_ai_architect.api.params import Filename, Limit, ModelId, Offset
from embodied_ai_architect.api.routing import read_route, write_route
from embodied_ai_architect.api.schemas import ListPublic, ModelDetail, ModelPublic
from embodied_ai_architect.api.uploads import (
    file_fields,
    remove_if_unreferenced,
    removed_if_refused,
    store_body,
    upload_route,
)
from embodied_ai_architect.errors import ModelFormatError
from embodied_ai_architect.modelio.formats import check_upload
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.store.artifacts import safe_suffix
from embodied_ai_architect.store.repo import models, versions

router = APIRouter(prefix="/api/v1/models", tags=["models"])


@upload_route(router, ModelPublic)
async def upload_model(
    request: Request, filename: Filename, db: DbDep, settings: SettingsDep, artifacts: ArtifactsDep
) -> ModelPublic:
    """Upload a model file as the raw request body (streamed to disk, never held in memory).

    The format is detected from the bytes; files that are no supported model are refused and
    nothing is kept. The upload becomes version 0 of a new model.
    """
    limit = settings.max_model_bytes
    ref = await store_body(
        request,
        artifacts,
        scope="uploads",
        suffix=safe_suffix(filename),
        limit=limit,
        setting="EAA_MAX_MODEL_BYTES",
    )
    try:
        with removed_if_refused(db, artifacts, ref.path, versions.count_using, ModelFormatError):
            # Parsed enough to be sure of the format (protobuf structure, zip directory, ...).
            fmt = await run_in_threadpool(check_upload, artifacts.root / ref.path, max_bytes=limit)
    except ModelFormatError as exc:
        # The stored name is the content hash; name the file the way the client knows it.
        exc.message = exc.message.replace(Path(ref.path).name, filename)
        raise
    with db.session() as session:
        row = models.create_model(session, **file_fields(ref, name=filename, format=fmt.value))
        versions.create_version(
            session,
            model_id=row.id,
            artifact_sha256=ref.sha256,
            artifact_path=ref.path,
            note="uploaded",
        )
        return model_public(row)


@read_route(router, "", ListPublic[ModelPublic], 422)
def list_models(db: DbDep, offset: Offset = 0, limit: Limit = 50) -> ListPublic[ModelPublic]:
    with db.session() as session:
        rows, count = models.list_models(session, offset=offset, limit=limit)
        return ListPublic[ModelPublic](data=[model_public(r) for r in rows], count=count)


@read_route(router, "/{model_id}", ModelDetail, 404, 422)
def get_model(model_id: ModelId, db: DbDep) -> ModelDetail:
    with db.session() as session:
        row = models.get_model(session, model_id=model_id)
        latest = versions.latest_version(session, model_id=model_id)
        return ModelDetail(
            **model_public(row).model_dump(),
            profile=ModelProfile.model_validate(row.profile) if row.profile else None,
            latest_version=latest.version if latest else None,
        )


@write_route(router, "delete", "/{model_id}", ModelPublic, 404, 422)
def delete_model(model_id: ModelId, db: DbDep, artifacts: ArtifactsDep) -> ModelPublic:
    """Delete a model, its versions, and artifact files no other version uses."""
    with db.session() as session:
        row = models.get_model(session, model_id=model_id)
        paths = {v.artifact_path for v in row.versions} | {row.path}
        public = model_public(row)
        models.delete_model(session, model_id=model_id)
    for relative in paths:
        remove_if_unreferenced(db, artifacts, relative, versions.count_using)
    return public
