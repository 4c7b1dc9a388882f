"""Create, list and verify backups.

A backup is a consistent online snapshot (sqlite3's backup API, or a plain ``pg_dump`` for
PostgreSQL; both safe while the server writes), compressed with zstd and shipped with its manifest to S3-compatible storage or a directory;
old ones are pruned by retention. :func:`verify_backup` checks one end to end without
touching the live database.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from embodied_ai_architect.errors import ConfigError, NotFoundError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store.backup.destinations import (
    Destination,
    destination_for,
    fetch_local_file,
)
from embodied_ai_architect.store.backup.errors import (
    BackupInvalidError,
    BackupNotConfiguredError,
    BackupWriteError,
    DatabaseBusyError,
)
from embodied_ai_architect.store.backup.manifest import (
    BackupManifest,
    check_snapshot,
    file_sha256,
    inspect_snapshot,
)
from embodied_ai_architect.store.db import Database


class BackupResult(BaseModel):
    key: str
    destination: str
    size_bytes: int = Field(ge=0)
    sha256: str
    database_bytes: int = Field(ge=0)
    created_at: datetime
    pruned: list[str]
    manifest: BackupManifest


def sqlite_path(db: Database) -> Path:
    if not db.is_sqlite or not db.engine.url.database:
        raise ConfigError(
            f"backups and restores are implemented for SQLite and PostgreSQL databases, not "
            f"{db.engine.dialect.name}",
            hint="back up this database with its own tools",
        )
    return Path(db.engine.url.database)


def database_kind(db: Database) -> str:
    """``sqlite`` or ``postgresql``: the manifest's ``source_kind`` for this database."""
    if db.engine.dialect.name == "postgresql":
        return "postgresql"
    sqlite_path(db)  # a ConfigError for anything else
    return "sqlite"


def snapshot_sqlite(source_path: Path, target: Path) -> None:
    """Page-by-page copy under SQLite's own locking: consistent even mid-write (unlike cp)."""
    source = sqlite3.connect(source_path, timeout=30)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseBusyError(
                f"the database could not be read for a snapshot: {exc}",
                hint="another process holds it locked; retry in a moment",
            ) from exc
        raise BackupWriteError(
            f"writing the database snapshot to {target.parent} failed: {exc}",
            hint="check free disk space there (the temp directory follows TMPDIR)",
        ) from exc
    finally:
        destination.close()
        source.close()


_SUFFIX = {"sqlite": "db", "postgresql": "sql"}
_STAMP = re.compile(r"^branes-(\d{8}T\d{12})Z\.")


def backup_name(destination: Destination | None, now: datetime, kind: str) -> str:
    """``branes-<UTC>Z.db.zst`` (SQLite) / ``.sql.zst`` (PostgreSQL), strictly after every
    existing key even if the clock went back: keys order backups (newest = restore default,
    oldest = pruned first)."""
    suffix = f"Z.{_SUFFIX[kind]}.zst"
    name = f"branes-{now.strftime('%Y%m%dT%H%M%S%f')}{suffix}"
    existing = destination.list() if destination is not None else []
    if existing:
        latest = existing[-1].rsplit("/", 1)[-1]
        match = _STAMP.match(latest)
        if match and name[: len("branes-") + 21] <= latest[: len("branes-") + 21]:
            stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f")
            bumped = stamp + timedelta(microseconds=1)
            name = f"branes-{bumped.strftime('%Y%m%dT%H%M%S%f')}{suffix}"
    return name


def take_snapshot(
    db: Database, target: Path, *, settings: Settings, key: str
) -> tuple[str, str, dict[str, int]]:
    """Write a consistent snapshot of ``db`` to ``target``: (kind, revision, rows per table).

    SQLite: the backup API's page copy. PostgreSQL: a plain ``pg_dump`` (one snapshot).
    """
    kind = database_kind(db)
    if kind == "postgresql":
        from embodied_ai_architect.store.backup import postgres

        postgres.dump(db, target, settings=settings)
        return kind, *postgres.inspect_dump(target, key=key)
    snapshot_sqlite(sqlite_path(db), target)
    return kind, *inspect_snapshot(target, key=key)


def package_snapshot(
    snapshot: Path,
    *,
    kind: str,
    revision: str,
    counts: dict[str, int],
    name: str,
    created: datetime,
    level: int,
) -> tuple[Path, BackupManifest]:
    """zstd-compress ``snapshot`` next to itself as ``name``; the manifest describing both."""
    import zstandard

    compressed = snapshot.with_name(name)
    compressor = zstandard.ZstdCompressor(level=level, threads=0)
    with snapshot.open("rb") as src, compressed.open("wb") as dst:
        compressor.copy_stream(src, dst)
    manifest = BackupManifest(
        key=name,
        sha256=file_sha256(compressed),
        size_bytes=compressed.stat().st_size,
        database_sha256=file_sha256(snapshot),
        database_bytes=snapshot.stat().st_size,
        schema_revision=revision,
        row_counts=counts,
        created_at=created,
        source_kind=kind,  # type: ignore[arg-type]
    )
    return compressed, manifest


