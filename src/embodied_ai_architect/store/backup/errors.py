"""Backup errors: all StoreErrors, so the CLI exits 2 and prints message + hint."""

from __future__ import annotations

from embodied_ai_architect.errors import StoreError


class BackupNotConfiguredError(StoreError):
    """No destination for backups is configured (HTTP 503: the server, not the client)."""

    code = "backup_not_configured"


class BackupInvalidError(StoreError):
    """A backup is corrupt, partial, empty, foreign or lacks its manifest; nothing was touched."""

    code = "backup_invalid"


class BackupDestinationError(StoreError):
    """The backup destination (S3 bucket, directory) cannot be reached or written (HTTP 502)."""

    code = "backup_destination"


class DatabaseInUseError(StoreError):
    """A running server holds the database, so it may not be replaced (HTTP 409)."""

    code = "database_in_use"


class DatabaseBusyError(StoreError):
    """The database stayed locked by another connection past the wait (HTTP 503, retry)."""

    code = "database_busy"


class BackupWriteError(StoreError):
    """The snapshot could not be written locally (disk full, I/O error) (HTTP 503)."""

    code = "backup_failed"
