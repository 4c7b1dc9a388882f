from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database


@pytest.fixture
def db(isolated_workspace: Path) -> Iterator[Database]:
    database = Database.from_settings(Settings(workspace=isolated_workspace))
    database.upgrade()
    yield database
    database.dispose()
