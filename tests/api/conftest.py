from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .live import LiveServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server shared by the API tests (starting one takes ~2 s)."""
    root = tmp_path_factory.mktemp("api")
    live = LiveServer(
        root / "workspace", workers=2, env={"EAA_BACKUP_DIR": str(root / "backups")}
    ).start()
    yield live
    live.stop()


@pytest.fixture
def fresh_workspace(tmp_path: Path) -> Path:
    return tmp_path / "server-workspace"
