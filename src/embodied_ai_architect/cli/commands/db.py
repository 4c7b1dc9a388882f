"""`branes db upgrade | current | backup | backups | verify | restore`."""

from __future__ import annotations

import typer

from embodied_ai_architect.cli.console import console


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Database migrations, backups and restores.", no_args_is_help=True)
    app.add_typer(group, name="db")

    def _settings():  # type: ignore[no-untyped-def]
        from embodied_ai_architect.settings import get_settings

        return get_settings()

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

    @group.command("verify")
    def verify(
        key: str | None = typer.Argument(
            None, help="Backup key, or the path of a .db.zst file (default: the newest)."
        ),
    ) -> None:
        """Run every restore check on a backup (checksums, integrity, revision, row counts).

        Exits 2 with the reason when the backup is corrupt, partial, empty or foreign.
        """
        from embodied_ai_architect.store.backup import verify_backup

        settings = _settings()
        manifest = verify_backup(settings=settings, key=key)
        rows = sum(manifest.row_counts.values())
        console().print(
            f"backup {manifest.key} is intact: revision {manifest.schema_revision}, "
            f"{len(manifest.row_counts)} tables, {rows} rows, made "
            f"{manifest.created_at:%Y-%m-%d %H:%M:%S} UTC from {manifest.source_kind}"
        )

    @group.command("restore")
    def restore(
        key: str | None = typer.Argument(
            None, help="Backup key, or the path of a .db.zst file (default: the newest)."
        ),
        yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    ) -> None:
        """Replace the database with a verified backup (refused while `branes serve` runs).

        The backup is checked completely before the database is touched; the previous database
        is kept as <db>.before-restore-<timestamp>.
        """
        from embodied_ai_architect.store.backup import restore_backup

        settings, db = _db()
        if not yes:
            typer.confirm(f"replace {db.url} with backup {key or '(newest)'}?", abort=True)
        result = restore_backup(db=db, settings=settings, key=key)
        rows = sum(result.manifest.row_counts.values())
        console().print(
            f"restored {result.key} into {result.database} (revision "
            f"{result.manifest.schema_revision}, {rows} rows)"
        )
        if result.rollback_copy:
            console().print(f"the previous database is kept as {result.rollback_copy}")
