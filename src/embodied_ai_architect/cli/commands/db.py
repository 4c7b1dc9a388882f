"""`branes db upgrade | current | backup | backups | restore`."""

from __future__ import annotations

import typer

from embodied_ai_architect.cli.console import console


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Database migrations, backups and restores.", no_args_is_help=True)
    app.add_typer(group, name="db")

    def _db():  # type: ignore[no-untyped-def]
        from embodied_ai_architect.settings import get_settings
        from embodied_ai_architect.store import Database

        settings = get_settings()
        return settings, Database.from_settings(settings)

    @group.command("upgrade")
    def upgrade(revision: str = typer.Argument("head", help="Alembic revision.")) -> None:
        """Apply database migrations (the server also does this on start)."""
        from embodied_ai_architect.store.migrate import current_revision

        _, db = _db()
        db.upgrade(revision)
        console().print(f"database at revision {current_revision(db.engine)} ({db.url})")

    @group.command("current")
    def current() -> None:
        """Show the database's migration revision."""
        from embodied_ai_architect.store.migrate import current_revision

        _, db = _db()
        console().print(current_revision(db.engine) or "empty (run `branes db upgrade`)")

    @group.command("backup")
    def backup() -> None:
        """Snapshot, compress and ship the database (EAA_BACKUP_S3_BUCKET or EAA_BACKUP_DIR)."""
        from embodied_ai_architect.store.backup import create_backup

        settings, db = _db()
        result = create_backup(db=db, settings=settings)
        console().print(
            f"backup {result.key} → {result.destination}: {result.size_bytes} bytes "
            f"(database {result.database_bytes} bytes), sha256 {result.sha256}"
        )

    @group.command("backups")
    def backups() -> None:
        """List available backups, oldest first."""
        from embodied_ai_architect.store.backup import list_backups

        settings, _ = _db()
        for key in list_backups(settings=settings):
            console().print(key)

    @group.command("restore")
    def restore(
        key: str | None = typer.Argument(None, help="Backup key (default: the newest)."),
        yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    ) -> None:
        """Replace the database with a backup. Stop the server first."""
        from embodied_ai_architect.store.backup import restore_backup

        settings, db = _db()
        if not yes:
            typer.confirm(f"replace {db.url} with backup {key or '(newest)'}?", abort=True)
        restored = restore_backup(db=db, settings=settings, key=key)
        console().print(f"restored {restored} into {db.url}")
