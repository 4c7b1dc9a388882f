"""Alembic environment: target metadata from store.models, URL from the caller or settings.

Programmatic callers (``store.migrate.upgrade``) pass an open connection in
``config.attributes["connection"]``; the ``alembic`` command line falls back to
``sqlalchemy.url`` and then to ``Settings().resolved_database_url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from embodied_ai_architect.store.db import make_engine
from embodied_ai_architect.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from embodied_ai_architect.settings import get_settings

    settings = get_settings()
    if settings.database_url is None:
        settings.ensure_workspace()
    return settings.resolved_database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
