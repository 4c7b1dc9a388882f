"""The manifest that travels with every backup, and the checks of a snapshot against it.

A manifest names the compressed file's sha256 and size, the snapshot's (a SQLite file or a
plain pg_dump) sha256 and size, the
Alembic revision, the row count of every table, when it was made and from which database
kind. A restore trusts a backup only when all of it matches.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embodied_ai_architect import __version__
from embodied_ai_architect.store.backup.errors import BackupInvalidError

MANIFEST_SUFFIX = ".manifest.json"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 1 << 20


class BackupManifest(BaseModel):
    """What a backup must contain; written next to it (``<key>.manifest.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1] = 1
    key: str = Field(description="File name / object key of the compressed backup.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the compressed file.")
    size_bytes: int = Field(gt=0, description="Size of the compressed file.")
    database_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the snapshot (SQLite file / SQL dump)."
    )
    database_bytes: int = Field(gt=0, description="Size of the snapshot (SQLite file / SQL dump).")
    schema_revision: str = Field(min_length=1, description="Alembic revision of the snapshot.")
    row_counts: dict[str, int] = Field(description="Rows per table in the snapshot.")
    created_at: datetime
    source_kind: Literal["sqlite", "postgresql"] = Field(
        description="Database kind the snapshot came from (a SQLite file / a plain pg_dump)."
    )
    branes_version: str = __version__

    @classmethod
    def parse(cls, raw: bytes, *, key: str) -> BackupManifest:
        try:
            manifest = cls.model_validate_json(raw)
        except ValidationError as exc:
            raise BackupInvalidError(
                f"the manifest of backup {key} is not valid: {exc.errors()[0]['msg']}",
                hint="the manifest was damaged or hand-edited; restore another backup",
            ) from exc
        if manifest.key.rsplit("/", 1)[-1] != key.rsplit("/", 1)[-1]:
            raise BackupInvalidError(
                f"the manifest next to backup {key} describes {manifest.key}",
                hint="backup files were renamed or mixed up; restore another backup",
            )
        return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def inspect_snapshot(path: Path, *, key: str) -> tuple[str, dict[str, int]]:
    """(Alembic revision, rows per table) of a SQLite file, after SQLite's integrity check.

    Raises BackupInvalidError for anything that is not an intact branes database.
    """
    with path.open("rb") as handle:
        if handle.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise BackupInvalidError(
                f"backup {key} does not hold a SQLite database",
                hint="the backup is damaged or not a branes backup; restore another one",
            )
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:  # pragma: no cover - the magic check catches non-databases
        raise BackupInvalidError(f"backup {key} cannot be opened: {exc}", hint="") from exc
    try:
        status = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if status != "ok":
            raise BackupInvalidError(
                f"backup {key} failed SQLite's integrity check: {status}",
                hint="restore an older backup",
            )
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        if "alembic_version" not in tables:
            raise BackupInvalidError(
                f"backup {key} is not a branes database (no schema revision; tables: "
                f"{', '.join(sorted(tables)[:8]) or 'none'})",
                hint="restore a backup written by `branes db backup` or POST /api/v1/admin/backup",
            )
        revisions = [r[0] for r in connection.execute("SELECT version_num FROM alembic_version")]
        counts = {
            table: int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for table in sorted(tables)
        }
    except sqlite3.DatabaseError as exc:
        raise BackupInvalidError(
            f"backup {key} is not a readable SQLite database: {exc}",
            hint="the backup is damaged; restore another one",
        ) from exc
    finally:
        connection.close()
    if len(revisions) != 1:
        raise BackupInvalidError(
            f"backup {key} has {len(revisions)} schema revisions, expected one",
            hint="restore a backup written by branes",
        )
    check_known_revision(revisions[0], key=key)
    return revisions[0], counts


def check_known_revision(revision: str, *, key: str) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from embodied_ai_architect.store.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    try:
        known = script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupInvalidError(
            f"backup {key} has schema revision {revision!r}, which this version of branes does "
            "not know",
            hint="restore it with the branes version that wrote it, or restore another backup",
        )


def check_snapshot(path: Path, manifest: BackupManifest, *, key: str) -> None:
    """Size, digest, integrity, revision and row counts of a decompressed snapshot (a SQLite
    file or a PostgreSQL dump, as the manifest's ``source_kind`` says)."""
    size = path.stat().st_size
    if size != manifest.database_bytes:
        raise BackupInvalidError(
            f"backup {key} decompresses to {size} bytes, its manifest says "
            f"{manifest.database_bytes}",
            hint="the backup is truncated or damaged; restore another one",
        )
    if file_sha256(path) != manifest.database_sha256:
        raise BackupInvalidError(
            f"backup {key}: the decompressed database does not match its manifest's checksum",
            hint="the backup is damaged; restore another one",
        )
    if manifest.source_kind == "postgresql":
        from embodied_ai_architect.store.backup.postgres import inspect_dump

        revision, counts = inspect_dump(path, key=key)
    else:
        revision, counts = inspect_snapshot(path, key=key)
    if revision != manifest.schema_revision:
        raise BackupInvalidError(
            f"backup {key} is at schema revision {revision}, its manifest says "
            f"{manifest.schema_revision}",
            hint="the backup and its manifest do not belong together; restore another one",
        )
    if counts != manifest.row_counts:
        differing = sorted(
            t
            for t in set(counts) | set(manifest.row_counts)
            if counts.get(t) != manifest.row_counts.get(t)
        )
        raise BackupInvalidError(
            f"backup {key}: row counts differ from its manifest in {', '.join(differing)}",
            hint="the backup is damaged or foreign; restore another one",
        )
