"""Run Alembic migrations programmatically (used by `branes db upgrade` and the server start)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, inspect

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Alembic's command API swaps module-level proxies (alembic.context, alembic.op) in and out, so
# two threads of one process upgrading at once break each other (KeyError: 'config'): a run
# started by the LLM tools upgrades while get_run does. The lock guards Alembic's global state.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation treats '%' specially (URL-encoded passwords).
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, *, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config()
    with _ALEMBIC_LOCK, engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
