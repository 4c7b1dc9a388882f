"""Fault injection on storage: a full disk while writing artifacts and backups, a database
held locked by another connection, and the clock jumping backwards between backups.

The full disk is simulated with RLIMIT_FSIZE in a child process (writes past the limit fail
with EFBIG, as they would with ENOSPC): real files, real errors, no mocks.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.backup import (
    DatabaseInUseError,
    create_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from embodied_ai_architect.store.repo import models


def _run_with_file_size_limit(code: str, limit_bytes: int) -> dict[str, object]:
    """Run ``code`` in a child whose files cannot grow past ``limit_bytes``; it prints JSON."""
    prelude = textwrap.dedent(
        f"""
        import json, resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_disk_full_during_an_artifact_write_leaves_nothing_behind(tmp_path: Path) -> None:
    outcome = _run_with_file_size_limit(
        f"""
        from pathlib import Path
        from embodied_ai_architect.store.artifacts import ArtifactStore
        store = ArtifactStore(Path({str(tmp_path)!r}))
        small = store.put_bytes(b"x" * 1000, scope="uploads", suffix=".bin")
        try:
            store.put_chunks([b"y" * 65536] * 64, scope="uploads", suffix=".bin")
            error = None
        except OSError as exc:
            error = exc.errno
        print(json.dumps({{"small": small.path, "errno": error}}))
        """,
        limit_bytes=1024 * 1024,
    )
    import errno

    assert outcome["errno"] == errno.EFBIG
    files = sorted(p.name for p in (tmp_path / "runs" / "uploads").iterdir())
    assert files == [Path(str(outcome["small"])).name]  # no temp file, no partial artifact


def test_disk_full_during_a_backup_leaves_no_partial_backup(
    isolated_workspace: Path, tmp_path: Path
) -> None:
    settings = Settings(workspace=isolated_workspace, backup_dir=tmp_path / "backups")
    db = Database.from_settings(settings)
    db.upgrade()
    with db.session() as session:
        models.create_model(
            session, name="kept", format="onnx", sha256="0" * 64, size_bytes=1, path="p"
        )
    good = create_backup(db=db, settings=settings)
    # Make the next snapshot large enough to hit the limit when written.
    with db.session() as session:
        for i in range(2000):
            models.create_model(
                session,
                name=f"m{i}" + "x" * 200,
                format="onnx",
                sha256="0" * 64,
                size_bytes=1,
                path="p",
            )
    db.dispose()
    outcome = _run_with_file_size_limit(
        f"""
        from pathlib import Path
        from embodied_ai_architect.settings import Settings
        from embodied_ai_architect.store import Database
        from embodied_ai_architect.store.backup import create_backup
        from embodied_ai_architect.errors import EAAError
        settings = Settings(workspace=Path({str(isolated_workspace)!r}),
                            backup_dir=Path({str(tmp_path / "backups")!r}), backup_zstd_level=1)
        try:
            create_backup(db=Database.from_settings(settings), settings=settings)
            print(json.dumps({{"code": None}}))
        except (EAAError, OSError) as exc:
            print(json.dumps({{"code": getattr(exc, "code", "oserror"), "message": str(exc)}}))
        """,
        limit_bytes=64 * 1024,
    )
    assert outcome["code"] in ("backup_destination", "backup_failed"), outcome
    assert "disk" in str(outcome["message"]) or "File too large" in str(outcome["message"])
    leftovers = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert leftovers == [good.key, good.key + ".manifest.json"]  # nothing partial
    assert verify_backup(settings=settings).key == good.key  # the good one is intact


def test_a_database_locked_for_a_while_delays_but_does_not_fail(isolated_workspace: Path) -> None:
    """Another connection holds the write lock for 1.5 s: writers wait (busy_timeout), a
    backup reads through it (WAL), and a restore refuses instead of swapping under it."""
    settings = Settings(workspace=isolated_workspace, backup_dir=isolated_workspace / "bk")
    db = Database.from_settings(settings)
    db.upgrade()
    backup = create_backup(db=db, settings=settings)
    holder = sqlite3.connect(isolated_workspace / "branes.db", check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO alembic_version SELECT 'x' WHERE 0")  # take the write lock
    release = threading.Timer(1.5, holder.commit)
    release.start()
    start = time.monotonic()
    with db.session() as session:
        models.create_model(
            session, name="waited", format="onnx", sha256="0" * 64, size_bytes=1, path="p"
        )
    assert time.monotonic() - start >= 1.0  # it waited for the lock instead of failing
    release.join()
    assert create_backup(db=db, settings=settings).manifest.row_counts["models"] == 1

    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO alembic_version SELECT 'x' WHERE 0")
    try:
        with pytest.raises(DatabaseInUseError, match="another connection"):
            restore_backup(db=db, settings=settings, key=backup.key)
    finally:
        holder.rollback()
        holder.close()
    with db.session() as session:
        assert [r.name for r in models.list_models(session)[0]] == ["waited"]  # untouched
    db.dispose()


def test_backups_stay_ordered_when_the_clock_jumps_back(isolated_workspace: Path) -> None:
    settings = Settings(
        workspace=isolated_workspace, backup_dir=isolated_workspace / "bk", backup_retention=2
    )
    db = Database.from_settings(settings)
    db.upgrade()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    clocks = [now, now - timedelta(days=1), now - timedelta(days=400)]  # NTP step backwards
    made = []
    for index, moment in enumerate(clocks):
        with db.session() as session:
            models.create_model(
                session, name=f"m{index}", format="onnx", sha256="0" * 64, size_bytes=1, path="p"
            )
        made.append(create_backup(db=db, settings=settings, clock=lambda m=moment: m))
    keys = [result.key for result in made]
    assert keys == sorted(keys) and len(set(keys)) == 3  # strictly increasing regardless
    assert list_backups(settings=settings) == keys[1:]  # retention pruned the oldest made
    assert made[2].pruned == [keys[0]]
    restored = restore_backup(db=db, settings=settings)  # "newest" is the last one made
    assert restored.key == keys[2] and restored.manifest.row_counts["models"] == 3
    db.dispose()
