"""Get-run, run summaries, compare and the run list: one implementation for every face.

The CLI (``branes runs``), REST (``/api/v1/runs``) and the LLM/MCP ``get_run`` tool call these
and render or return the typed results of :mod:`embodied_ai_architect.schemas.runs`. Everything
is read from the store; the run's report (written when it ended) adds its outcome line and
deployment record. Verdicts are the ones stored on the versions, never judged again here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from embodied_ai_architect.errors import InputError, StoreError
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.schemas.results import HeldOutFigure, ModelMemory
from embodied_ai_architect.schemas.runs import (
    AttemptView,
    MetricDelta,
    PlanView,
    RunComparison,
    RunKind,
    RunListItem,
    RunSummary,
    RunView,
    VersionView,
    number,
)
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.models import JobRow, ModelRow, ModelVersionRow
from embodied_ai_architect.store.repo import history, jobs

_UNRECORDED_OLD = "not recorded: the version was stored before verdicts were kept"
_UNRECORDED_SHARED = (
    "not recorded: the chosen version is the run's baseline, a stored upload shared by every "
    "run on that model (its verdicts for this run are in the run's report)"
)
_UNRECORDED_NONE = "not recorded: the run chose no version"
_Figure = TypeVar("_Figure", HeldOutFigure, ModelMemory)
# What a RunView takes from the job row as it is.
_JOB_FIELDS = ("kind", "status", "progress", "stage", "created_at", "finished_at", "error")


def list_runs(
    db: Database, *, limit: int = 20, kind: RunKind | str | None = None
) -> list[RunListItem]:
    """Recent runs (optimize and deploy, or only ``kind``), newest first.

    Example:
        >>> list_runs(db, kind="deploy", limit=5)  # doctest: +SKIP
    """
    return run_page(db, limit=limit, kind=kind)[0]


def run_page(
    db: Database, *, limit: int = 20, kind: RunKind | str | None = None
) -> tuple[list[RunListItem], int]:
    """The newest ``limit`` runs of ``kind`` (None: both kinds) and how many there are in all."""
    kinds = [parse_run_kind(kind)] if kind is not None else list(RunKind)
    with db.session() as session:
        rows: list[JobRow] = []
        total = 0
        for run_kind in kinds:
            page, count = jobs.list_jobs(session, kind=JobKind(run_kind.value), limit=limit)
            rows.extend(page)
            total += count
        # Each kind's page is its newest `limit`, so the newest `limit` of both are among them.
        rows.sort(key=lambda row: (row.created_at, row.id), reverse=True)
        return [_list_item(row) for row in rows[:limit]], total


def parse_run_kind(kind: RunKind | str) -> RunKind:
    """``kind`` as a :class:`RunKind`; an InputError naming the field for any other value."""
    try:
        return RunKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in RunKind)
        raise InputError(
            f"unknown run kind {str(kind)!r}; runs are: {known}",
            hint=f"give `kind` as one of {known}, or leave it out to list both",
            field="kind",
        ) from None


def _list_item(row: JobRow) -> RunListItem:
    item = RunListItem(
        run_id=row.id,
        status=row.status.value,
        created_at=row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        summary=_list_summary(row),
        kind=RunKind(row.kind.value),
    )
    if item.kind is RunKind.DEPLOY:
        request = row.request or {}  # a DeployRequest or a REST DeployJobRequest: both have them
        target, precision = request.get("target"), request.get("precision")
        item.target = str(target) if target is not None else None
        item.precision = str(precision) if precision is not None else None
    return item


def get_run(db: Database, run_id: str) -> RunView:
    """A run by id (or unique prefix) with its plans, attempts, versions and outcome."""
    with db.session() as session:
        return run_view(session, history.resolve_run_id(session, text=run_id))


def run_view(session: Session, run_id: str) -> RunView:
    """The :class:`RunView` of ``run_id`` inside an open session (exact id)."""
    row = jobs.get_job(session, job_id=run_id)
    versions = [VersionView.model_validate(v) for v in _versions(session, run_id)]
    baseline = _baseline(session, row, versions)
    report = _report(row)
    request = row.request or {}
    view = RunView(
        run_id=row.id,
        **{name: getattr(row, name) for name in _JOB_FIELDS},
        model=_model_name(session, row),
        constraints=dict(request.get("constraints") or {}),
        baseline=baseline,
        plans=[PlanView.model_validate(p) for p in history.list_plans(session, job_id=run_id)],
        attempts=[
            AttemptView.model_validate(a) for a in history.list_attempts(session, job_id=run_id)
        ],
        versions=versions,
    )
    if report is None:
        return view.model_copy(update={"summary": _list_summary(row)})
    chosen = (report.get("best") or {}).get("id")
    version = view.version(chosen)
    verdicts = version.verdicts if version is not None else None
    if verdicts is not None:
        note = ""
    elif chosen is None:
        note = _UNRECORDED_NONE
    elif version is not None and version.job_id == run_id:
        note = _UNRECORDED_OLD
    else:
        note = _UNRECORDED_SHARED
    return view.model_copy(
        update={
            "outcome": report.get("status"),
            "summary": str(report.get("summary", "")),
            "chosen": chosen,
            "verdicts": verdicts,
            "verdicts_note": note,
            "deployment": report.get("deployment"),
            "held_out": _figure(HeldOutFigure, report.get("held_out")),
            "memory": _figure(ModelMemory, report.get("memory")),
            "evidence": list(report.get("evidence") or []),
        }
    )


def summarize_run(session: Session, run_id: str) -> RunSummary:
    """What a comparison shows of one run (exact id)."""
    view = run_view(session, run_id)
    return RunSummary(
        job_id=view.run_id,
        status=view.status,
        attempts=len(view.attempts),
        passed_attempts=sum(1 for a in view.attempts if a.passed),
        best=view.versions[-1] if view.versions else None,
        chosen=view.version(view.chosen),
        model=view.model,
        constraints=view.constraints,
        techniques=[v.technique or "original" for v in view.versions],
    )


def compare_runs(db: Database, a: str, b: str) -> RunComparison:
    """Two runs side by side: every metric of each run's final version and b − a."""
    with db.session() as session:
        first = summarize_run(session, history.resolve_run_id(session, text=a))
        second = summarize_run(session, history.resolve_run_id(session, text=b))
    return RunComparison(a=first, b=second, metrics=metric_deltas(first, second))


