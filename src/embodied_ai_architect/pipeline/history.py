"""A past run's report and restoring one of its versions (`branes versions`).

Listing, showing and comparing runs is :mod:`embodied_ai_architect.application.runs`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, Field

from embodied_ai_architect.errors import NotFoundError, StoreError
from embodied_ai_architect.schemas.results import OptimizeReport
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import sha256_file
from embodied_ai_architect.store.repo import history, jobs
from embodied_ai_architect.store.repo import versions as version_repo


class RestoredVersion(BaseModel):
    run_id: str
    version: str
    path: Path = Field(description="Where the restored artifact was written.")
    sha256: str
    store_version: int = Field(description="New version number recorded for the restore.")


def _db(settings: Settings) -> Database:
    db = Database.from_settings(settings)
    db.upgrade()
    return db


def load_report(settings: Settings, run_id: str) -> OptimizeReport:
    """The typed report of a run (by job id or a unique prefix of it)."""
    with _db(settings).session() as session:
        row = jobs.get_job(session, job_id=history.resolve_run_id(session, text=run_id))
        result, error = row.result, row.error
    if result and "run_id" in result:
        return OptimizeReport.model_validate(result)
    path = (result or {}).get("report") or (error or {}).get("details", {}).get("report")
    if not path or not Path(path).is_file():
        raise NotFoundError(
            f"run {row.id} has no report", hint="the run failed before writing one (see its error)"
        )
    return OptimizeReport.model_validate_json(Path(path).read_text(encoding="utf-8"))


def restore_version(
    settings: Settings, run_id: str, version: str, *, out: Path | None = None
) -> RestoredVersion:
    """Write version ``version`` (e.g. v2) of a run to ``out``, verified, and record the restore."""
    report = load_report(settings, run_id)
    record = next((v for v in report.versions if v.id == version), None)
    if record is None:
        raise NotFoundError(
            f"run {report.run_id} has no version {version!r}; versions: "
            f"{', '.join(v.id for v in report.versions)}",
            hint="list them with `branes versions list RUN_ID`",
        )
    source = Path(record.path)
    if not source.is_file():
        raise NotFoundError(f"artifact of {version} is missing: {source}", hint="restore a backup")
    if sha256_file(source) != record.sha256:
        raise StoreError(
            f"artifact of {version} changed after it was stored (sha256 mismatch)",
            hint="versions are immutable; restore the workspace from a backup",
        )
    suffix = ".ir.tar" if source.name.endswith(".ir.tar") else source.suffix
    target = out or Path.cwd() / f"{report.request.model_path.stem}-{version}{suffix}"
    if target.is_dir():
        target = target / f"{report.request.model_path.stem}-{version}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    number = int(version.lstrip("v"))
    with _db(settings).session() as session:
        if report.model_id is None:
            raise StoreError("the run has no stored model id", hint="re-run the job")
        row = version_repo.get_version_by_number(session, model_id=report.model_id, version=number)
        restored = version_repo.restore_version(session, version_id=row.id)
        store_version = restored.version
    return RestoredVersion(
        run_id=report.run_id,
        version=version,
        path=target,
        sha256=record.sha256,
        store_version=store_version,
    )
