"""Uploaded model files."""

from __future__ import annotations

from functools import partial
from typing import Any, Unpack

from sqlalchemy.orm import Session

from embodied_ai_architect.store.models import ModelRow
from embodied_ai_architect.store.repo._common import (
    UploadedFileFields,
    insert,
    newest_first,
    remove,
    require,
)


def create_model(
    session: Session,
    *,
    profile: dict[str, Any] | None = None,
    **upload: Unpack[UploadedFileFields],
) -> ModelRow:
    return insert(session, ModelRow(**upload, profile=profile))


def get_model(session: Session, *, model_id: int) -> ModelRow:
    return require(session, ModelRow, model_id, what="model")


list_models = partial(newest_first, ModelRow)


def set_profile(session: Session, *, model_id: int, profile: dict[str, Any]) -> ModelRow:
    row = get_model(session, model_id=model_id)
    row.profile = profile
    session.flush()
    return row


def delete_model(session: Session, *, model_id: int) -> ModelRow:
    """Delete a model and its versions (artifact files are removed by the caller)."""
    return remove(session, get_model(session, model_id=model_id))
