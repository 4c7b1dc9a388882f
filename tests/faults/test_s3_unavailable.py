"""Fault injection: the S3 endpoint goes away between two backups (moto_server killed)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.backup import BackupDestinationError, create_backup


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_s3_unavailable_during_a_backup(
    isolated_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Fail fast instead of boto3's default retries against a dead endpoint.
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "moto.log").open("wb") as log:
        moto = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(300):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket="faults")
        settings = Settings(
            workspace=isolated_workspace, backup_s3_bucket="faults", backup_s3_endpoint=url
        )
        db = Database.from_settings(settings)
        db.upgrade()
        first = create_backup(db=db, settings=settings)
        assert first.manifest.row_counts
    finally:
        moto.kill()
        moto.wait(timeout=10)
    started = time.monotonic()
    with pytest.raises(BackupDestinationError) as info:
        create_backup(db=db, settings=settings)
    assert "s3://faults/" in info.value.message and "EAA_BACKUP_S3_ENDPOINT" in info.value.hint
    assert time.monotonic() - started < 60  # a clear error, not a hang
    # The database is untouched and still serves.
    with db.session() as session:
        from embodied_ai_architect.store.repo import models

        assert models.list_models(session)[1] == 0
    db.dispose()
