"""Database backups you can trust: every backup carries a manifest (sha256, size, schema
revision, row counts, created_at, source kind); verify and restore check all of it before the
live database is touched, and a restore swaps the file atomically and keeps a rollback copy.

    create_backup(db=..., settings=...)        snapshot + zstd + manifest → S3 or a directory
    list_backups(settings=...)                 keys, oldest first
    verify_backup(settings=..., key=...)       every restore check, nothing touched
    restore_backup(db=..., settings=..., key=...)
"""

from embodied_ai_architect.store.backup.core import (
    BackupResult,
    create_backup,
    list_backups,
    verify_backup,
)
from embodied_ai_architect.store.backup.errors import (
    BackupDestinationError,
    BackupInvalidError,
    BackupNotConfiguredError,
    DatabaseBusyError,
    DatabaseInUseError,
)
from embodied_ai_architect.store.backup.manifest import BackupManifest
from embodied_ai_architect.store.backup.restore import RestoreResult, restore_backup

__all__ = [
    "BackupDestinationError",
    "BackupInvalidError",
    "BackupManifest",
    "BackupNotConfiguredError",
    "BackupResult",
    "DatabaseBusyError",
    "DatabaseInUseError",
    "RestoreResult",
    "create_backup",
    "list_backups",
    "restore_backup",
    "verify_backup",
]