def create_backup(
    *, db: Database, settings: Settings, clock: Callable[[], datetime] | None = None
) -> BackupResult:
    """Snapshot the database, compress it, write it and its manifest, prune old backups.

    SQLite is copied with its online backup API, PostgreSQL with ``pg_dump``; both are safe
    while the server writes. ``clock`` (default: the UTC wall clock) exists for tests of
    clock jumps.
    """
    destination = destination_for(settings)
    created = (clock or (lambda: datetime.now(UTC)))()
    with tempfile.TemporaryDirectory(prefix="eaa-backup-") as tmp:
        key, manifest = write_backup(
            db,
            destination,
            Path(tmp) / "snapshot",
            settings=settings,
            created=created,
            level=settings.backup_zstd_level,
        )
        pruned = prune(destination, keep=settings.backup_retention)
    return BackupResult(
        key=key,
        destination=destination.description,
        size_bytes=manifest.size_bytes,
        sha256=manifest.sha256,
        database_bytes=manifest.database_bytes,
        created_at=created,
        pruned=pruned,
        manifest=manifest,
    )


def write_backup(
    db: Database,
    destination: Destination,
    snapshot: Path,
    *,
    settings: Settings,
    created: datetime,
    level: int,
) -> tuple[str, BackupManifest]:
    """Snapshot ``db`` into ``snapshot``, compress it and put it, with its manifest, into
    ``destination`` under the next backup name: (key, manifest)."""
    name = backup_name(destination, created, database_kind(db))
    kind, revision, counts = take_snapshot(db, snapshot, settings=settings, key=name)
    compressed, manifest = package_snapshot(
        snapshot,
        kind=kind,
        revision=revision,
        counts=counts,
        name=name,
        created=created,
        level=level,
    )
    return destination.put(compressed, manifest), manifest


def prune(destination: Destination, *, keep: int) -> list[str]:
    keys = destination.list()
    doomed = keys[:-keep] if len(keys) > keep else []
    for key in doomed:
        destination.delete(key)
    return doomed


def list_backups(*, settings: Settings) -> list[str]:
    """Backup keys (S3) or file names (directory), oldest first."""
    return destination_for(settings).list()


def fetch_backup(*, settings: Settings, key: str | None, into: Path) -> tuple[str, BackupManifest]:
    """Copy backup ``key`` (default: the newest; or a path to a backup file) to ``into``."""
    if key is not None and Path(key).is_file():
        return Path(key).name, fetch_local_file(Path(key), into)
    try:
        destination = destination_for(settings)
    except BackupNotConfiguredError:
        if key is None:
            raise
        raise NotFoundError(
            f"backup {key!r} is not a file and no backup destination is configured",
            hint="pass the path of a .db.zst backup, or set EAA_BACKUP_DIR / EAA_BACKUP_S3_BUCKET",
        ) from None
    available = destination.list()
    if not available:
        raise NotFoundError(
            f"there are no backups in {destination.description}",
            hint="create one with `branes db backup` or POST /api/v1/admin/backup",
        )
    key = key or available[-1]
    if key not in available:
        raise NotFoundError(
            f"backup {key!r} does not exist in {destination.description}",
            hint=f"available (newest last): {', '.join(available[-5:])}",
        )
    return key, destination.fetch(key, into)


def open_verified(
    *, settings: Settings, key: str | None, workdir: Path
) -> tuple[str, BackupManifest, Path]:
    """Fetch, check and decompress a backup into ``workdir``: (key, manifest, snapshot path).

    Every check runs before the caller may touch a live database: compressed size and sha256,
    bounded decompression, snapshot size and sha256, SQLite integrity (or a complete pg_dump),
    a known schema revision and the row count of every table.
    """
    compressed = workdir / "backup.db.zst"
    key, manifest = fetch_backup(settings=settings, key=key, into=compressed)
    size = compressed.stat().st_size
    if size != manifest.size_bytes:
        raise BackupInvalidError(
            f"backup {key} is {size} bytes, its manifest says {manifest.size_bytes}"
            + (" (the file is empty)" if size == 0 else ""),
            hint="the backup is truncated or damaged; restore another one",
        )
    if file_sha256(compressed) != manifest.sha256:
        raise BackupInvalidError(
            f"backup {key} is corrupt (checksum mismatch)",
            hint="the backup is damaged; restore another one",
        )
    snapshot = workdir / "snapshot.db"
    _decompress(compressed, snapshot, limit=manifest.database_bytes, key=key)
    compressed.unlink()
    check_snapshot(snapshot, manifest, key=key)
    return key, manifest, snapshot


def _decompress(source: Path, target: Path, *, limit: int, key: str) -> None:
    import zstandard

    written = 0
    try:
        with (
            source.open("rb") as src,
            zstandard.ZstdDecompressor().stream_reader(src) as reader,
            target.open("wb") as dst,
        ):
            while chunk := reader.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise BackupInvalidError(
                        f"backup {key} decompresses to more than the {limit} bytes its "
                        "manifest names",
                        hint="the backup is damaged; restore another one",
                    )
                dst.write(chunk)
    except zstandard.ZstdError as exc:
        raise BackupInvalidError(
            f"backup {key} is not a valid zstd stream: {exc}",
            hint="the backup is damaged or not a branes backup; restore another one",
        ) from exc


def verify_backup(*, settings: Settings, key: str | None = None) -> BackupManifest:
    """Run every restore check on a backup without touching the live database."""
    with tempfile.TemporaryDirectory(prefix="eaa-verify-") as tmp:
        _, manifest, _ = open_verified(settings=settings, key=key, workdir=Path(tmp))
    return manifest
