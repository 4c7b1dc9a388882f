"""Shared fixtures: an isolated workspace per test, tiny models built in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own EAA workspace so nothing leaks between tests or into $HOME."""
    workspace = tmp_path / "workspace"
    monkeypatch.setenv("EAA_WORKSPACE", str(workspace))
    monkeypatch.delenv("EAA_DATABASE_URL", raising=False)
    monkeypatch.delenv("EAA_API_TOKEN", raising=False)
    return workspace


@pytest.fixture
def branes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``branes(*args) -> Run``: the real CLI entry point, in-process."""
    from cli_runner import runner

    return runner(capsys, monkeypatch)
