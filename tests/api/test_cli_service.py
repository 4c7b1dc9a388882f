"""`branes serve / db / jobs` as a user runs them (subprocesses, real workspace database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BRANES = str(Path(sys.executable).parent / "branes")


def run(*args: str, workspace: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "EAA_WORKSPACE": str(workspace), **env}
    return subprocess.run(
        [BRANES, *args], env=environment, capture_output=True, text=True, timeout=120
    )


def test_serve_refuses_public_interface_without_token(tmp_path: Path) -> None:
    result = run("serve", "--host", "0.0.0.0", "--port", "1", workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert "without an API token" in result.stderr and "EAA_API_TOKEN" in result.stderr


def test_db_upgrade_and_jobs_commands(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    upgraded = run("db", "upgrade", workspace=workspace)
    assert upgraded.returncode == 0, upgraded.stderr
    from alembic.script import ScriptDirectory

    from embodied_ai_architect.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"revision {head}" in upgraded.stdout and (workspace / "branes.db").is_file()

    from embodied_ai_architect.schemas.jobs import JobKind
    from embodied_ai_architect.settings import Settings
    from embodied_ai_architect.store import Database
    from embodied_ai_architect.store.repo import jobs

    db = Database.from_settings(Settings(workspace=workspace))
    with db.session() as session:
        job_id = jobs.create_job(session, kind=JobKind.ANALYZE, request={"example": "cnn"}).id
    db.dispose()

    listed = run("jobs", "list", "--json", workspace=workspace)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [job_id]
    cancelled = run("jobs", "cancel", job_id, workspace=workspace)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    again = run("jobs", "cancel", job_id, workspace=workspace)
    assert again.returncode == 2 and "already finished" in again.stderr
