"""Run history as every face sees it: one get-run, one run summary, one comparison.

Built by :mod:`embodied_ai_architect.application.runs` from the store; the CLI renders tables
from these models, REST returns them (``RunPublic`` adds the job record), the LLM tools return
their JSON. Verdicts are the ones stored on each version when its run ended, never judged again
here; ``None`` means "not recorded" (a version stored before verdicts were kept).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, computed_field

from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.schemas.results import ConstraintVerdict, HeldOutFigure, ModelMemory

Json = dict[str, JsonValue]

NOT_RECORDED = "not recorded"


class _Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class VersionView(_Orm):
    """One stored model version with the verdicts recorded when its run ended."""

    id: int
    model_id: int
    version: int = Field(ge=0, description="0 is the upload; each derived version counts up.")
    parent_id: int | None
    technique: str | None
    config: Json
    metrics: Json = Field(description="The figures the version was registered with.")
    verdicts: list[ConstraintVerdict] | None = Field(
        default=None,
        description="Per-constraint verdicts judged once when the run ended, on the figures its "
        "final choice used (each verdict's `actual`). None: not recorded.",
    )
    judged_metrics: Json | None = Field(
        default=None,
        description="The figures the verdicts judged: the run's final ones (re-timed in "
        "alternation with the versions they were compared to). None: not recorded.",
    )
    artifact_sha256: str
    job_id: str | None
    note: str | None
    created_at: datetime

    @property
    def final_metrics(self) -> Json:
        """The run's final figures when recorded, else the registered ones."""
        return self.judged_metrics if self.judged_metrics is not None else self.metrics

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict_status(self) -> str:
        """'passed', 'failed' or 'not recorded' (never recomputed for older rows)."""
        if self.verdicts is None:
            return NOT_RECORDED
        return "passed" if all(v.passed for v in self.verdicts) else "failed"

    @property
    def label(self) -> str:
        return f"v{self.version}"


class AttemptView(_Orm):
    id: int
    step: int
    technique: str
    config: Json
    parent_version_id: int | None
    result_version_id: int | None
    metrics: Json
    verdicts: list[JsonValue]
    passed: bool | None
    error: str | None
    environment: Json
    created_at: datetime


class PlanStepView(_Orm):
    position: int
    technique: str
    config: Json
    rationale: str
    predicted_effect: Json
    status: str


class PlanView(_Orm):
    id: int
    rationale: str
    created_at: datetime
    steps: list[PlanStepView]


class RunView(BaseModel):
    """One run: status, outcome, plans, every attempt and the versions it produced."""

    run_id: str
    kind: JobKind
    status: JobStatus
    progress: float = Field(ge=0, le=100)
    stage: str | None
    created_at: datetime
    finished_at: datetime | None
    error: Json | None = Field(default=None, description="Why the run failed, when it did.")
    model: str = Field(default="", description="The model file's name.")
    constraints: Json = Field(default_factory=dict, description="The constraints as requested.")
    outcome: str | None = Field(
        default=None, description="succeeded, constraints_not_met or unreachable (from the report)."
    )
    summary: str = Field(default="", description="One line: what the run achieved.")
    chosen: str | None = Field(
        default=None, description="The version the run chose as its result, e.g. 'v2'."
    )
    verdicts: list[ConstraintVerdict] | None = Field(
        default=None, description="The chosen version's stored verdicts (None: not recorded)."
    )
    verdicts_note: str = Field(
        default="", description="Why verdicts are not recorded, when they are not."
    )
    deployment: Json | None = Field(
        default=None, description="The deployment record of the chosen version, if packaged."
    )
    held_out: HeldOutFigure | None = Field(
        default=None,
        description="The task score of the original and the chosen version on samples no "
        "calibration or selection used: the figure to trust (None: the run had no such set).",
    )
    memory: ModelMemory | None = Field(
        default=None,
        description="The model's own memory footprint, original and chosen version "
        "(None: not measured).",
    )
    evidence: list[str] = Field(default_factory=list)
    baseline: VersionView | None = Field(
        default=None, description="The version the run started from (v0 of its model)."
    )
    plans: list[PlanView] = Field(default_factory=list)
    attempts: list[AttemptView] = Field(default_factory=list)
    versions: list[VersionView] = Field(
        default_factory=list, description="Versions this run produced, oldest first."
    )

    def version(self, label: str | None) -> VersionView | None:
        """The version ``label`` ('v2') among the run's versions or its baseline."""
        if label is None:
            return None
        for candidate in [*self.versions, *([self.baseline] if self.baseline else [])]:
            if candidate.label == label:
                return candidate
        return None


class RunKind(StrEnum):
    """The kinds of job that are runs: an optimize search, or `deploy run`'s one-step plan."""

    OPTIMIZE = "optimize"
    DEPLOY = "deploy"


class RunListItem(BaseModel):
    run_id: str
    status: str
    created_at: str
    summary: str = ""
    kind: RunKind = Field(default=RunKind.OPTIMIZE, description="optimize or deploy.")
    target: str | None = Field(
        default=None, description="The deployment target of a deploy run (None: optimize)."
    )
    precision: str | None = Field(
        default=None, description="The precision a deploy run asked for (None: optimize)."
    )


class RunSummary(BaseModel):
    """A run reduced to what a comparison shows."""

    job_id: str
    status: JobStatus
    attempts: int = Field(ge=0)
    passed_attempts: int = Field(ge=0)
    best: VersionView | None = Field(description="Last version the run produced.")
    chosen: VersionView | None = Field(
        default=None, description="The version the run chose as its result (None: none chosen)."
    )
    model: str = ""
    constraints: Json = Field(default_factory=dict)
    techniques: list[str] = Field(
        default_factory=list, description="Techniques of the produced versions, in order."
    )


class MetricDelta(BaseModel):
    metric: str
    a: float | None
    b: float | None
    delta: float | None = Field(description="b − a, when both are numbers.")


class RunComparison(BaseModel):
    """Two runs side by side: the metrics of each run's final version, b − a (its final,
    judged figures where recorded)."""

    a: RunSummary
    b: RunSummary
    metrics: list[MetricDelta]


def number(value: Any) -> float | None:
    """A metric value as a float (None for text, booleans and missing values)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
