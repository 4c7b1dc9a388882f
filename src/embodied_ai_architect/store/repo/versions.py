"""Immutable model versions: numbered per model, each pointing at its parent and artifact."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from embodied_ai_architect.errors import InputError, StoreError
from embodied_ai_architect.store.models import ModelRow, ModelVersionRow
from embodied_ai_architect.store.repo._common import insert_new, not_found, paginate, require


class VersionFields(TypedDict):
    """What a version records besides its model, number and parent (``ModelVersionRow``'s
    columns); an optional one left out or None takes the row's default."""

    artifact_sha256: str
    artifact_path: str
    technique: NotRequired[str | None]
    config: NotRequired[dict[str, Any] | None]
    metrics: NotRequired[dict[str, Any] | None]
    job_id: NotRequired[str | None]
    note: NotRequired[str | None]


def create_version(
    session: Session,
    *,
    model_id: int,
    parent_id: int | None = None,
    **fields: Unpack[VersionFields],
) -> ModelVersionRow:
    """Record the next version (0 for the upload itself) of ``model_id``.

    Only call this once the artifact is completely written: a version is never half-made.
    """
    require(session, ModelRow, model_id, what="model")
    if parent_id is not None:
        parent = require(session, ModelVersionRow, parent_id, what="model version")
        if parent.model_id != model_id:
            raise InputError(
                f"parent version {parent_id} belongs to model {parent.model_id}, not {model_id}",
                hint="derive versions only from versions of the same model",
            )
    latest = session.scalar(
        select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == model_id)
    )
    version = 0 if latest is None else latest + 1
    return insert_new(
        session, ModelVersionRow, model_id=model_id, version=version, parent_id=parent_id, **fields
    )


def get_version(session: Session, *, version_id: int) -> ModelVersionRow:
    return require(session, ModelVersionRow, version_id, what="model version")


def record_verdicts(
    session: Session,
    *,
    version_id: int,
    verdicts: list[dict[str, Any]],
    judged_metrics: dict[str, Any],
) -> ModelVersionRow:
    """Store the per-constraint verdicts of a version, once: they are judged when its run ends.

    A second write is refused: readers rely on the stored verdicts being the run's own.
    """
    row = get_version(session, version_id=version_id)
    if row.verdicts is not None:
        raise StoreError(
            f"model version {version_id} already has verdicts recorded",
            hint="verdicts are written once, when the run that made the version ends",
        )
    row.verdicts = list(verdicts)
    row.judged_metrics = dict(judged_metrics)
    session.flush()
    return row


def get_version_by_number(session: Session, *, model_id: int, version: int) -> ModelVersionRow:
    row = session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model_id == model_id, ModelVersionRow.version == version
        )
    )
    if row is None:
        return require(session, ModelVersionRow, f"{model_id}/v{version}", what="model version")
    return row


def _artifact_statement(numbered: bool) -> Any:
    """The model (always one row when it exists) and its latest or numbered version's
    artifact (NULL when there is none), in one indexed query."""
    joined = ModelVersionRow.model_id == ModelRow.id
    if numbered:
        joined = and_(joined, ModelVersionRow.version == bindparam("version"))
    return (
        select(ModelRow.id, ModelVersionRow.artifact_path)
        .outerjoin(ModelVersionRow, joined)
        .where(ModelRow.id == bindparam("model_id"))
        .order_by(ModelVersionRow.version.desc())
        .limit(1)
    )


_ARTIFACT_OF = {numbered: _artifact_statement(numbered) for numbered in (False, True)}


def artifact_path_of(session: Session, *, model_id: int, version: int | None) -> str:
    """The stored artifact path of a model's ``version`` (None: its latest) in one query: a
    job submit resolves this on every call. Errors as :func:`get_model` /
    :func:`get_version_by_number` raise them."""
    params: dict[str, int] = {"model_id": model_id}
    if version is not None:
        params["version"] = version
    found = session.execute(_ARTIFACT_OF[version is not None], params).first()
    if found is None:
        raise not_found("model", model_id)
    if found.artifact_path is not None:
        return str(found.artifact_path)
    if version is None:
        raise InputError(f"model {model_id} has no stored version", hint="upload it again")
    raise not_found("model version", f"{model_id}/v{version}")


def latest_version(session: Session, *, model_id: int) -> ModelVersionRow | None:
    return session.scalar(
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model_id)
        .order_by(ModelVersionRow.version.desc())
        .limit(1)
    )


def list_versions(
    session: Session, *, model_id: int, offset: int = 0, limit: int = 100
) -> tuple[list[ModelVersionRow], int]:
    require(session, ModelRow, model_id, what="model")
    statement = (
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model_id)
        .order_by(ModelVersionRow.version)
    )
    return paginate(session, statement, offset=offset, limit=limit)


def count_using(session: Session, *, path: str) -> int:
    """How many versions point at this artifact (identical uploads share one file)."""
    statement = select(func.count()).select_from(ModelVersionRow)
    return int(session.scalar(statement.where(ModelVersionRow.artifact_path == path)) or 0)


def restore_version(
    session: Session, *, version_id: int, job_id: str | None = None
) -> ModelVersionRow:
    """Roll back by recording a *new* version that reuses an old version's artifact.

    History stays append-only: the restored version points at the one it copies.
    """
    source = get_version(session, version_id=version_id)
    return create_version(
        session,
        model_id=source.model_id,
        parent_id=source.id,
        technique="restore",
        config={"restored_from_version": source.version},
        metrics=dict(source.metrics),
        artifact_sha256=source.artifact_sha256,
        artifact_path=source.artifact_path,
        job_id=job_id,
        note=f"restored from version {source.version}",
    )
