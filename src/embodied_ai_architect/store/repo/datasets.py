"""Uploaded data files (evaluation and calibration data that jobs reference by id)."""

from __future__ import annotations

from functools import partial
from typing import Any, Unpack

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from embodied_ai_architect.store.models import DatasetRow
from embodied_ai_architect.store.repo._common import (
    UploadedFileFields,
    insert,
    newest_first,
    remove,
    require,
)


def create_dataset(
    session: Session,
    *,
    samples: int,
    labelled: bool,
    arrays: list[dict[str, Any]],
    **upload: Unpack[UploadedFileFields],
) -> DatasetRow:
    return insert(session, DatasetRow(**upload, samples=samples, labelled=labelled, arrays=arrays))


def get_dataset(session: Session, *, dataset_id: int) -> DatasetRow:
    return require(session, DatasetRow, dataset_id, what="dataset")


list_datasets = partial(newest_first, DatasetRow)


def delete_dataset(session: Session, *, dataset_id: int) -> DatasetRow:
    """Delete the row; the caller removes the file when no other row uses it."""
    return remove(session, get_dataset(session, dataset_id=dataset_id))


def count_using(session: Session, *, path: str) -> int:
    """How many datasets point at this artifact (identical uploads share one file)."""
    return int(
        session.scalar(select(func.count()).select_from(DatasetRow).where(DatasetRow.path == path))
        or 0
    )
