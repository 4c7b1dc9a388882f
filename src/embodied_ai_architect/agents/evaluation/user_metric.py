"""A user's own metric: ``--metric module:function`` scores a runnable model on the user's data.

Like NNCF's ``validation_fn(model, dataset)``: the function receives a :class:`RunnableModel`
(call it with a dict of batched inputs, get the outputs back in order) and the evaluation data
(:class:`~embodied_ai_architect.agents.evaluation.data.EvalDataset`: ``inputs``, ``labels``),
and returns a float in [0, 1], higher is better. Example::

    # mypkg/metrics.py
    def top1(model, data):
        logits = model.predict(data.inputs)[0]
        return float((logits.argmax(1) == data.labels).mean())

    branes optimize cnn.onnx --eval-data test.npz --metric mypkg.metrics:top1 --max-accuracy-drop 1
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from embodied_ai_architect.agents.evaluation.accuracy import run_dataset
from embodied_ai_architect.agents.evaluation.data import EvalDataset, Feeds
from embodied_ai_architect.errors import ConfigError, EvaluationError
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.schemas.evaluation import TaskEvaluator, TaskScore
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.imports import import_attribute

_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
UserMetric = Callable[["RunnableModel", EvalDataset], Any]


def check_metric_spec(spec: str) -> str:
    """``module:function`` syntax only (no import); raises ConfigError with a hint."""
    if not _SPEC.match(spec):
        raise ConfigError(
            f"`metric` {spec!r} is not 'module:function'",
            hint="name an importable function, e.g. mypkg.metrics:top1",
            field="metric",
        )
    return spec


def resolve_metric(spec: str) -> UserMetric:
    """Import ``module:function`` from the installed packages; raises ConfigError if it cannot."""
    module_name, _, function = check_metric_spec(spec).partition(":")
    top = module_name.split(".", 1)[0]
    if top in sys.stdlib_module_names or function.startswith("_"):
        # Importing runs module code: the REST API must not be a way to run os:system & co.
        raise ConfigError(
            f"`metric` {spec!r}: metrics come from an installed package, not the standard "
            "library or a private function",
            hint="put def your_metric(model, data) -> float in your own package",
            field="metric",
        )
    metric: UserMetric = import_attribute(
        module_name,
        function,
        what=f"`metric` {spec!r}",
        kind="function",
        hint="install the package that holds the metric (pip install -e your_package) "
        "in the environment that runs the job",
        error=ConfigError,
    )
    return metric


class RunnableModel:
    """What a user metric gets: a model version it can run, whatever its runtime."""

    def __init__(self, handle: ModelHandle):
        self._handle = handle

    @property
    def inputs(self) -> list[TensorSpec]:
        return list(self._handle.inputs)

    def __call__(self, feeds: Feeds) -> list[np.ndarray]:
        """Run one batch (inputs in the model's order or by name); outputs in order."""
        return self.predict(feeds)

    def predict(self, feeds: Feeds) -> list[np.ndarray]:
        """Run stacked inputs (any number of samples, batched as the model allows)."""
        return run_dataset(self._handle, feeds)


class UserMetricEvaluator(TaskEvaluator):
    """Scores each version with the user's function on the user's data."""

    def __init__(self, spec: str, dataset: EvalDataset, fn: UserMetric | None = None):
        self.spec = spec
        self.fn = fn if fn is not None else resolve_metric(spec)
        self.dataset = dataset
        self.name = f"metric:{spec}"

    def screen_size(self) -> int:
        return len(self.dataset)

    def screen(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None, samples: int = 32
    ) -> TaskScore:
        return self._score(handle, self.dataset.take(samples))

    def evaluate(self, handle: ModelHandle, *, reference: ModelHandle | None = None) -> TaskScore:
        del reference
        return self._score(handle, self.dataset)

    def _score(self, handle: ModelHandle, dataset: EvalDataset) -> TaskScore:
        try:
            value = self.fn(RunnableModel(handle), dataset)
        except Exception as exc:
            raise EvaluationError(
                f"`metric` {self.spec!r} raised {type(exc).__name__}: {exc}",
                hint="the metric must accept (model, data) and return a float in [0, 1]",
            ) from exc
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
            raise EvaluationError(
                f"`metric` {self.spec!r} returned {type(value).__name__}, not a number",
                hint="return a float in [0, 1], higher is better",
            )
        number = float(value)
        if not math.isfinite(number) or not 0 <= number <= 1:
            raise EvaluationError(
                f"`metric` {self.spec!r} returned {number!r}, outside [0, 1]",
                hint="return a fraction, higher is better (e.g. accuracy 0.93, not 93)",
            )
        return TaskScore(
            evaluator=self.name,
            metric=self.spec.partition(":")[2],
            value=number,
            samples=len(dataset),
        )
