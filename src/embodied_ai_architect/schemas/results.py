"""Optimize request and report: the one contract the CLI, REST API and LLM tools share.

``run_optimize(OptimizeRequest, settings=..., sink=...) -> OptimizeReport`` lives in
:mod:`embodied_ai_architect.pipeline`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from embodied_ai_architect.schemas.constraints import Constraints, parse_constraints
from embodied_ai_architect.schemas.deployment import DeploymentResult
from embodied_ai_architect.schemas.evaluation import BoundResolution
from embodied_ai_architect.schemas.loading import LoadOptions


class OptimizeRequest(BaseModel):
    """Everything one optimize job needs. Paths are on the machine that runs the job.

    Example:
        >>> OptimizeRequest(model_path=Path("cnn.pt"),
        ...                 constraints=Constraints(max_accuracy_drop=1),
        ...                 eval_data=Path("test.npz"))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_path: Path = Field(description="Model file (any supported format, detected by bytes).")
    load_options: LoadOptions = Field(default_factory=LoadOptions)
    constraints: Constraints
    eval_data: Path | None = Field(
        default=None,
        description="Labelled evaluation data: .npz with x/y, a CSV (last column = label), or an "
        "image folder with one sub-folder per class. Without labels: fidelity to the original.",
    )
    calibration_data: Path | None = Field(
        default=None, description="Representative inputs for INT8 calibration (.npy/.npz/images)."
    )
    train_data: Path | None = Field(
        default=None,
        description="Labelled training data (.npz x/y) for fine-tuning / distillation steps.",
    )
    eval_sim: str | None = Field(
        default=None, description="MuJoCo suite for closed-loop evaluation, e.g. reach-v0/smoke."
    )
    metric: str | None = Field(
        default=None,
        description="Your own metric 'module:function' from an installed package: "
        "fn(model, data) -> float in [0, 1], higher is better; model.predict(inputs) runs the "
        "version, data has inputs and labels (eval_data, else random inputs).",
    )
    out_dir: Path | None = Field(
        default=None, description="Where artifacts and reports go (default: workspace/runs/<id>)."
    )
    seed: int = Field(default=0, description="Seed for plans, calibration, search and data.")
    max_eval_samples: int = Field(default=2000, ge=1, description="Cap on evaluation samples.")
    latency_runs: int = Field(default=60, ge=5, description="Timed runs per latency figure.")
    search_workers: int | None = Field(
        default=None,
        ge=1,
        description="Candidates applied and fidelity-checked in parallel per search step "
        "(None: EAA_SEARCH_WORKERS). The result is the same for any value given the seed.",
    )
    model_memory: bool = Field(
        default=True,
        description="Measure the original's and the result's own memory footprint in a fresh "
        "process each (a few seconds).",
    )
    speed_headroom: bool = Field(
        default=True,
        description="Profile the chosen version's kernels and measure this host's GEMM peaks, "
        "to say how much faster any technique could still make it (about a second).",
    )

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        # Validated when the request is built (CLI, API submit, LLM tool): the function must
        # import from an installed module now, not fail an hour into the job.
        if value is not None:
            from embodied_ai_architect.agents.evaluation.user_metric import resolve_metric

            resolve_metric(value)
        return value

    @field_validator("constraints", mode="before")
    @classmethod
    def _constraints(cls, value: Any) -> Any:
        # Raise our ConstraintError (with a hint) rather than a generic validation error.
        return parse_constraints(value) if isinstance(value, dict) else value


class ConstraintVerdict(BaseModel):
    constraint: str = Field(description="size, latency, accuracy, accuracy_drop")
    passed: bool
    actual: float | None
    limit: float
    reason: str = Field(description='Human-readable, e.g. "p95 23.1 ms > 20 ms".')


class VersionMetrics(BaseModel):
    """What the Evaluation agent measures for one model version."""

    size_bytes: int = Field(ge=0)
    parameters: int = Field(ge=0)
    runtime: str
    p50_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)
    throughput_per_s: float = Field(ge=0)
    peak_memory_mb: float | None = None
    threads: int = Field(ge=1)
    accuracy: float | None = Field(default=None, description="Task score in [0, 1].")
    accuracy_metric: str | None = None
    accuracy_evaluator: str | None = None
    accuracy_details: dict[str, Any] = Field(default_factory=dict)
    accuracy_samples: int | None = Field(
        default=None, ge=0, description="How many samples / episodes the score is based on."
    )
    measure_seconds: float = Field(default=0, ge=0)
    timing: str = Field(
        default="sequential",
        description="How p50/p95 were taken: 'sequential' (this version timed alone) or "
        "'interleaved with …' (timed in alternation with the versions it was compared to, the "
        "figures a step's or the run's final choice rests on).",
    )

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


class StepStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # ran, but violated a constraint or did not help: rolled back
    FAILED = "failed"  # the technique raised: rolled back
    SKIPPED = "skipped"


class StepCandidate(BaseModel):
    """One concrete technique application the step may try."""

    model_config = ConfigDict(frozen=True)

    technique: str
    config: dict[str, Any] = Field(default_factory=dict)
    note: str = ""


class PlanStep(BaseModel):
    """One TODO item: an objective, alternatives to measure, why, and what we expect."""

    id: str
    objective: str = Field(description="latency, size or accuracy: what the step must improve.")
    candidates: list[StepCandidate]
    rationale: str
    predicted: dict[str, float] = Field(
        default_factory=dict, description="Predicted factors, e.g. size_factor 0.25."
    )
    status: StepStatus = StepStatus.PENDING
    outcome: str = ""
    required: bool = Field(
        default=False,
        description="Kept even when it does not improve the objective: the target needs it "
        "(e.g. the FP32 conversion to the runtime the user named).",
    )


class Plan(BaseModel):
    id: str
    title: str
    steps: list[PlanStep]
    score: float = Field(description="Ranking score (higher is better).")
    rationale: str
    predicted_size_mb: float | None = None
    predicted_p95_ms: float | None = None
    history_used: bool = Field(default=False, description="Whether past skills changed the rank.")


class Replan(BaseModel):
    after_step: str
    reason: str
    added_steps: list[str]
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))


class AttemptRecord(BaseModel):
    """One technique application with its full context (kept whether it passed or not)."""

    index: int
    step_id: str
    technique: str
    config: dict[str, Any]
    parent_version: str
    status: StepStatus
    version: str | None = Field(default=None, description="Version id when accepted.")
    metrics: VersionMetrics | None = None
    verdicts: list[ConstraintVerdict] = Field(default_factory=list)
    reason: str = ""
    error: dict[str, Any] | None = None
    technique_seconds: float = 0
    measure_seconds: float = 0
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class VersionRecord(BaseModel):
    """An immutable model version: v0 is the original."""

    model_config = ConfigDict(frozen=True)

    id: str
    parent: str | None
    technique: str | None
    config: dict[str, Any] = Field(default_factory=dict)
    framework: str
    path: Path
    sha256: str
    metrics: VersionMetrics
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class EnvironmentInfo(BaseModel):
    packages: dict[str, str]
    threads: int
    git_commit: str | None
    seed: int
    python: str
    platform: str


class Timings(BaseModel):
    total_s: float = 0
    technique_s: float = 0
    measurement_s: float = 0
    analysis_s: float = 0

    @property
    def overhead_s(self) -> float:
        return max(0.0, self.total_s - self.technique_s - self.measurement_s - self.analysis_s)


class ParetoPoint(BaseModel):
    """One evaluated model (a kept version or a measured attempt) in size/latency/accuracy space."""

    label: str = Field(description="v3 for a version, a7 for an attempt that was not kept.")
    version: str | None = None
    attempt: int | None = None
    technique: str | None = None
    size_mb: float
    p95_ms: float
    p50_ms: float | None = Field(default=None, description="Median latency (what is optimised).")
    accuracy: float | None = None
    feasible: bool = Field(description="Meets every constraint.")
    on_front: bool = Field(description="No other point is at least as good on all three axes.")


class HeldOutFigure(BaseModel):
    """The task score on samples no calibration or selection used: the figure to trust."""

    metric: str
    samples: int = Field(ge=0)
    baseline: float
    best: float
    selection_best: float | None = Field(
        default=None, description="The same version's score on the selection samples."
    )
    passed: bool = Field(description="Whether the held-out figure meets the accuracy bound.")
    split: dict[str, int] = Field(
        default_factory=dict, description="Samples per part: calibration, selection, held_out."
    )


class ModelMemory(BaseModel):
    """The model's own memory: peak-RSS increase of a fresh process that loads and runs it."""

    baseline_mb: float | None = None
    best_mb: float | None = None
    method: str = (
        "peak RSS increase of a fresh process that loads the artifact and runs it 5 times "
        "(runtime arena included; none of the runtimes reports it apart)"
    )
    error: str | None = Field(default=None, description="Why a figure is missing.")


