"""Database backups: a consistent online snapshot (sqlite3 backup API, safe while the server
writes), compressed hard with zstd, shipped to S3-compatible storage or a local directory,
pruned by retention; and the way back (:func:`restore_backup`).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from embodied_ai_architect.errors import ConfigError, NotFoundError, StoreError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store.db import Database


class BackupNotConfiguredError(StoreError):
    """No destination for backups is configured (HTTP 503: the server, not the client)."""

    code = "backup_not_configured"


_NAME = re.compile(r"^branes-\d{8}T\d{6}\d{6}Z\.db\.zst$")


class BackupResult(BaseModel):
    key: str
    destination: str
    size_bytes: int = Field(ge=0)
    sha256: str
    database_bytes: int = Field(ge=0)
    created_at: datetime
    pruned: list[str]


def _sqlite_path(db: Database) -> Path:
    if not db.is_sqlite or not db.engine.url.database:
        raise ConfigError(
            "online backups are implemented for SQLite databases",
            hint="back up PostgreSQL with pg_dump / your provider's snapshots",
        )
    return Path(db.engine.url.database)


def _destination(settings: Settings) -> str:
    if settings.backup_s3_bucket:
        return f"s3://{settings.backup_s3_bucket}/{settings.backup_s3_prefix}"
    if settings.backup_dir is not None:
        return str(settings.backup_dir)
    raise BackupNotConfiguredError(
        "no backup destination is configured",
        hint="set EAA_BACKUP_S3_BUCKET (and EAA_BACKUP_S3_ENDPOINT for S3-compatible storage) "
        "or EAA_BACKUP_DIR",
    )


def _s3(settings: Settings) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=settings.backup_s3_endpoint)


def create_backup(*, db: Database, settings: Settings) -> BackupResult:
    source_path = _sqlite_path(db)
    destination = _destination(settings)
    created = datetime.now(UTC)
    name = f"branes-{created.strftime('%Y%m%dT%H%M%S%f')}Z.db.zst"
    with tempfile.TemporaryDirectory(prefix="eaa-backup-") as tmp:
        snapshot = Path(tmp) / "snapshot.db"
        source = sqlite3.connect(source_path)
        target = sqlite3.connect(snapshot)
        try:
            # Page-by-page copy under SQLite's own locking: consistent even mid-write (unlike cp).
            source.backup(target)
        finally:
            target.close()
            source.close()
        compressed = Path(tmp) / name
        digest = _compress(snapshot, compressed, level=settings.backup_zstd_level)
        size = compressed.stat().st_size
        if settings.backup_s3_bucket:
            key = settings.backup_s3_prefix + name
            client = _s3(settings)
            try:
                client.upload_file(
                    str(compressed),
                    settings.backup_s3_bucket,
                    key,
                    ExtraArgs={"Metadata": {"sha256": digest}},
                )
            except Exception as exc:
                raise StoreError(
                    f"uploading the backup to {destination} failed: {exc}",
                    hint="check the bucket, endpoint and AWS credentials",
                ) from exc
            pruned = _prune_s3(client, settings)
        else:
            assert settings.backup_dir is not None
            directory = settings.backup_dir
            directory.mkdir(parents=True, exist_ok=True)
            partial = directory / f".{name}.partial"
            partial.write_bytes(compressed.read_bytes())
            with partial.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, directory / name)
            key = name
            pruned = _prune_dir(directory, settings.backup_retention)
        return BackupResult(
            key=key,
            destination=destination,
            size_bytes=size,
            sha256=digest,
            database_bytes=snapshot.stat().st_size,
            created_at=created,
            pruned=pruned,
        )


def _compress(source: Path, target: Path, *, level: int) -> str:
    import zstandard

    compressor = zstandard.ZstdCompressor(level=level, threads=0)
    with source.open("rb") as src, target.open("wb") as dst:
        compressor.copy_stream(src, dst)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def _prune_dir(directory: Path, keep: int) -> list[str]:
    names = sorted(p.name for p in directory.iterdir() if _NAME.match(p.name))
    doomed = names[:-keep] if len(names) > keep else []
    for name in doomed:
        (directory / name).unlink(missing_ok=True)
    return doomed


def _list_s3(client: Any, settings: Settings) -> list[str]:
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(
        Bucket=settings.backup_s3_bucket, Prefix=settings.backup_s3_prefix
    ):
        keys += [
            o["Key"] for o in page.get("Contents", []) if _NAME.match(o["Key"].rsplit("/", 1)[-1])
        ]
    return sorted(keys)


def _prune_s3(client: Any, settings: Settings) -> list[str]:
    keys = _list_s3(client, settings)
    doomed = keys[: -settings.backup_retention] if len(keys) > settings.backup_retention else []
    for key in doomed:
        client.delete_object(Bucket=settings.backup_s3_bucket, Key=key)
    return doomed


def list_backups(*, settings: Settings) -> list[str]:
    """Backup keys (S3) or file names (directory), oldest first."""
    _destination(settings)
    if settings.backup_s3_bucket:
        return _list_s3(_s3(settings), settings)
    assert settings.backup_dir is not None
    if not settings.backup_dir.is_dir():
        return []
    return sorted(p.name for p in settings.backup_dir.iterdir() if _NAME.match(p.name))


def restore_backup(*, db: Database, settings: Settings, key: str | None = None) -> str:
    """Replace the database's contents with backup ``key`` (default: the newest).

    Verifies the checksum and SQLite integrity first, then copies with the backup API into
    the live file, so WAL files stay consistent. Stop the server before restoring.
    """
    import zstandard

    target_path = _sqlite_path(db)
    available = list_backups(settings=settings)
    if not available:
        raise NotFoundError(
            "there are no backups to restore", hint="create one with POST /api/v1/admin/backup"
        )
    key = key or available[-1]
    if key not in available:
        raise NotFoundError(
            f"backup {key!r} does not exist", hint=f"available: {', '.join(available[-5:])}"
        )
    with tempfile.TemporaryDirectory(prefix="eaa-restore-") as tmp:
        compressed = Path(tmp) / "backup.db.zst"
        expected: str | None = None
        if settings.backup_s3_bucket:
            client = _s3(settings)
            client.download_file(settings.backup_s3_bucket, key, str(compressed))
            head = client.head_object(Bucket=settings.backup_s3_bucket, Key=key)
            expected = head.get("Metadata", {}).get("sha256")
        else:
            assert settings.backup_dir is not None
            compressed.write_bytes((settings.backup_dir / key).read_bytes())
        actual = hashlib.sha256(compressed.read_bytes()).hexdigest()
        if expected is not None and expected != actual:
            raise StoreError(
                f"backup {key} is corrupt (checksum mismatch)", hint="restore an older one"
            )
        snapshot = Path(tmp) / "snapshot.db"
        with compressed.open("rb") as src, snapshot.open("wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
        source = sqlite3.connect(snapshot)
        try:
            status = source.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                raise StoreError(
                    f"backup {key} failed SQLite's integrity check: {status}",
                    hint="restore an older one",
                )
            db.dispose()  # drop pooled connections that would still see the old pages
            target_path.parent.mkdir(parents=True, exist_ok=True)
            target = sqlite3.connect(target_path)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
    return key
