"""`branes jobs list | show | events | cancel`: the job history in the workspace database."""

from __future__ import annotations

import typer
from rich.markup import escape

from embodied_ai_architect.cli.console import console


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Inspect and cancel service jobs.", no_args_is_help=True)
    app.add_typer(group, name="jobs")

    def _db():  # type: ignore[no-untyped-def]
        from embodied_ai_architect.settings import get_settings
        from embodied_ai_architect.store import Database

        db = Database.from_settings(get_settings())
        db.upgrade()
        return db

    @group.command("list")
    def list_jobs(
        status: str | None = typer.Option(None, help="queued, running, succeeded, failed, ..."),
        kind: str | None = typer.Option(None, help="analyze, optimize or deploy."),
        limit: int = typer.Option(20, min=1, max=1000),
        as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    ) -> None:
        """List jobs, newest first."""
        from rich.table import Table

        from embodied_ai_architect.errors import InputError
        from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
        from embodied_ai_architect.store.repo import jobs

        try:
            status_value = JobStatus(status) if status else None
            kind_value = JobKind(kind) if kind else None
        except ValueError as exc:
            raise InputError(str(exc), hint="see `branes jobs list --help`") from exc
        with _db().session() as session:
            rows, count = jobs.list_jobs(session, status=status_value, kind=kind_value, limit=limit)
            if as_json:
                import json

                for r in rows:
                    typer.echo(
                        json.dumps(
                            {
                                "id": r.id,
                                "kind": r.kind.value,
                                "status": r.status.value,
                                "progress": r.progress,
                                "created_at": r.created_at.isoformat(),
                            }
                        )
                    )
                return
            table = Table(title=f"jobs ({len(rows)} of {count})")
            for column in ("id", "kind", "status", "progress", "stage", "created"):
                table.add_column(column)
            for r in rows:
                table.add_row(
                    r.id,
                    r.kind.value,
                    r.status.value,
                    f"{r.progress:.0f}%",
                    r.stage or "",
                    r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                )
        console().print(table)

    @group.command("show")
    def show(job_id: str) -> None:
        """Show one job with its error or result summary."""
        from embodied_ai_architect.store.repo import jobs

        with _db().session() as session:
            r = jobs.get_job(session, job_id=job_id)
            console().print(
                f"[bold]{r.id}[/bold] {r.kind.value} {r.status.value} {r.progress:.0f}%"
            )
            if r.error:
                console().print(
                    f"[red]{r.error.get('code')}[/red]: {escape(str(r.error.get('message')))}"
                )
                if r.error.get("hint"):
                    console().print(f"[yellow]hint:[/yellow] {escape(str(r.error['hint']))}")

    @group.command("events")
    def show_events(job_id: str) -> None:
        """Print a job's events as JSON lines, in order."""
        from embodied_ai_architect.store.repo import events

        with _db().session() as session:
            for row in events.list_events(session, job_id=job_id):
                event = events.to_progress_event(row)
                typer.echo(f'{{"seq": {row.seq}, "event": {event.model_dump_json()}}}')

    @group.command("cancel")
    def cancel(job_id: str) -> None:
        """Cancel a queued or running job (a running server stops its worker within ~1 s)."""
        from embodied_ai_architect.errors import JobError
        from embodied_ai_architect.schemas.jobs import JobStatus
        from embodied_ai_architect.store.repo import jobs

        with _db().session() as session:
            row = jobs.get_job(session, job_id=job_id)
            if row.status.terminal:
                raise JobError(
                    f"job {job_id} already finished ({row.status.value})",
                    hint="only queued or running jobs can be cancelled",
                )
            jobs.finish_job(
                session,
                job_id=job_id,
                status=JobStatus.CANCELLED,
                error={
                    "code": "job_cancelled",
                    "message": "cancelled from the CLI",
                    "hint": "submit it again to retry",
                    "details": {},
                },
            )
        console().print(f"cancelled {job_id}")
