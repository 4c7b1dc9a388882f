"""PostgreSQL backups on a real server: pg_dump → zstd → directory, verified, restored in one
transaction with a rollback copy; damaged dumps and busy databases are refused before anything
is touched. Skipped when Debian's postgresql package is absent (see postgres.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli_runner import Run  # tests/ is on sys.path (rootdir conftest)
from embodied_ai_architect.errors import StoreError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.backup import (
    BackupInvalidError,
    DatabaseInUseError,
    create_backup,
    restore_backup,
    verify_backup,
)
from embodied_ai_architect.store.backup.manifest import MANIFEST_SUFFIX
from embodied_ai_architect.store.backup.postgres import live_state
from s3_server import TEST_CREDENTIALS, create_bucket, moto_server

from .postgres import PostgresCluster
from .test_backup_integrity import (
    add_model,
    empty,
    flip_a_byte,
    model_names,
    rewrite_manifest,
    truncate_to_1000,
)


@pytest.fixture
def settings(isolated_workspace: Path, cluster: PostgresCluster) -> Settings:
    return Settings(
        workspace=isolated_workspace,
        database_url=cluster.new_database(),
        backup_dir=isolated_workspace.parent / "bk",
    )


@pytest.fixture
def live(settings: Settings) -> Iterator[Database]:
    db = Database.from_settings(settings)
    db.upgrade()
    add_model(db, "before")
    yield db
    db.dispose()


def _rewrite_dump(path: Path, edit: Callable[[str], str]) -> None:
    """Decompress, edit and recompress a dump, with a manifest that matches the new bytes:
    the checksums pass, so only the content checks can catch it (an attacker's best case)."""
    import zstandard

    raw = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 26)
    sql = edit(raw.decode())
    raw = sql.encode()
    packed = zstandard.ZstdCompressor().compress(raw)
    path.write_bytes(packed)
    rewrite_manifest(
        path,
        sha256=hashlib.sha256(packed).hexdigest(),
        size_bytes=len(packed),
        database_sha256=hashlib.sha256(raw).hexdigest(),
        database_bytes=len(raw),
    )


def dump_cut_before_its_end(path: Path) -> None:
    _rewrite_dump(path, lambda sql: sql[: sql.index("COPY public.models")])


def unknown_revision(path: Path) -> None:
    manifest = json.loads(path.with_name(path.name + MANIFEST_SUFFIX).read_text())
    revision = manifest["schema_revision"]
    _rewrite_dump(path, lambda sql: sql.replace(f"\n{revision}\n", "\nffffffffffff\n"))
    rewrite_manifest(path, schema_revision="ffffffffffff")


def foreign_dump(path: Path) -> None:
    _rewrite_dump(
        path,
        lambda sql: sql.replace("COPY public.alembic_version", "COPY public.other_version"),
    )


def forged_row_counts(path: Path) -> None:
    manifest = json.loads(path.with_name(path.name + MANIFEST_SUFFIX).read_text())
    rewrite_manifest(path, row_counts={**manifest["row_counts"], "models": 99})


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated to 1000 bytes": (truncate_to_1000, "its manifest says"),
    "empty": (empty, "the file is empty"),
    "one byte flipped": (flip_a_byte, "checksum mismatch"),
    "dump cut before its end, forged manifest": (dump_cut_before_its_end, "incomplete"),
    "unknown revision, forged manifest": (unknown_revision, "does not know"),
    "no alembic_version, forged manifest": (foreign_dump, "not a branes database"),
    "row counts forged": (forged_row_counts, "row counts differ"),
}


