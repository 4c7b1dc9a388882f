from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database

from .postgres import PostgresCluster, find_bin_dir


@pytest.fixture
def db(isolated_workspace: Path) -> Iterator[Database]:
    database = Database.from_settings(Settings(workspace=isolated_workspace))
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the session; skips where Debian's package is absent."""
    pytest.importorskip("psycopg")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("Debian's postgresql is not installed (apt-get install postgresql)")
    running = PostgresCluster(bin_dir).start()
    yield running
    running.stop()


@pytest.fixture
def pg_db(cluster: PostgresCluster) -> Iterator[Database]:
    """A fresh database on the cluster, migrated to head."""
    database = Database(cluster.new_database())
    database.upgrade()
    yield database
    database.dispose()
