"""Uploaded model files."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from embodied_ai_architect.store.models import ModelRow
from embodied_ai_architect.store.repo._common import insert, newest_first, remove, require


def create_model(
    session: Session,
    *,
    name: str,
    format: str,
    sha256: str,
    size_bytes: int,
    path: str,
    profile: dict[str, Any] | None = None,
) -> ModelRow:
    row = ModelRow(
        name=name, format=format, sha256=sha256, size_bytes=size_bytes, path=path, profile=profile
    )
    return insert(session, row)


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
