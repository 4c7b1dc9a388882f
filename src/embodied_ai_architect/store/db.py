"""Engine and sessions: SQLite (WAL, foreign keys on) by default, PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from embodied_ai_architect.errors import StoreError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.utils.deps import require_package

SQLITE_POOL_SIZE = 40


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker's events are written; busy_timeout makes concurrent
    # writers (server + CLI) wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL + foreign keys on every connection."""
    if url.startswith("sqlite"):
        # One pooled connection per request thread (Starlette's threadpool: 40): with fewer,
        # busy moments open and close overflow connections, each paying the PRAGMAs below.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=8,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(postgres_driver_url(url), pool_pre_ping=True)


def postgres_driver_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) URLs use psycopg 3, the ``postgres`` extra.

    SQLAlchemy's default PostgreSQL driver is psycopg2, which this project does not install.
    """
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        return url
    require_package("psycopg", extra="postgres", purpose="PostgreSQL databases")
    return f"postgresql+psycopg{sep}{rest}"


class Database:
    """An engine plus its session factory. Create one per process (app factory, worker, CLI)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        if settings.database_url is None:
            settings.ensure_workspace()
        return cls(settings.resolved_database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error.

        SQLAlchemy errors are translated to StoreError here, the one boundary for them.
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(
                f"database operation failed: {type(exc).__name__}: {exc.args[0] if exc.args else exc}",
                hint="check the database URL and that `branes db upgrade` has been run",
            ) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision`` (idempotent)."""
        from embodied_ai_architect.store.migrate import upgrade

        upgrade(self.engine, revision=revision)

    def dispose(self) -> None:
        self.engine.dispose()


class DatabaseLock:
    """An advisory lock file next to a SQLite database (``<db>.lock``, flock).

    ``branes serve`` holds it *shared* for its whole life; a restore takes it *exclusive*
    without waiting, so it refuses while any server runs and a server refuses to start during
    a restore. The kernel drops a flock when its process dies (even by SIGKILL), so a crashed
    server never leaves a stale lock behind.
    """

    def __init__(self, database_path: Path):
        self.path = Path(database_path).with_name(Path(database_path).name + ".lock")
        self._handle: IO[str] | None = None

    def acquire(self, *, exclusive: bool, purpose: str) -> DatabaseLock:
        from embodied_ai_architect.store.backup.errors import DatabaseInUseError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DatabaseInUseError(
                f"cannot {purpose}: the database {self.path.with_suffix('')} is in use by {holder}",
                hint="stop `branes serve` (and any restore in progress) first, then retry",
            ) from None
        if exclusive or not handle.read().strip():
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} ({purpose})\n")
            handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> DatabaseLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
