"""Constraints: what the user's edge device and task demand of the optimized model.

Built by every surface (CLI flags, REST body, LLM tool call) and validated here once;
``parse_constraints`` turns pydantic failures into a :class:`ConstraintError` with a hint.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from embodied_ai_architect.errors import ConstraintError


class DropUnit(StrEnum):
    POINTS = "points"  # absolute percentage points: 97.0 % → 96.0 % is a drop of 1 point
    PERCENT = "percent"  # relative to the baseline: 1 % of 97.0 % is 0.97 points


class Objective(StrEnum):
    """What the search minimises once the limits are met (see ``pipeline.objective``)."""

    LATENCY = "latency"  # p50 latency, then size; never keep a slower version without a limit
    SIZE = "size"  # size on disk, then p50 latency
    BALANCED = "balanced"  # log p50 + log size, moves that worsen neither axis


FIDELITY_METRICS = ("cosine", "top1", "map50", "class_agreement", "iou", "neighbour", "action")


class FidelityBound(BaseModel):
    """An explicit fidelity bound for unlabelled data: ``metric ≥ minimum`` vs the original.

    Written ``cosine:0.995``, ``top1:0.99`` or ``map50:0.98`` on the command line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str = Field(description=f"One of {', '.join(FIDELITY_METRICS)}.")
    minimum: float = Field(description="Smallest allowed value, a fraction in (0, 1].")

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            metric, sep, number = value.partition(":")
            if not sep:
                raise ValueError(
                    f"write the bound as metric:value, e.g. cosine:0.995 (got {value!r})"
                )
            try:
                minimum = float(number)
            except ValueError as exc:
                raise ValueError(f"{number!r} in {value!r} is not a number") from exc
            return {"metric": metric.strip(), "minimum": minimum}
        return value

    @model_validator(mode="after")
    def _check(self) -> FidelityBound:
        if self.metric not in FIDELITY_METRICS:
            raise ValueError(
                f"unknown fidelity metric {self.metric!r}; available: {', '.join(FIDELITY_METRICS)}"
            )
        if not 0 < self.minimum <= 1:
            raise ValueError(
                f"fidelity minimum is a fraction in (0, 1] (got {self.minimum:g}; write 99 % as 0.99)"
            )
        return self

    def __str__(self) -> str:
        return f"{self.metric}:{self.minimum:g}"


