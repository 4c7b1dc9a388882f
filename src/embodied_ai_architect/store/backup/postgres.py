"""PostgreSQL backups: ``pg_dump`` (plain SQL, one consistent snapshot) and an atomic restore.

A dump is checked without any server: it must open with pg_dump's header and end with its
"dump complete" footer (a truncated dump has none), its ``alembic_version`` must name a
revision this branes knows, and the rows of every table are counted from its ``COPY`` blocks
(one line per row in COPY's text format). Those counts go in the manifest, so they describe
exactly the snapshot pg_dump took, even while the server writes.

A restore replaces the whole ``public`` schema in *one transaction*
(``psql --single-transaction``, ``ON_ERROR_STOP``): either the backup is fully in place or
the database is as it was. Before that it refuses while any other session is connected, and
keeps the current database as a verified backup file (the rollback copy).

Connection details go to the client tools through ``PG*`` environment variables, so the
password never appears on a command line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import text

from embodied_ai_architect.errors import DependencyError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store.backup.errors import (
    BackupInvalidError,
    BackupWriteError,
    DatabaseInUseError,
)
from embodied_ai_architect.store.db import Database

_HEADER = b"-- PostgreSQL database dump"
_FOOTER = b"-- PostgreSQL database dump complete"
_COPY = re.compile(rb"^COPY ([^ ]+) (?:\(.*\) )?FROM stdin;$")
_END_OF_COPY = b"\\."
# Current pg_dump releases (17.6, 16.10, 15.14, ...) wrap the dump in \restrict ... \unrestrict.
_RESTRICT = (b"\\restrict ", b"\\unrestrict ")
_TOOL_TIMEOUT_S = 3600


def find_tool(name: str, settings: Settings) -> Path:
    """``pg_dump`` / ``psql``: from EAA_PG_BIN_DIR, else the newest Debian PostgreSQL, else PATH.

    The newest version is preferred because pg_dump refuses servers newer than itself.
    """
    candidates: list[Path] = []
    if settings.pg_bin_dir is not None:
        candidates.append(settings.pg_bin_dir / name)
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise DependencyError(
        f"{name} is required for PostgreSQL backups and restores but was not found",
        hint="install the PostgreSQL client tools (apt-get install postgresql-client, the same "
        "major version as the server or newer) or set EAA_PG_BIN_DIR",
        details={"tool": name},
    )


def client_env(db: Database) -> dict[str, str]:
    """libpq environment for the database's URL (host, port, user, password, database)."""
    url = db.engine.url
    env = dict(os.environ)
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for name, value in values.items():
        if value:
            env[name] = str(value)
        else:
            env.pop(name, None)
    passed_on = {
        "sslmode": "PGSSLMODE",
        "sslrootcert": "PGSSLROOTCERT",
        "sslcert": "PGSSLCERT",
        "sslkey": "PGSSLKEY",
        "connect_timeout": "PGCONNECT_TIMEOUT",
    }
    for key, option in url.query.items():  # e.g. ?sslmode=require
        if key in passed_on:
            env[passed_on[key]] = option if isinstance(option, str) else option[0]
    return env


