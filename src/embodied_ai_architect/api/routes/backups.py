"""Administration: list the database backups (creating one is POST /api/v1/admin/backup)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from embodied_ai_architect.api.deps import SettingsDep
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.routing import token_router
from embodied_ai_architect.api.schemas import ListPublic

router = token_router("/api/v1/admin", "admin")


class BackupKey(BaseModel):
    key: str = Field(description="Object key (S3) or file name (directory) of a backup.")


@router.get(
    "/backups",
    response_model=ListPublic[BackupKey],
    responses=error_responses(500, 503),
)
async def list_backups(settings: SettingsDep) -> ListPublic[BackupKey]:
    """Stored backups, newest first (503 when no backup destination is configured)."""
    from embodied_ai_architect.store.backup import list_backups as stored

    keys = await run_in_threadpool(stored, settings=settings)
    data = [BackupKey(key=k) for k in reversed(keys)]
    return ListPublic[BackupKey](data=data, count=len(data))
