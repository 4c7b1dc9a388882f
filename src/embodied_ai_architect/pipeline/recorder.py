"""Run records in the store: the job row, ordered events, plans with steps, attempts, skills."""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, fields
from typing import Any

from embodied_ai_architect.agents.planning.skills import SkillRecord
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.schemas.results import AttemptRecord, Plan, StepStatus
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.repo import events, history, jobs

# The store's plan-step statuses are a smaller vocabulary than ours.
_SKILL_FIELDS = tuple(f.name for f in fields(SkillRecord))
_STEP_STATUS = {
    StepStatus.PENDING: "pending",
    StepStatus.ACCEPTED: "passed",
    StepStatus.REJECTED: "failed",
    StepStatus.FAILED: "failed",
    StepStatus.SKIPPED: "skipped",
}


class RunRecorder:
    """Writes one run's history. With ``owns_job`` False (a service job) the caller already
    created the job row and stores events itself, so events are not written twice."""

    def __init__(
        self,
        db: Database,
        *,
        job_id: str | None,
        request: dict[str, Any],
        owns_job: bool | None = None,
    ):
        self.db = db
        # A job created by the caller may still be the run's own (the LLM tools create the row
        # first so they can return its id at once): then the run writes its events and status.
        self.owns_job = job_id is None if owns_job is None else owns_job
        with db.session() as session:
            if job_id is None:
                row = jobs.create_job(session, kind=JobKind.OPTIMIZE, request=request)
                jobs.mark_running(session, job_id=row.id, worker_pid=os.getpid())
                job_id = row.id
            else:
                jobs.get_job(session, job_id=job_id)
                if self.owns_job:
                    jobs.mark_running(session, job_id=job_id, worker_pid=os.getpid())
        self.job_id: str = job_id
        self._plan_ids: dict[str, int] = {}

    def event(self, event: ProgressEvent) -> None:
        if not self.owns_job:
            return
        with self.db.session() as session:
            events.append_event(session, job_id=self.job_id, event=event)
            jobs.update_progress(
                session, job_id=self.job_id, percent=event.percent, stage=event.stage
            )

    def plan(self, plan: Plan, *, rationale: str) -> None:
        steps = [
            {
                "technique": " | ".join(c.technique for c in step.candidates),
                "config": {
                    "step": step.id,
                    "candidates": [c.model_dump() for c in step.candidates],
                },
                "rationale": f"[{step.objective}] {step.rationale}",
                "predicted_effect": step.predicted,
            }
            for step in plan.steps
        ]
        with self.db.session() as session:
            row = history.create_plan(
                session, job_id=self.job_id, steps=steps, rationale=f"{plan.title}: {rationale}"
            )
            self._plan_ids[plan.id] = row.id

    def step_status(self, plan: Plan, position: int, status: StepStatus) -> None:
        plan_id = self._plan_ids.get(plan.id)
        if plan_id is None:
            return
        with self.db.session() as session:
            history.set_step_status(
                session,
                plan_id=plan_id,
                position=position,
                status=_STEP_STATUS[status],  # type: ignore[arg-type]
            )

    def attempt(
        self,
        record: AttemptRecord,
        *,
        parent_row: int | None,
        result_row: int | None,
        environment: dict[str, Any],
    ) -> None:
        with self.db.session() as session:
            history.record_attempt(
                session,
                job_id=self.job_id,
                step=record.index,
                technique=record.technique,
                config={"step": record.step_id, **record.config},
                parent_version_id=parent_row,
                result_version_id=result_row,
                metrics=record.metrics.model_dump(mode="json") if record.metrics else {},
                verdicts=[v.model_dump(mode="json") for v in record.verdicts],
                passed=record.status is StepStatus.ACCEPTED,
                error=(record.error or {}).get("message") or (record.reason or None),
                environment=environment,
            )

    def skills(self, *, family: str, target: str) -> list[SkillRecord]:
        with self.db.session() as session:
            rows = history.list_skills(session, family=family, target=target)
            # Copies: the records outlive the session and must not share the rows' JSON dicts.
            return [
                SkillRecord(**{name: copy.copy(getattr(r, name)) for name in _SKILL_FIELDS})
                for r in rows
            ]

    def learn(self, skills: list[SkillRecord]) -> None:
        with self.db.session() as session:
            for skill in skills:
                history.record_skill(session, **asdict(skill), job_id=self.job_id)

    def finish(self, *, status: JobStatus, result: dict[str, Any] | None, error: Any) -> None:
        if not self.owns_job:
            return  # the service's worker finishes its own job
        with self.db.session() as session:
            jobs.finish_job(session, job_id=self.job_id, status=status, result=result, error=error)
