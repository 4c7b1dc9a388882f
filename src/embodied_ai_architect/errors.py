"""One error hierarchy for the whole platform.

Every error carries a ``message`` (what went wrong) and a ``hint`` (what to do about it);
surfaces (CLI, REST, LLM tools) render both and never show a traceback unless asked.
An error about one request field names it in ``field`` (``input_shapes``, ``calibration_data``)
and its hint speaks of that field in backticks, never of a CLI flag: each face renders its own
name for it (the CLI its flag, REST and the LLM tools the field / argument name).
Third-party exceptions are translated at the boundary with ``raise X(...) from exc``.

    EAAError
    ├── InputError                 bad user input that is not a model file (shapes, paths, flags)
    │   ├── ModelFormatError       the model file is missing, empty, broken, unsupported or untrusted
    │   ├── ConstraintError        invalid or contradictory constraints
    │   └── ConfigError            invalid technique / target / evaluation configuration
    ├── DependencyError            an optional package is missing (install the named extra)
    ├── ModelLoadError             a recognised model could not be built or loaded
    ├── ExportError                conversion to ONNX (or another IR) failed or is numerically wrong
    ├── AnalysisError              profiling failed
    ├── TechniqueError             an optimization technique failed on this model (recorded, not fatal)
    ├── EvaluationError            metrics or accuracy could not be measured
    ├── PlanningError              no plan can satisfy the constraints (carries the evidence)
    ├── TargetUnavailableError     a deployment target cannot run on this host
    ├── DeploymentError            building or validating a deployment artifact failed
    ├── SimulationError            a MuJoCo scene or rollout failed (invalid scene, NaN, ...)
    ├── StoreError                 database / artifact store problems
    │   └── NotFoundError          a model, version, run or job does not exist
    └── JobError                   a job could not be submitted, ran into a worker crash, or was cancelled
"""

from __future__ import annotations

import re
from typing import Any

_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class EAAError(Exception):
    """Base of every error the platform raises on purpose."""

    code: str = "error"

    def __init__(
        self,
        message: str,
        hint: str = "",
        details: dict[str, Any] | None = None,
        *,
        field: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: dict[str, Any] = details or {}
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "details": self.details,
        }
        if self.field is not None:
            body["field"] = self.field
        return body


class InputError(EAAError):
    code = "invalid_input"


class ModelFormatError(InputError):
    code = "model_format"


class ConstraintError(InputError):
    code = "invalid_constraints"


class ConfigError(InputError):
    code = "invalid_config"


class DependencyError(EAAError):
    code = "missing_dependency"


class ModelLoadError(EAAError):
    code = "model_load"


class ExportError(EAAError):
    code = "export_failed"


class AnalysisError(EAAError):
    code = "analysis_failed"


class TechniqueError(EAAError):
    code = "technique_failed"


class EvaluationError(EAAError):
    code = "evaluation_failed"


class PlanningError(EAAError):
    code = "planning_failed"


class TargetUnavailableError(EAAError):
    code = "target_unavailable"


class DeploymentError(EAAError):
    code = "deployment_failed"


class SimulationError(EAAError):
    code = "simulation_failed"


class StoreError(EAAError):
    code = "store_error"


class NotFoundError(StoreError):
    code = "not_found"


class JobError(EAAError):
    code = "job_error"


def first_line(exc: BaseException, limit: int = 400) -> str:
    """The first line of a third-party exception's message (at most ``limit`` characters, without
    the terminal colour codes torch adds), for our message; ``raise X(...) from exc`` keeps the
    rest. Its type name when the message is empty.

    Example:
        >>> first_line(ValueError("bad shape\n  at node 3"))
        'bad shape'
    """
    text = _ANSI_COLOUR.sub("", str(exc)).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def describe(exc: BaseException) -> str:
    """``Type: first line`` of a third-party exception, for messages that name what failed.

    Example:
        >>> describe(KeyError("w"))
        "KeyError: 'w'"
    """
    line = first_line(exc)
    return type(exc).__name__ if line == type(exc).__name__ else f"{type(exc).__name__}: {line}"