class Budget(BaseModel):
    """How much search the user allows; the run stops early (with the best so far) when spent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_wall_seconds: float | None = Field(
        default=None, gt=0, description="Wall-clock limit for the whole job (seconds)."
    )
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Most technique applications the planner may try. Session settings of the "
        "same file (ort_threads) are not counted: they convert nothing and cost one timing.",
    )


class Constraints(BaseModel):
    """The user's limits. Every bound is optional; at least one must be set.

    Accuracy figures are fractions in [0, 1] (``min_accuracy=0.95``); drops are in
    ``drop_unit`` (percentage points by default).

    Example:
        >>> Constraints(max_size_mb=10, max_latency_ms=20, max_accuracy_drop=1.0)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_size_mb: float | None = Field(
        default=None, description="Largest model artifact on disk (MB = 10^6 bytes)."
    )
    max_latency_ms: float | None = Field(
        default=None, description="Largest p95 latency (batch 1, measured on the host, ms)."
    )
    min_accuracy: float | None = Field(
        default=None, description="Smallest task accuracy / success rate (fraction in [0, 1])."
    )
    max_accuracy_drop: float | None = Field(
        default=None, description="Largest allowed loss vs the original, in `drop_unit`."
    )
    drop_unit: DropUnit = Field(default=DropUnit.POINTS, description="Unit of max_accuracy_drop.")
    fidelity: FidelityBound | None = Field(
        default=None,
        description="Explicit fidelity bound vs the original for unlabelled data, e.g. "
        "'cosine:0.995', 'top1:0.99', 'map50:0.98'.",
    )
    target: str = Field(
        default="cpu",
        description="Where the model will run: 'cpu' (this host; every CPU runtime competes by "
        "measurement), a target (onnxruntime, openvino, tflite, jetson) or a device profile "
        "such as 'jetson:orin-nano'.",
    )
    objective: Objective = Field(
        default=Objective.LATENCY,
        description="What to minimise within the limits: latency (p50, then size; default), "
        "size (then p50) or balanced (p50 × size).",
    )
    budget: Budget = Field(default_factory=Budget)

    @field_validator("target", mode="before")
    @classmethod
    def _normalise_target(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> Constraints:
        problems = constraint_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def has_accuracy_bound(self) -> bool:
        return (
            self.min_accuracy is not None
            or self.max_accuracy_drop is not None
            or self.fidelity is not None
        )

    def accuracy_floor(self, baseline: float) -> float:
        """The lowest accuracy (fraction) that still passes, given the original's accuracy."""
        floor = 0.0
        if self.fidelity is not None:
            floor = max(floor, self.fidelity.minimum)
        if self.min_accuracy is not None:
            floor = max(floor, self.min_accuracy)
        if self.max_accuracy_drop is not None:
            if self.drop_unit is DropUnit.POINTS:
                floor = max(floor, baseline - self.max_accuracy_drop / 100)
            else:
                floor = max(floor, baseline * (1 - self.max_accuracy_drop / 100))
        return floor

    def deficit(self, size_mb: float, p95_ms: float) -> float:
        """How far a size and a p95 are from the limits, in log units (0 within both): the one
        measure the planner's predictions and the search's choices both rank by."""
        total = 0.0
        if self.max_size_mb is not None and size_mb > self.max_size_mb:
            total += math.log(size_mb / self.max_size_mb)
        if self.max_latency_ms is not None and p95_ms > self.max_latency_ms:
            total += math.log(p95_ms / self.max_latency_ms)
        return total

    def describe(self) -> str:
        parts = []
        if self.max_size_mb is not None:
            parts.append(f"size ≤ {self.max_size_mb:g} MB")
        if self.max_latency_ms is not None:
            parts.append(f"p95 ≤ {self.max_latency_ms:g} ms")
        if self.min_accuracy is not None:
            parts.append(f"accuracy ≥ {self.min_accuracy * 100:.2f} %")
        if self.max_accuracy_drop is not None:
            unit = "points" if self.drop_unit is DropUnit.POINTS else "%"
            parts.append(f"accuracy drop ≤ {self.max_accuracy_drop:g} {unit}")
        if self.fidelity is not None:
            parts.append(f"fidelity {self.fidelity.metric} ≥ {self.fidelity.minimum:g}")
        parts.append(f"target {self.target}")
        if self.objective is not Objective.LATENCY:
            parts.append(f"objective {self.objective.value}")
        return ", ".join(parts)


def constraint_problems(c: Constraints) -> list[str]:
    """Every reason the constraints are invalid or contradict each other (empty when fine)."""
    problems: list[str] = []
    for name in ("max_size_mb", "max_latency_ms", "min_accuracy", "max_accuracy_drop"):
        value = getattr(c, name)
        if value is not None and (math.isnan(value) or math.isinf(value)):
            problems.append(f"{name} must be a finite number (got {value})")
    if c.max_size_mb is not None and c.max_size_mb <= 0:
        problems.append(f"max_size_mb must be positive (got {c.max_size_mb:g})")
    if c.max_latency_ms is not None and c.max_latency_ms <= 0:
        problems.append(f"max_latency_ms must be positive (got {c.max_latency_ms:g})")
    if c.min_accuracy is not None and not 0 < c.min_accuracy <= 1:
        problems.append(
            f"min_accuracy is a fraction in (0, 1] (got {c.min_accuracy:g}; write 95 % as 0.95)"
        )
    if c.max_accuracy_drop is not None:
        if c.max_accuracy_drop < 0:
            problems.append(f"max_accuracy_drop cannot be negative (got {c.max_accuracy_drop:g})")
        elif c.max_accuracy_drop >= 100:
            problems.append(
                f"max_accuracy_drop {c.max_accuracy_drop:g} {c.drop_unit.value} allows losing "
                "everything; use a value below 100"
            )
    if (problem := _target_problem(c.target)) is not None:
        problems.append(problem)
    if c.fidelity is not None and c.min_accuracy is not None:
        problems.append(
            "min_accuracy (labelled accuracy) and fidelity (agreement with the original) "
            "measure different things; give one"
        )
    # A named target is a requirement by itself (the result must run there: `branes deploy
    # run` asks nothing more); the host target `cpu` needs a bound to search for.
    if c.target == "cpu" and all(
        getattr(c, name) is None
        for name in (
            "max_size_mb",
            "max_latency_ms",
            "min_accuracy",
            "max_accuracy_drop",
            "fidelity",
        )
    ):
        problems.append(
            "no constraint given: set at least one of size, latency, accuracy or fidelity "
            "(or name a `target`)"
        )
    return problems


def _target_problem(name: str) -> str | None:
    # The target registry (and device profiles) decide what is valid, not a list here.
    from embodied_ai_architect.agents.deployment.targets.profiles import resolve_target
    from embodied_ai_architect.errors import ConfigError

    try:
        resolve_target(name)
    except ConfigError as exc:
        return exc.message
    return None


def parse_constraints(data: dict[str, Any] | Constraints) -> Constraints:
    """Validate user-supplied constraints; raise ConstraintError listing every problem."""
    if isinstance(data, Constraints):
        return data
    try:
        return Constraints.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            text = str(err["msg"]).removeprefix("Value error, ")
            messages.append(f"{where}: {text}" if where else text)
        raise ConstraintError(
            "invalid constraints: " + "; ".join(messages),
            hint="e.g. `max_size_mb` 10, `max_latency_ms` 20, `max_accuracy_drop` 1, `target` cpu",
            details={"errors": messages},
            field="constraints",
        ) from exc
