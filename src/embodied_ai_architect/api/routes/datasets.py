"""Uploaded data files: evaluation and calibration data that jobs reference by id.

Streamed to disk like models, then checked (format from the bytes, no pickles, numeric arrays
sharing the sample axis, bounded size in memory); refused files are not kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from embodied_ai_architect.api.convert import page_of
from embodied_ai_architect.api.deps import ArtifactsDep, DbDep, SettingsDep
from embodied_ai_architect.api.params import MAX_ID, Filename, Limit, Offset
from embodied_ai_architect.api.routing import read_route, write_route
from embodied_ai_architect.api.schemas import ListPublic
from embodied_ai_architect.api.uploads import (
    file_fields,
    remove_if_unreferenced,
    removed_if_refused,
    store_body,
    upload_route,
)
from embodied_ai_architect.data.uploads import ArraySummary, check_data_file, sniff_format
from embodied_ai_architect.errors import InputError
from embodied_ai_architect.store.repo import datasets

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

DatasetId = Annotated[int, Path(ge=1, le=MAX_ID, description="Dataset id.")]
SCOPE = "datasets"


class DatasetPublic(BaseModel):
    """An uploaded data file, as optimize (``eval_data_id``, ``calibration_data_id``) and
    deploy (``calibration_data_id``) requests reference it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str = Field(description="The file name given at upload.")
    format: Literal["npz", "npy"]
    sha256: str
    size_bytes: int = Field(ge=0)
    samples: int = Field(ge=1)
    labelled: bool = Field(description="Has integer labels 'y': accuracy can be measured.")
    arrays: list[ArraySummary]
    created_at: datetime


@upload_route(router, DatasetPublic)
async def upload_dataset(
    request: Request, filename: Filename, db: DbDep, settings: SettingsDep, artifacts: ArtifactsDep
) -> DatasetPublic:
    """Upload an .npz (arrays ``x`` and optional integer labels ``y``, or one array per model
    input) or an .npy (inputs only) as the raw request body.

    Pickled or object arrays, non-numeric arrays, arrays of different sample counts and files
    over ``EAA_MAX_DATA_BYTES`` (on disk or in memory) are refused with 422 / 413.
    """
    limit = settings.max_data_bytes
    # The suffix is decided by the bytes below; the loaders pick the reader by suffix.
    ref = await store_body(
        request,
        artifacts,
        scope=SCOPE,
        suffix=".upload",
        limit=limit,
        setting="EAA_MAX_DATA_BYTES",
    )
    stored = artifacts.root / ref.path
    try:
        fmt = await run_in_threadpool(sniff_format, stored)
    except InputError:
        stored.unlink(missing_ok=True)
        raise
    # Content-addressed: an identical file already kept under its final name is reused.
    final = stored.with_suffix(f".{fmt}")
    if final.exists():
        stored.unlink(missing_ok=True)
    else:
        stored.replace(final)
    relative = str(final.relative_to(artifacts.root))
    with removed_if_refused(db, artifacts, relative, datasets.count_using):
        summary = await run_in_threadpool(check_data_file, final, max_bytes=limit)
    with db.session() as session:
        row = datasets.create_dataset(
            session,
            **file_fields(ref, name=filename, format=summary.format, path=relative),
            samples=summary.samples,
            labelled=summary.labelled,
            arrays=[a.model_dump() for a in summary.arrays],
        )
        return DatasetPublic.model_validate(row)


@read_route(router, "", ListPublic[DatasetPublic], 422)
def list_datasets(db: DbDep, offset: Offset = 0, limit: Limit = 50) -> ListPublic[DatasetPublic]:
    """Uploaded data files, newest first."""
    with db.session() as session:
        rows, count = datasets.list_datasets(session, offset=offset, limit=limit)
        return page_of(DatasetPublic, rows, count)


@read_route(router, "/{dataset_id}", DatasetPublic, 404, 422)
def get_dataset(dataset_id: DatasetId, db: DbDep) -> DatasetPublic:
    with db.session() as session:
        return DatasetPublic.model_validate(datasets.get_dataset(session, dataset_id=dataset_id))


@write_route(router, "delete", "/{dataset_id}", DatasetPublic, 404, 422)
def delete_dataset(dataset_id: DatasetId, db: DbDep, artifacts: ArtifactsDep) -> DatasetPublic:
    """Delete a data file (jobs that already ran keep their results)."""
    with db.session() as session:
        row = datasets.delete_dataset(session, dataset_id=dataset_id)
        public, relative = DatasetPublic.model_validate(row), row.path
    remove_if_unreferenced(db, artifacts, relative, datasets.count_using)
    return public