def _run_client(db: Database, tool: Path, *args: str, what: str) -> None:
    """Run a PostgreSQL client tool against ``db`` (credentials from its URL, never argv)."""
    try:
        result = subprocess.run(
            [str(tool), *args],
            env=client_env(db),
            capture_output=True,
            text=True,
            timeout=_TOOL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise BackupWriteError(
            f"{what} did not finish within {_TOOL_TIMEOUT_S} s", hint="check the database server"
        ) from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupWriteError(
            f"{what} failed (exit {result.returncode}): {' | '.join(detail[-3:])[:600]}",
            hint="check that the database is reachable with the URL's credentials, that the "
            "client tools are at least the server's major version (EAA_PG_BIN_DIR), and that "
            "the temp directory has space",
        )


def dump(db: Database, target: Path, *, settings: Settings) -> None:
    """``pg_dump`` the database to a plain SQL file (one consistent snapshot, safe mid-write)."""
    pg_dump = find_tool("pg_dump", settings)
    options = ("--format=plain", "--no-owner", "--no-privileges")
    _run_client(db, pg_dump, *options, f"--file={target}", what="pg_dump")


def _table_name(qualified: bytes) -> str:
    return qualified.decode().rsplit(".", 1)[-1].strip('"')


def inspect_dump(path: Path, *, key: str) -> tuple[str, dict[str, int]]:
    """(Alembic revision, rows per table) of a plain pg_dump file.

    Raises BackupInvalidError for anything that is not a complete dump of a branes database.
    """
    counts: dict[str, int] = {}
    revisions: list[str] = []
    table: str | None = None
    last = b""
    with path.open("rb") as handle:
        # pg_dump opens with "--", "-- PostgreSQL database dump", "--".
        if not any(handle.readline().startswith(_HEADER) for _ in range(3)):
            raise BackupInvalidError(
                f"backup {key} does not hold a PostgreSQL dump",
                hint="the backup is damaged or not a branes backup; restore another one",
            )
        for raw in handle:
            line = raw.rstrip(b"\n")
            if table is not None:
                if line == _END_OF_COPY:
                    table = None
                    continue
                counts[table] += 1
                if table == "alembic_version":
                    revisions.append(line.decode(errors="replace"))
                continue
            match = _COPY.match(line)
            if match:
                table = _table_name(match.group(1))
                counts[table] = 0
            elif line.strip() not in (b"", b"--") and not line.startswith(_RESTRICT):
                last = line
    if table is not None or not last.startswith(_FOOTER):
        raise BackupInvalidError(
            f"backup {key} is an incomplete PostgreSQL dump (no end-of-dump marker)",
            hint="the backup is truncated or damaged; restore another one",
        )
    if "alembic_version" not in counts:
        raise BackupInvalidError(
            f"backup {key} is not a branes database (no schema revision; tables: "
            f"{', '.join(sorted(counts)[:8]) or 'none'})",
            hint="restore a backup written by `branes db backup` or POST /api/v1/admin/backup",
        )
    if len(revisions) != 1:
        raise BackupInvalidError(
            f"backup {key} has {len(revisions)} schema revisions, expected one",
            hint="restore a backup written by branes",
        )
    from embodied_ai_architect.store.backup.manifest import check_known_revision

    check_known_revision(revisions[0], key=key)
    return revisions[0], dict(sorted(counts.items()))


def live_state(db: Database) -> tuple[str | None, dict[str, int]]:
    """(Alembic revision, rows per table) of the live database's public schema."""
    with db.engine.connect() as connection:
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).scalars()
        counts = {
            name: int(
                connection.execute(text(f'SELECT count(*) FROM public."{name}"')).scalar_one()
            )
            for name in list(tables)
        }
        revision = (
            connection.execute(text("SELECT version_num FROM public.alembic_version")).scalar()
            if "alembic_version" in counts
            else None
        )
    return revision, counts


def refuse_if_in_use(db: Database) -> None:
    """DatabaseInUseError while any other session (a server, a worker, a CLI) is connected."""
    db.dispose()  # our own pooled connections are not "other sessions"
    with db.engine.connect() as connection:
        others = connection.execute(
            text(
                "SELECT count(*), string_agg(DISTINCT coalesce(nullif(application_name, ''), "
                "client_addr::text, 'local'), ', ') FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).one()
    db.dispose()
    if others[0]:
        raise DatabaseInUseError(
            f"cannot restore the database: {others[0]} other session(s) are connected "
            f"({others[1]})",
            hint="stop every branes process using this database (server, workers, CLI), then retry",
        )


def restore(db: Database, dump_file: Path, *, settings: Settings) -> None:
    """Replace the public schema with ``dump_file`` in one transaction (all or nothing)."""
    psql = find_tool("psql", settings)
    script = dump_file.with_name("restore.sql")
    script.write_text(
        "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
        f"\\i '{_psql_quoted(dump_file)}'\n"
    )
    db.dispose()
    # One transaction that stops at the first error: a failed restore changes nothing.
    options = ("--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1")
    _run_client(db, psql, *options, f"--file={script}", what="psql (restore)")


def _psql_quoted(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace("'", "\\'")
