"""Administration: database backups (callable from cron with the API token)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from embodied_ai_architect.api.deps import DbDep, SettingsDep
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.routing import token_router
from embodied_ai_architect.api.schemas import BackupPublic

router = token_router("/api/v1/admin", "admin")


@router.post(
    "/backup",
    response_model=BackupPublic,
    status_code=201,
    responses=error_responses(422, 500, 502, 503),
)
async def backup(db: DbDep, settings: SettingsDep) -> BackupPublic:
    """Consistent online snapshot of the database, zstd-compressed, shipped to S3 or a
    directory (EAA_BACKUP_S3_BUCKET / EAA_BACKUP_DIR) with its manifest (sha256, size, schema
    revision, row counts); old backups pruned by retention. 502 when the destination fails."""
    from embodied_ai_architect.store.backup import create_backup

    result = await run_in_threadpool(create_backup, db=db, settings=settings)
    return BackupPublic.model_validate(result.model_dump(exclude={"manifest"}))
