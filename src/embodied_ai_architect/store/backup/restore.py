"""Restore: verify everything, then swap the database file atomically, keeping a rollback copy.

Order of work (nothing touches the live database before step 3):

1. take the database lock exclusively (refuses while ``branes serve`` runs);
2. fetch the backup, check its manifest, checksums, SQLite integrity, schema revision and row
   counts, decompressed into a temp file *in the database's directory*;
3. keep the current database as ``<db>.before-restore-<timestamp>`` (SQLite backup API, so a
   WAL is included), checkpoint and drop the WAL;
4. ``os.replace`` the verified file over the database (atomic on POSIX), fsync the directory;
5. re-check the live file; if that fails, put the rollback copy back.

PostgreSQL (``_restore_postgres``): the same checks on the dump first; then refuse while any
other session is connected, keep the current database as a verified backup file under
``<workspace>/before-restore/``, replace the ``public`` schema in one transaction (psql
``--single-transaction``), re-check revision and row counts, and restore the rollback copy
if they differ.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store.artifacts import fsync_dir
from embodied_ai_architect.store.backup.core import (
    database_kind,
    open_verified,
    snapshot_sqlite,
    sqlite_path,
    write_backup,
)
from embodied_ai_architect.store.backup.destinations import DirectoryDestination
from embodied_ai_architect.store.backup.errors import BackupInvalidError, DatabaseInUseError
from embodied_ai_architect.store.backup.manifest import BackupManifest, check_snapshot
from embodied_ai_architect.store.db import Database, DatabaseLock


class RestoreResult(BaseModel):
    key: str
    database: str
    rollback_copy: str | None
    manifest: BackupManifest


def restore_backup(*, db: Database, settings: Settings, key: str | None = None) -> RestoreResult:
    """Replace the database with backup ``key`` (default: the newest; or a backup file path).

    Refuses with BackupInvalidError (nothing touched) when the backup is corrupt, partial,
    empty or foreign, and with DatabaseInUseError while a server holds the database.
    """
    if database_kind(db) == "postgresql":
        return _restore_postgres(db=db, settings=settings, key=key)
    target = sqlite_path(db)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        DatabaseLock(target).acquire(exclusive=True, purpose="restore the database"),
        tempfile.TemporaryDirectory(dir=target.parent, prefix=".eaa-restore-") as tmp,
    ):
        key, manifest, snapshot = open_verified(settings=settings, key=key, workdir=Path(tmp))
        _require_kind(manifest, key=key, kind="sqlite")
        db.dispose()  # pooled connections would keep seeing the old pages
        _checkpoint(target)  # refuses while another connection still writes
        rollback = _keep_rollback_copy(target)
        _drop_wal(target)
        os.replace(snapshot, target)
        fsync_dir(target.parent)
        try:
            check_snapshot(target, manifest, key=key)
        except BackupInvalidError:
            if rollback is not None:
                snapshot_sqlite(rollback, target)
            raise
    return RestoreResult(
        key=key,
        database=str(target),
        rollback_copy=str(rollback) if rollback else None,
        manifest=manifest,
    )


def _require_kind(manifest: BackupManifest, *, key: str, kind: str) -> None:
    if manifest.source_kind != kind:
        raise BackupInvalidError(
            f"backup {key} was made from a {manifest.source_kind} database; this database is "
            f"{kind}",
            hint="restore a backup of the same database kind (moving between SQLite and "
            "PostgreSQL is a migration, not a restore)",
        )


def _restore_postgres(*, db: Database, settings: Settings, key: str | None) -> RestoreResult:
    from embodied_ai_architect.store.backup import postgres

    with tempfile.TemporaryDirectory(prefix="eaa-restore-") as tmp:
        workdir = Path(tmp)
        key, manifest, dump = open_verified(settings=settings, key=key, workdir=workdir)
        _require_kind(manifest, key=key, kind="postgresql")
        postgres.refuse_if_in_use(db)
        rollback, rollback_dump = _keep_postgres_rollback_copy(db, settings, workdir)
        postgres.restore(db, dump, settings=settings)
        expected = (manifest.schema_revision, manifest.row_counts)
        if postgres.live_state(db) != expected:
            if rollback_dump is not None:
                postgres.restore(db, rollback_dump, settings=settings)
            raise BackupInvalidError(
                f"backup {key}: the restored database does not match its manifest; the "
                "previous database was put back",
                hint="restore another backup",
            )
    return RestoreResult(
        key=key,
        database=db.engine.url.render_as_string(hide_password=True),
        rollback_copy=str(rollback) if rollback else None,
        manifest=manifest,
    )


def _keep_postgres_rollback_copy(
    db: Database, settings: Settings, workdir: Path
) -> tuple[Path | None, Path | None]:
    """The live database as a verified backup file (restorable with ``branes db restore
    PATH``) under ``<workspace>/before-restore/``, and its dump in ``workdir``; (None, None)
    when the database holds no branes schema yet."""
    from embodied_ai_architect.store.backup import postgres

    revision, _ = postgres.live_state(db)
    if revision is None:
        return None, None
    destination = DirectoryDestination(settings.workspace / "before-restore")
    dump = workdir / "rollback"
    key, _ = write_backup(
        db,
        destination,
        dump,
        settings=settings,
        created=datetime.now(UTC),
        level=3,  # speed over size: this copy is made while the restore waits
    )
    return destination.directory / key, dump


def _keep_rollback_copy(target: Path) -> Path | None:
    if not target.exists() or target.stat().st_size == 0:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    rollback = target.with_name(f"{target.name}.before-restore-{stamp}")
    snapshot_sqlite(target, rollback)
    return rollback


def _checkpoint(target: Path) -> None:
    # A WAL left beside the new file would be replayed onto it: fold it into the old file
    # first. A busy checkpoint means another connection (a CLI, a stray worker) is writing.
    if not target.exists():
        return
    connection = sqlite3.connect(target, timeout=5)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError as exc:
        busy, reason = 1, str(exc)
    else:
        reason = "a checkpoint could not complete"
    finally:
        connection.close()
    if busy:
        raise DatabaseInUseError(
            f"cannot restore the database: another connection is using it ({reason})",
            hint="stop every branes process using this database (server, CLI, workers), then retry",
        )


def _drop_wal(target: Path) -> None:
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