def test_backup_verify_restore_round_trip_keeps_a_rollback_copy(
    settings: Settings, live: Database
) -> None:
    backup = create_backup(db=live, settings=settings)
    manifest = backup.manifest
    assert backup.key.endswith(".sql.zst") and manifest.source_kind == "postgresql"
    revision, counts = live_state(live)
    assert (manifest.schema_revision, manifest.row_counts) == (revision, counts)
    assert counts["models"] == 1 and counts["alembic_version"] == 1
    assert verify_backup(settings=settings, key=backup.key) == manifest

    add_model(live, "after")
    result = restore_backup(db=live, settings=settings, key=backup.key)
    assert model_names(live) == ["before"]
    assert live_state(live) == (revision, counts)
    assert result.rollback_copy is not None
    # The replaced database is a verified backup file of its own, restorable by path.
    rollback = verify_backup(settings=settings, key=result.rollback_copy)
    assert rollback.row_counts["models"] == 2
    add_model(live, "written after the restore")  # sequences came back too
    restore_backup(db=live, settings=settings, key=result.rollback_copy)
    assert model_names(live) == ["after", "before"]


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_dumps_are_refused_and_the_live_db_is_untouched(
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
    assert not (settings.workspace / "before-restore").exists()


def test_a_restore_that_fails_midway_changes_nothing(settings: Settings, live: Database) -> None:
    """A dump that passes every check but fails inside psql (after the schema was dropped and
    half the tables loaded) is rolled back as a whole: one transaction."""
    backup = create_backup(db=live, settings=settings)
    add_model(live, "after")
    assert settings.backup_dir is not None
    _rewrite_dump(
        settings.backup_dir / backup.key,
        lambda sql: sql.replace(
            "-- PostgreSQL database dump complete",
            "SELECT 1 / 0;\n\n-- PostgreSQL database dump complete",
        ),
    )
    verify_backup(settings=settings, key=backup.key)  # the content checks cannot see it
    with pytest.raises(StoreError, match=r"psql \(restore\) failed.*division by zero"):
        restore_backup(db=live, settings=settings, key=backup.key)
    assert model_names(live) == ["after", "before"]
    add_model(live, "still writable")


def test_restore_refuses_while_another_session_is_connected(
    settings: Settings, live: Database
) -> None:
    import psycopg

    backup = create_backup(db=live, settings=settings)
    add_model(live, "after")
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, application_name="branes serve"):
        with pytest.raises(DatabaseInUseError, match=r"1 other session.*branes serve"):
            restore_backup(db=live, settings=settings, key=backup.key)
        assert model_names(live) == ["after", "before"]
    live.dispose()
    restore_backup(db=live, settings=settings, key=backup.key)
    assert model_names(live) == ["before"]


def test_a_sqlite_backup_is_not_restored_into_postgres(
    settings: Settings, live: Database, isolated_workspace: Path
) -> None:
    sqlite_settings = settings.model_copy(update={"database_url": None})
    sqlite_db = Database.from_settings(sqlite_settings)
    sqlite_db.upgrade()
    sqlite_backup = create_backup(db=sqlite_db, settings=sqlite_settings)
    sqlite_db.dispose()
    assert sqlite_backup.key.endswith(".db.zst")
    with pytest.raises(BackupInvalidError, match="made from a sqlite database"):
        restore_backup(db=live, settings=settings, key=sqlite_backup.key)
    assert model_names(live) == ["before"]


def test_cli_backup_verify_restore_on_postgres(
    settings: Settings,
    live: Database,
    branes: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings.database_url is not None and settings.backup_dir is not None
    monkeypatch.setenv("EAA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("EAA_BACKUP_DIR", str(settings.backup_dir))
    made = branes("db", "backup")
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[1]
    assert key.endswith(".sql.zst")
    checked = branes("db", "verify", key)
    assert checked.returncode == 0 and "from postgresql" in checked.stdout
    add_model(live, "after")
    live.dispose()
    restored = branes("db", "restore", key, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "the previous database is kept as" in restored.stdout
    assert model_names(live) == ["before"]


def test_backup_to_s3_and_restore_from_it(
    settings: Settings, live: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same dump through an S3 bucket (moto_server): listed, verified, restored."""
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with moto_server(tmp_path / "moto.log") as endpoint:
        create_bucket(endpoint, "pg-backups")
        s3 = settings.model_copy(
            update={
                "backup_dir": None,
                "backup_s3_bucket": "pg-backups",
                "backup_s3_endpoint": endpoint,
            }
        )
        backup = create_backup(db=live, settings=s3)
        assert backup.key == "branes-backups/" + backup.manifest.key
        assert backup.key.endswith(".sql.zst") and backup.destination.startswith("s3://")
        assert verify_backup(settings=s3) == backup.manifest  # the newest, by listing
        add_model(live, "after")
        restore_backup(db=live, settings=s3, key=backup.key)
        assert model_names(live) == ["before"]