class SpeedHeadroom(BaseModel):
    """Why the chosen version is not faster: how much of its time is arithmetic, measured.

    ``compute_share`` is the share of the runtime's own kernel time spent in Conv / MatMul / Gemm
    kernels (float or integer); by Amdahl, no technique that only speeds arithmetic up can make
    the version more than ``1 / (1 - compute_share)`` faster (``bound_free_arithmetic``).
    """

    version: str
    runtime: str
    precision: str = Field(description="The version's arithmetic precision (fp32, fp16, int8).")
    threads: int = Field(ge=1)
    p50_ms: float
    macs: int | None = Field(
        default=None, description="MACs per inference (None: the lineage changed the graph)."
    )
    gflops: float | None = Field(default=None, description="2 × MACs / p50, in GFLOP/s.")
    fp32_peak_gflops: float = Field(description="This host's ORT FP32 GEMM rate, measured.")
    int8_peak_gops: float = Field(description="This host's ORT INT8 (u8 × s8) GEMM rate, measured.")
    peak_share: float | None = Field(
        default=None, description="gflops / the peak of the version's precision."
    )
    nodes: int | None = Field(default=None, description="Kernels run per inference.")
    compute_share: float | None = Field(
        default=None,
        description="Share of the time in Conv / MatMul / Gemm arithmetic (for OpenVINO without "
        "the activations fused into those kernels: see activation_share).",
    )
    fused_activations: int | None = Field(
        default=None,
        description="OpenVINO: transcendental activations (SiLU, GELU, ...) fused into the "
        "compute kernels, bypassed in a second profile to time the arithmetic alone.",
    )
    activation_share: float | None = Field(
        default=None,
        description="Share of the time those fused activations take inside the compute kernels.",
    )
    op_shares: dict[str, float] = Field(
        default_factory=dict, description="Kernel-time share of the largest op types."
    )
    bound_free_arithmetic: float | None = Field(
        default=None, description="Speed-up if Conv / MatMul / Gemm took no time at all."
    )
    bound_int8: float | None = Field(
        default=None,
        description="Speed-up if a floating-point version's arithmetic ran at the INT8 GEMM rate.",
    )
    kernel_gops: float | None = Field(
        default=None,
        description="2 × MACs / the time in Conv / MatMul / Gemm kernels: their own rate, in G/s.",
    )
    bound_at_peak: float | None = Field(
        default=None,
        description="Speed-up if those kernels ran at this host's INT8 GEMM peak (the fastest "
        "arithmetic measured here) and the rest stayed as is: a bound on any arithmetic-only "
        "technique, INT8 conversion included (None: MACs unknown).",
    )
    explanation: str = Field(default="", description="The figures above in one paragraph.")
    error: str | None = Field(
        default=None, description="Why the kernel profile, or part of it, is missing."
    )


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"  # a version meets every constraint
    CONSTRAINTS_NOT_MET = "constraints_not_met"  # search done, nothing meets all constraints
    UNREACHABLE = "unreachable"  # stopped early: provably unreachable (evidence attached)


class OptimizeReport(BaseModel):
    """The result of one optimize job (written as report.json; rendered as report.html)."""

    schema_version: int = 1
    run_id: str
    model_id: int | None = Field(default=None, description="Store id of the uploaded model.")
    status: RunStatus
    summary: str
    decision: str = Field(
        default="", description="One sentence: what was optimised and why the winner won."
    )
    request: OptimizeRequest
    model_family: str | None = None
    environment: EnvironmentInfo
    baseline: VersionRecord
    best: VersionRecord | None = None
    best_verdicts: list[ConstraintVerdict] = Field(default_factory=list)
    resolution: BoundResolution | None = Field(
        default=None,
        description="How finely the selection data resolves the accuracy bound (None: no bound "
        "or a continuous score).",
    )
    held_out: HeldOutFigure | None = Field(
        default=None, description="Held-out score of the original and the chosen version."
    )
    memory: ModelMemory | None = Field(
        default=None, description="Own memory footprint of the original and the chosen version."
    )
    headroom: SpeedHeadroom | None = Field(
        default=None,
        description="How much of the chosen version's time is arithmetic, against this host's "
        "measured GEMM peaks: why more speed is or is not within reach.",
    )
    deployment: DeploymentResult | None = Field(
        default=None,
        description="The chosen version packaged and validated for the run's target (None: "
        "nothing to package, e.g. a torch winner with target cpu).",
    )
    plans: list[Plan] = Field(default_factory=list, description="Ranked candidates; first chosen.")
    chosen_plan: Plan | None = None
    replans: list[Replan] = Field(default_factory=list)
    attempts: list[AttemptRecord] = Field(default_factory=list)
    versions: list[VersionRecord] = Field(default_factory=list)
    points: list[ParetoPoint] = Field(
        default_factory=list, description="Every evaluated model; on_front marks the Pareto set."
    )
    evidence: list[str] = Field(
        default_factory=list, description="Why constraints are unreachable."
    )
    artifacts: dict[str, Path] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    started_at: datetime
    finished_at: datetime
