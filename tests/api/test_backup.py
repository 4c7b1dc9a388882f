"""Backups: online snapshot + zstd to a real local S3 (moto_server) and to a directory;
restore round-trips."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.backup import create_backup, list_backups, restore_backup
from embodied_ai_architect.store.repo import models

from .live import LiveServer, free_port, tiny_onnx_bytes, upload

BUCKET = "eaa-backups"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_settings(
    s3_endpoint: str, isolated_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    return Settings(
        workspace=isolated_workspace,
        backup_s3_bucket=BUCKET,
        backup_s3_endpoint=s3_endpoint,
        backup_retention=2,
        backup_s3_prefix=f"{isolated_workspace.parent.name}/",
    )


def _add_model(db: Database, name: str) -> None:
    with db.session() as session:
        models.create_model(
            session, name=name, format="onnx", sha256="0" * 64, size_bytes=1, path="p"
        )


def _names(db: Database) -> list[str]:
    with db.session() as session:
        return sorted(r.name for r in models.list_models(session)[0])


def test_s3_backup_prune_and_restore_round_trip(s3_settings: Settings) -> None:
    import boto3

    db = Database.from_settings(s3_settings)
    db.upgrade()
    _add_model(db, "before")
    results = []
    for _ in range(3):
        results.append(create_backup(db=db, settings=s3_settings))
    first, _, last = results
    assert last.destination == f"s3://{BUCKET}/{s3_settings.backup_s3_prefix}"
    assert results[0].pruned == [] and results[1].pruned == []
    assert last.pruned == [first.key]  # retention 2: the third backup prunes the first
    assert results[2].key > results[1].key > first.key
    assert list_backups(settings=s3_settings) == [results[1].key, last.key]
    client = boto3.client("s3", endpoint_url=s3_settings.backup_s3_endpoint)
    body = client.get_object(Bucket=BUCKET, Key=last.key)["Body"].read()
    assert len(body) == last.size_bytes and hashlib.sha256(body).hexdigest() == last.sha256
    assert last.size_bytes < last.database_bytes / 5  # zstd at a high level on a sparse DB

    _add_model(db, "after the backup")
    assert _names(db) == ["after the backup", "before"]
    restored = restore_backup(db=db, settings=s3_settings)
    assert restored.key == last.key and restored.manifest == last.manifest
    assert _names(db) == ["before"]
    db.dispose()


S3_DAMAGE = {
    "truncated to 1000 bytes": (lambda body: body[:1000], "its manifest says"),
    "last byte removed": (lambda body: body[:-1], "its manifest says"),
    "empty": (lambda body: b"", "the file is empty"),
    "garbage, stale sha256 metadata": (lambda body: b"garbage", "its manifest says"),
    "foreign schema": (
        lambda body: _foreign_sqlite_zst(),
        "its manifest says",
    ),
    "random bytes": (lambda body: os.urandom(4096), "its manifest says"),
}


def _foreign_sqlite_zst() -> bytes:
    import sqlite3
    import tempfile

    import zstandard

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "foreign.db"
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.commit()
        connection.close()
        return zstandard.ZstdCompressor().compress(path.read_bytes())


@pytest.mark.parametrize("kind", list(S3_DAMAGE))
def test_restore_refuses_a_damaged_s3_backup(kind: str, s3_settings: Settings) -> None:
    import boto3

    from embodied_ai_architect.store.backup import BackupInvalidError, verify_backup

    damage, reason = S3_DAMAGE[kind]
    db = Database.from_settings(s3_settings)
    db.upgrade()
    _add_model(db, "before")
    result = create_backup(db=db, settings=s3_settings)
    _add_model(db, "after")
    client = boto3.client("s3", endpoint_url=s3_settings.backup_s3_endpoint)
    body = client.get_object(Bucket=BUCKET, Key=result.key)["Body"].read()
    client.put_object(
        Bucket=BUCKET, Key=result.key, Body=damage(body), Metadata={"sha256": result.sha256}
    )
    with pytest.raises(BackupInvalidError, match=reason):
        verify_backup(settings=s3_settings, key=result.key)
    with pytest.raises(BackupInvalidError, match=reason):
        restore_backup(db=db, settings=s3_settings, key=result.key)
    assert _names(db) == ["after", "before"]
    db.dispose()


def test_s3_backup_without_manifest_is_refused(s3_settings: Settings) -> None:
    import boto3

    from embodied_ai_architect.store.backup import BackupInvalidError

    db = Database.from_settings(s3_settings)
    db.upgrade()
    result = create_backup(db=db, settings=s3_settings)
    client = boto3.client("s3", endpoint_url=s3_settings.backup_s3_endpoint)
    client.delete_object(Bucket=BUCKET, Key=result.key + ".manifest.json")
    with pytest.raises(BackupInvalidError, match="has no manifest"):
        restore_backup(db=db, settings=s3_settings, key=result.key)
    db.dispose()


def test_missing_bucket_and_dead_endpoint_name_the_reason(s3_settings: Settings) -> None:
    from embodied_ai_architect.store.backup import BackupDestinationError

    db = Database.from_settings(s3_settings)
    db.upgrade()
    missing = s3_settings.model_copy(update={"backup_s3_bucket": "no-such-bucket-eaa"})
    with pytest.raises(BackupDestinationError, match="NoSuchBucket"):
        create_backup(db=db, settings=missing)
    dead = s3_settings.model_copy(update={"backup_s3_endpoint": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(BackupDestinationError, match="s3://") as info:
        create_backup(db=db, settings=dead)
    assert "EAA_BACKUP_S3_ENDPOINT" in info.value.hint
    db.dispose()


def test_backup_endpoint_and_cli_restore(server: LiveServer, tmp_path: Path) -> None:
    import zstandard

    with server.client() as client:
        upload(client, tiny_onnx_bytes(seed=21), name="kept.onnx")
        response = client.post("/api/v1/admin/backup")
        assert response.status_code == 201, response.text
        backup = response.json()
        with server.client(auth=False) as anonymous:
            assert anonymous.post("/api/v1/admin/backup").status_code == 401
    backup_dir = Path(server.extra_env["EAA_BACKUP_DIR"])
    data = (backup_dir / backup["key"]).read_bytes()
    assert (
        hashlib.sha256(data).hexdigest() == backup["sha256"] and len(data) == backup["size_bytes"]
    )
    snapshot = tmp_path / "snapshot.db"
    snapshot.write_bytes(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30))
    import sqlite3

    connection = sqlite3.connect(snapshot)
    names = [r[0] for r in connection.execute("SELECT name FROM models")]
    connection.close()
    assert "kept.onnx" in names

    # While the server holds its database, `branes db restore` refuses (exit 2), untouched.
    branes = str(Path(sys.executable).parent / "branes")
    busy = subprocess.run(
        [branes, "db", "restore", backup["key"], "--yes"],
        env={
            "EAA_WORKSPACE": str(server.workspace),
            "EAA_BACKUP_DIR": str(backup_dir),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert busy.returncode == 2 and "in use by pid" in busy.stderr, busy.stderr
    assert not list(server.workspace.glob("branes.db.before-restore-*"))

    # `branes db restore` into a fresh workspace rebuilds the same database.
    target = tmp_path / "restored-workspace"
    env = {"EAA_WORKSPACE": str(target), "EAA_BACKUP_DIR": str(backup_dir), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [branes, "db", "restore", backup["key"], "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    connection = sqlite3.connect(target / "branes.db")
    assert "kept.onnx" in [r[0] for r in connection.execute("SELECT name FROM models")]
    connection.close()


def test_backup_endpoint_names_a_missing_bucket(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """502 with the S3 reason, not 500 "the database could not complete the request"."""
    env = {
        "EAA_BACKUP_S3_BUCKET": "no-such-bucket-eaa",
        "EAA_BACKUP_S3_ENDPOINT": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    live = LiveServer(tmp_path / "ws", workers=1, env=env).start()
    try:
        with live.client() as client:
            response = client.post("/api/v1/admin/backup")
        assert response.status_code == 502, response.text
        body = response.json()
        assert body["code"] == "backup_destination" and "NoSuchBucket" in body["message"]
        assert "s3://no-such-bucket-eaa/" in body["message"] and body["hint"]
    finally:
        live.stop()
