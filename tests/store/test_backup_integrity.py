"""Backups you can trust, on a directory store: every damaged kind of backup is refused before
the live database is touched, a good one is restored atomically with a rollback copy, and a
restore refuses while a server holds the database.

The S3 variants of the same checks live in tests/api/test_backup.py (they need moto_server).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.backup import (
    BackupInvalidError,
    BackupManifest,
    DatabaseInUseError,
    create_backup,
    restore_backup,
    verify_backup,
)
from embodied_ai_architect.store.backup.manifest import MANIFEST_SUFFIX
from embodied_ai_architect.store.db import DatabaseLock
from embodied_ai_architect.store.repo import models


@pytest.fixture
def settings(isolated_workspace: Path) -> Settings:
    return Settings(workspace=isolated_workspace, backup_dir=isolated_workspace.parent / "bk")


@pytest.fixture
def live(settings: Settings) -> Database:
    db = Database.from_settings(settings)
    db.upgrade()
    add_model(db, "before")
    return db


def add_model(db: Database, name: str) -> None:
    with db.session() as session:
        models.create_model(
            session, name=name, format="onnx", sha256="0" * 64, size_bytes=1, path="p"
        )


def model_names(db: Database) -> list[str]:
    with db.session() as session:
        return sorted(r.name for r in models.list_models(session)[0])


def zstd_sqlite(tmp: Path, statements: list[str]) -> bytes:
    import zstandard

    path = tmp / "foreign.db"
    connection = sqlite3.connect(path)
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()
    return zstandard.ZstdCompressor().compress(path.read_bytes())


def rewrite_manifest(path: Path, **changes: object) -> None:
    """Make the manifest consistent with a tampered file: the attacker's best case."""
    manifest_path = path.with_name(path.name + MANIFEST_SUFFIX)
    data = json.loads(manifest_path.read_text())
    data.update(changes)
    manifest_path.write_text(json.dumps(data))


def _matching_manifest(path: Path, payload: bytes) -> None:
    import hashlib

    import zstandard

    rewrite_manifest(path, sha256=hashlib.sha256(payload).hexdigest(), size_bytes=len(payload))
    try:
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 26)
    except zstandard.ZstdError:
        return
    rewrite_manifest(path, database_sha256=hashlib.sha256(raw).hexdigest(), database_bytes=len(raw))


