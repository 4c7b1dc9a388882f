"""Small supervised training loops used by fine-tuning (pruning) and distillation.

Training data arrives as ``ctx.training_data = (x, y)`` numpy arrays; the task is read from
``y``'s dtype: integer labels → classification (cross-entropy), floats → regression (MSE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from embodied_ai_architect.errors import ConfigError, InputError

if TYPE_CHECKING:
    import torch
    from torch import nn

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class TrainingArrays:
    """Validated training data: inputs, targets and the task they imply."""

    x: np.ndarray
    y: np.ndarray
    task: Task

    def split(self, holdout: float, seed: int) -> tuple[TrainingArrays, TrainingArrays]:
        """A reproducible (train, held-out) split; the held-out part gets ``holdout`` of the rows."""
        order = np.random.default_rng(seed).permutation(len(self.x))
        cut = max(1, round(len(self.x) * holdout))
        if cut >= len(self.x):
            raise InputError(
                f"{len(self.x)} training samples cannot be split {1 - holdout:.0%}/{holdout:.0%}",
                hint="provide more training samples or lower the held-out fraction",
            )
        held, train = order[:cut], order[cut:]
        return (
            TrainingArrays(self.x[train], self.y[train], self.task),
            TrainingArrays(self.x[held], self.y[held], self.task),
        )


def training_arrays(data: Any, *, what: str) -> TrainingArrays:
    """Validate ``ctx.training_data``; raise InputError with a hint when it is unusable."""
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise InputError(
            f"{what} needs training data as a pair (x, y) of numpy arrays, "
            f"got {type(data).__name__}",
            hint="pass TechniqueContext(training_data=(x_train, y_train))",
        )
    x, y = (np.asarray(part) for part in data)
    if len(x) == 0 or len(x) != len(y):
        raise InputError(
            f"training data has {len(x)} inputs and {len(y)} targets",
            hint="x and y must hold the same, non-zero number of samples along axis 0",
        )
    task: Task = "classification" if np.issubdtype(y.dtype, np.integer) else "regression"
    if task == "regression" and not np.issubdtype(y.dtype, np.floating):
        raise InputError(
            f"training targets have dtype {y.dtype}; expected integer labels or float targets",
            hint="use int64 class labels for classification or float32 targets for regression",
        )
    x = x.astype(np.float32, copy=False)
    y = y.astype(np.int64 if task == "classification" else np.float32, copy=False)
    return TrainingArrays(x, y, task)


def supervised_loss(task: Task) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    import torch.nn.functional as functional

    if task == "classification":
        return functional.cross_entropy
    return functional.mse_loss


def single_output(result: Any) -> torch.Tensor:
    """The one tensor a trainable model returns; multi-output models need their own loss."""
    import torch

    if isinstance(result, torch.Tensor):
        return result
    raise ConfigError(
        f"training with (x, y) needs a single-output model; this one returns {type(result).__name__}",
        hint="fine-tune / distill multi-output models (detectors) without labels (fidelity only)",
    )


def fit_supervised(
    module: nn.Module,
    data: TrainingArrays,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``module`` in place with Adam; returns the mean loss of every epoch."""
    import torch

    loss_fn = supervised_loss(data.task)
    x = torch.from_numpy(data.x)
    y = torch.from_numpy(data.y)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    module.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            output = single_output(module(x[batch]))
            target = y[batch]
            if data.task == "regression":
                target = target.reshape(output.shape)
            loss = loss_fn(output, target)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        losses.append(total / count)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    module.eval()
    return losses


def predict(module: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    import torch

    module.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
            outputs.append(single_output(module(batch)).numpy())
    return np.concatenate(outputs)


def task_score(module: nn.Module, data: TrainingArrays) -> float:
    """Accuracy for classification, negative MSE for regression (higher is better for both)."""
    predictions = predict(module, data.x)
    if data.task == "classification":
        return float((predictions.argmax(axis=1) == data.y).mean())
    return -float(np.mean((predictions.reshape(data.y.shape) - data.y) ** 2))
