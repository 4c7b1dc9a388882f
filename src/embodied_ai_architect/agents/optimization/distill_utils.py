"""Distillation building blocks: where the inputs come from, teacher targets, and the losses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.agents.optimization.training_utils import training_arrays
from embodied_ai_architect.errors import ConfigError, InputError
from embodied_ai_architect.modelio.handle import TorchModelHandle, make_feeds

if TYPE_CHECKING:
    import torch
    from torch import nn

    from embodied_ai_architect.agents.optimization.base import TechniqueContext


@dataclass(frozen=True)
class DistillData:
    """Inputs to distil on, optional ground-truth labels, and where the inputs came from."""

    x: np.ndarray
    y: np.ndarray | None
    source: str  # "training data", "calibration data" or "synthetic inputs"


def distill_data(handle: TorchModelHandle, ctx: TechniqueContext, num_samples: int) -> DistillData:
    """Labelled training data if given, else calibration samples, else synthetic inputs."""
    if len(handle.inputs) != 1:
        raise ConfigError(
            f"distillation supports single-input models; this one has {len(handle.inputs)}",
            hint="wrap the model so that it takes one tensor",
        )
    if ctx.training_data is not None:
        arrays = training_arrays(ctx.training_data, what="distillation")
        return DistillData(arrays.x, arrays.y, "training data")
    name = handle.inputs[0].name
    if ctx.calibration is not None:
        samples = [feeds[name] for feeds in ctx.calibration.samples()]
        if not samples:
            raise InputError("the calibration provider yielded no samples", hint="check its data")
        return DistillData(np.concatenate(samples).astype(np.float32), None, "calibration data")
    # Gaussian inputs cover the signature but not the real input distribution: fidelity on
    # them says little about task accuracy, so the technique warns when it falls back here.
    specs = [
        spec.model_copy(update={"shape": ["batch", *spec.shape[1:]]}) for spec in handle.inputs
    ]
    feeds = make_feeds(specs, batch=num_samples, seed=ctx.seed)
    return DistillData(feeds[name].astype(np.float32), None, "synthetic inputs")


def output_list(result: Any) -> list[torch.Tensor]:
    """A model's outputs as a flat list of tensors (tensor, tuple or dict outputs)."""
    import torch

    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        return [t for value in result.values() for t in output_list(value)]
    if isinstance(result, list | tuple):
        return [t for value in result for t in output_list(value)]
    raise ConfigError(
        f"cannot distil a model returning {type(result).__name__}",
        hint="models must return tensors, or tuples / dicts of tensors",
    )


def teacher_outputs(teacher: nn.Module, x: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
    """The frozen teacher's outputs on every input, computed once."""
    import torch

    teacher.eval()
    chunks: list[list[np.ndarray]] = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            outputs = output_list(teacher(torch.from_numpy(x[start : start + batch_size])))
            chunks.append([o.numpy() for o in outputs])
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def kd_loss(
    student: list[torch.Tensor],
    teacher: list[torch.Tensor],
    *,
    kind: str,
    temperature: float,
    scales: list[float],
) -> torch.Tensor:
    """KL on softened logits (Hinton et al.: × T²) or MSE scaled by each output's variance.

    Scaling MSE by the teacher's output variance keeps a detector's pixel boxes from drowning
    its [0, 1] class scores, and makes the loss read as "fraction of variance not matched".
    """
    import torch.nn.functional as functional

    if kind == "kl":
        s, t = student[0], teacher[0]
        return functional.kl_div(
            functional.log_softmax(s / temperature, dim=-1),
            functional.log_softmax(t / temperature, dim=-1),
            log_target=True,
            reduction="batchmean",
        ) * (temperature**2)
    losses = [
        functional.mse_loss(s, t) / scale
        for s, t, scale in zip(student, teacher, scales, strict=True)
    ]
    total = losses[0]
    for extra in losses[1:]:
        total = total + extra
    return total


def output_scales(outputs: list[np.ndarray]) -> list[float]:
    return [max(float(np.var(o)), 1e-8) for o in outputs]


class FeatureTap:
    """Captures the input of a model's output layer (the penultimate features)."""

    def __init__(self, module: nn.Module, layer_name: str):
        self.value: torch.Tensor | None = None
        layer = module.get_submodule(layer_name)
        self._handle = layer.register_forward_pre_hook(self._store)

    def _store(self, _module: nn.Module, args: tuple[Any, ...]) -> None:
        self.value = args[0].flatten(1)

    def remove(self) -> None:
        self._handle.remove()


def head_layer_name(module: nn.Module) -> str:
    """The last Linear layer (the classifier / action head) for feature matching."""
    from torch import nn

    names = [name for name, layer in module.named_modules() if isinstance(layer, nn.Linear)]
    if not names:
        raise ConfigError(
            "feature matching needs a Linear output layer; this model has none",
            hint="set feature_weight=0 for this model",
        )
    return names[-1]