def truncate_to_1000(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def drop_last_byte(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def foreign_schema(path: Path) -> None:
    path.write_bytes(zstd_sqlite(path.parent, ["CREATE TABLE t (x INTEGER)"]))


def foreign_schema_with_forged_manifest(path: Path) -> None:
    foreign_schema(path)
    _matching_manifest(path, path.read_bytes())


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def random_bytes_with_forged_manifest(path: Path) -> None:
    random_bytes(path)
    _matching_manifest(path, path.read_bytes())


def zstd_of_garbage_with_forged_manifest(path: Path) -> None:
    import zstandard

    path.write_bytes(zstandard.ZstdCompressor().compress(b"\x00garbage" * 1000))
    _matching_manifest(path, path.read_bytes())


def unknown_revision_with_forged_manifest(path: Path) -> None:
    path.write_bytes(
        zstd_sqlite(
            path.parent,
            [
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)",
                "INSERT INTO alembic_version VALUES ('ffffffffffff')",
            ],
        )
    )
    _matching_manifest(path, path.read_bytes())
    rewrite_manifest(path, schema_revision="ffffffffffff", row_counts={"alembic_version": 1})


def forged_row_counts(path: Path) -> None:
    manifest = json.loads(path.with_name(path.name + MANIFEST_SUFFIX).read_text())
    rewrite_manifest(path, row_counts={**manifest["row_counts"], "models": 99})


def manifest_missing(path: Path) -> None:
    path.with_name(path.name + MANIFEST_SUFFIX).unlink()


def manifest_garbage(path: Path) -> None:
    path.with_name(path.name + MANIFEST_SUFFIX).write_text("{not json")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated to 1000 bytes": (truncate_to_1000, "its manifest says"),
    "last byte removed": (drop_last_byte, "its manifest says"),
    "empty": (empty, "the file is empty"),
    "one byte flipped": (flip_a_byte, "checksum mismatch"),
    "foreign schema": (foreign_schema, "its manifest says"),
    "foreign schema, forged manifest": (
        foreign_schema_with_forged_manifest,
        "not a branes database",
    ),
    "random bytes": (random_bytes, "its manifest says"),
    "random bytes, forged manifest": (random_bytes_with_forged_manifest, "not a valid zstd"),
    "zstd of non-sqlite, forged manifest": (
        zstd_of_garbage_with_forged_manifest,
        "does not hold a SQLite database",
    ),
    "unknown revision, forged manifest": (
        unknown_revision_with_forged_manifest,
        "does not know",
    ),
    "row counts forged": (forged_row_counts, "row counts differ"),
    "manifest missing": (manifest_missing, "has no manifest"),
    "manifest garbage": (manifest_garbage, "manifest of backup"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_backups_are_refused_and_the_live_db_is_untouched(
    kind: str, settings: Settings, live: Database
) -> None:
    damage, reason = DAMAGE[kind]
    backup = create_backup(db=live, settings=settings)
    add_model(live, "after")
    assert settings.backup_dir is not None
    damage(settings.backup_dir / backup.key)
    with pytest.raises(BackupInvalidError, match=reason):
        verify_backup(settings=settings, key=backup.key)
    with pytest.raises(BackupInvalidError, match=reason):
        restore_backup(db=live, settings=settings, key=backup.key)
    assert model_names(live) == ["after", "before"]
    database = Path(settings.workspace / "branes.db")
    assert not list(database.parent.glob("branes.db.before-restore-*"))
    assert not list(database.parent.glob(".eaa-restore-*"))
    live.dispose()


def test_a_good_backup_restores_atomically_and_keeps_a_rollback_copy(
    settings: Settings, live: Database
) -> None:
    backup = create_backup(db=live, settings=settings)
    manifest = backup.manifest
    assert manifest.schema_revision and manifest.row_counts["models"] == 1
    assert manifest.source_kind == "sqlite" and manifest.size_bytes == backup.size_bytes
    assert settings.backup_dir is not None
    on_disk = BackupManifest.model_validate_json(
        (settings.backup_dir / (backup.key + MANIFEST_SUFFIX)).read_text()
    )
    assert on_disk == manifest
    assert verify_backup(settings=settings, key=backup.key) == manifest
    add_model(live, "after")
    result = restore_backup(db=live, settings=settings)
    assert result.key == backup.key and model_names(live) == ["before"]
    assert result.rollback_copy is not None
    rollback = sqlite3.connect(result.rollback_copy)
    names = sorted(r[0] for r in rollback.execute("SELECT name FROM models"))
    rollback.close()
    assert names == ["after", "before"]  # the replaced database survives, WAL included
    add_model(live, "written after the restore")  # the restored file is a working database
    assert model_names(live) == ["before", "written after the restore"]
    live.dispose()


def test_restore_refuses_while_a_server_holds_the_database(
    settings: Settings, live: Database
) -> None:
    backup = create_backup(db=live, settings=settings)
    add_model(live, "after")
    server_lock = DatabaseLock(settings.workspace / "branes.db").acquire(
        exclusive=False, purpose="serve the API"
    )
    try:
        with pytest.raises(DatabaseInUseError, match="in use by pid"):
            restore_backup(db=live, settings=settings, key=backup.key)
        assert model_names(live) == ["after", "before"]
    finally:
        server_lock.release()
    restore_backup(db=live, settings=settings, key=backup.key)
    assert model_names(live) == ["before"]
    live.dispose()


def _branes(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "branes"), *args],
        env={"PATH": "/usr/bin:/bin", "HOME": env["EAA_WORKSPACE"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", ["truncated to 1000 bytes", "empty", "random bytes"])
def test_cli_refuses_damaged_backups_with_exit_2(
    kind: str, settings: Settings, live: Database, tmp_path: Path
) -> None:
    backup = create_backup(db=live, settings=settings)
    assert settings.backup_dir is not None
    DAMAGE[kind][0](settings.backup_dir / backup.key)
    env = {"EAA_WORKSPACE": str(settings.workspace), "EAA_BACKUP_DIR": str(settings.backup_dir)}
    for command in (["db", "verify", backup.key], ["db", "restore", backup.key, "--yes"]):
        result = _branes(*command, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "error:" in result.stderr and "internal error" not in result.stderr
        assert "hint:" in result.stderr
    # A backup file given by path (not from the destination) is checked the same way.
    result = _branes("db", "verify", str(settings.backup_dir / backup.key), env=env)
    assert result.returncode == 2 and "internal error" not in result.stderr
    assert model_names(live) == ["before"]
    live.dispose()


def test_cli_verify_reports_an_intact_backup(settings: Settings, live: Database) -> None:
    backup = create_backup(db=live, settings=settings)
    env = {"EAA_WORKSPACE": str(settings.workspace), "EAA_BACKUP_DIR": str(settings.backup_dir)}
    result = _branes("db", "verify", env=env)
    assert result.returncode == 0, result.stderr
    assert f"backup {backup.key} is intact" in result.stdout
    assert f"revision {backup.manifest.schema_revision}" in result.stdout
    live.dispose()