def summarize_runs(db: Database, run_ids: list[str]) -> list[RunSummary]:
    """Summaries of two or more runs (ids or unique prefixes), for an N-way comparison."""
    if len(run_ids) < 2:
        raise InputError(
            "a comparison needs at least two run ids",
            hint="name two or more runs",
            field="run_ids",
        )
    with db.session() as session:
        return [summarize_run(session, history.resolve_run_id(session, text=r)) for r in run_ids]


def metric_deltas(first: RunSummary, second: RunSummary) -> list[MetricDelta]:
    ma = first.best.final_metrics if first.best else {}
    mb = second.best.final_metrics if second.best else {}
    deltas = []
    for name in sorted(set(ma) | set(mb)):
        va, vb = number(ma.get(name)), number(mb.get(name))
        if va is None and vb is None:
            continue
        delta = vb - va if va is not None and vb is not None else None
        deltas.append(MetricDelta(metric=name, a=va, b=vb, delta=delta))
    return deltas


def _model_name(session: Session, row: JobRow) -> str:
    """The model file's name: from a library request's path, else the uploaded model's name."""
    path = (row.request or {}).get("model_path")
    if path:
        return Path(str(path)).name
    model = session.get(ModelRow, row.model_id) if row.model_id is not None else None
    return model.name if model is not None else ""


def _versions(session: Session, job_id: str) -> list[ModelVersionRow]:
    statement = (
        select(ModelVersionRow).where(ModelVersionRow.job_id == job_id).order_by(ModelVersionRow.id)
    )
    return list(session.scalars(statement))


def _baseline(session: Session, row: JobRow, versions: list[VersionView]) -> VersionView | None:
    """v0 of the run's model: its own first version, or the stored upload it adopted."""
    if versions and versions[0].version == 0:
        return versions[0]
    model_id = versions[0].model_id if versions else row.model_id
    if model_id is None:
        return None
    found = session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model_id == model_id, ModelVersionRow.version == 0
        )
    )
    return VersionView.model_validate(found) if found is not None else None


def _report(row: JobRow) -> dict[str, Any] | None:
    """The run's report: the job result itself (service jobs) or the report.json it names."""
    result = row.result or {}
    if "run_id" in result:
        return result
    path = result.get("report") or ((row.error or {}).get("details") or {}).get("report")
    if not path or not Path(path).is_file():
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(
            f"the report of run {row.id} cannot be read: {exc}",
            hint="restore the workspace's runs/ folder from a backup",
        ) from exc
    if not isinstance(data, dict):
        raise StoreError(
            f"the report of run {row.id} is not a JSON object",
            hint="restore the workspace's runs/ folder from a backup",
        )
    return data


def _figure(kind: type[_Figure], data: Any) -> _Figure | None:
    """A figure the report holds (None when the run took none: older reports, no set)."""
    return kind.model_validate(data) if isinstance(data, dict) else None


def _list_summary(row: JobRow) -> str:
    result, error = row.result, row.error
    if result:
        if "summary" in result:
            return str(result["summary"])
        return str(result.get("status", ""))
    if error:
        return str(error.get("message", ""))
    return ""
