"""Knowledge distillation: train a smaller student to reproduce the teacher.

The student is a structurally pruned copy of the teacher (keeps its weights as a start) or a
narrower, freshly initialised member of its family. It learns from the teacher's outputs
(KL on softened logits, or variance-scaled MSE on actions / boxes), mixed with ground-truth
labels when ``ctx.training_data`` has them, with early stopping on a held-out split.

Example:
    >>> apply_technique("distill", handle, ctx, {"student": "smaller", "ratio": 0.5})  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import searched
from embodied_ai_architect.agents.optimization.techniques.pruning import WidthRatio
from embodied_ai_architect.agents.optimization.torch_helpers import (
    clone_module,
    derived_handle,
    example_tensors,
    parameter_count,
    save_module,
    source_and_clone,
)
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import ModelHandle

if TYPE_CHECKING:
    from torch import nn

    from embodied_ai_architect.agents.optimization.distill_utils import DistillData


class DistillConfig(TechniqueConfig):
    """Teacher → student distillation."""

    technique: ClassVar[str] = "distill"

    student: Literal["pruned", "smaller"] = searched(
        "pruned",
        description="pruned: structurally pruned copy of the teacher; smaller: a narrower "
        "configuration of the same family, trained from scratch.",
        search=["pruned", "smaller"],
    )
    ratio: WidthRatio = Field(
        0.5, description="Share of the width removed from the student (channels, neurons, heads)."
    )
    loss: Literal["auto", "kl", "mse"] = Field(
        "auto",
        description="kl: KL on temperature-softened logits; mse: variance-scaled MSE on every "
        "output (actions, boxes); auto: kl with integer labels, else mse.",
    )
    temperature: float = searched(
        4.0, gt=0, le=100, description="Softmax temperature of the KL loss.", search=[2.0, 4.0, 8.0]
    )
    alpha: float = Field(
        0.7, ge=0, le=1, description="Weight of the teacher term; 1 - alpha goes to the labels."
    )
    feature_weight: float = Field(
        0.0, ge=0, description="Weight of matching the output layer's input features (0: off)."
    )
    epochs: int = Field(20, ge=1, le=1000, description="Maximum training epochs.")
    lr: float = Field(3e-3, gt=0, le=1, description="Adam learning rate.")
    batch_size: int = Field(64, ge=1, description="Training batch size.")
    patience: int = Field(
        3, ge=1, description="Epochs without held-out improvement before stopping."
    )
    holdout: float = Field(0.15, gt=0, lt=0.5, description="Share of the data held out.")
    num_samples: int = Field(
        1024,
        ge=16,
        description="Inputs drawn when there is no training data (calibration / synthetic).",
    )


@dataclass
class DistillOutcome:
    """What a distillation run produced: the best student and its history."""

    student: nn.Module
    kind: str
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    best_epoch: int = 0
    val_accuracy: float | None = None  # student top-1 vs labels (classification with labels)
    val_agreement: float | None = None  # student top-1 vs teacher top-1 (kl)


def distill_into(
    teacher: nn.Module,
    student: nn.Module,
    data: DistillData,
    config: DistillConfig,
    ctx: TechniqueContext,
    *,
    checkpoint_name: str = "distill_best.pt",
    span: tuple[float, float] = (10.0, 90.0),
) -> DistillOutcome:
    """Train ``student`` (in place) to match ``teacher`` on ``data``; keep the best held-out state.

    Reused by NAS for every trial. The best state dict is checkpointed under ``ctx.workdir``.
    """
    import torch

    from embodied_ai_architect.agents.optimization.distill_utils import (
        FeatureTap,
        head_layer_name,
        kd_loss,
        output_list,
        output_scales,
        teacher_outputs,
    )

    labels_are_classes = data.y is not None and np.issubdtype(data.y.dtype, np.integer)
    kind = config.loss if config.loss != "auto" else ("kl" if labels_are_classes else "mse")
    targets = teacher_outputs(teacher, data.x)
    if data.y is not None and len(targets) != 1:
        raise ConfigError(
            f"labels (x, y) need a single-output model; this one has {len(targets)} outputs",
            hint="distill multi-output models (detectors) from calibration inputs, without labels",
        )
    if kind == "kl" and (len(targets) != 1 or targets[0].ndim != 2):
        raise ConfigError(
            "loss='kl' needs a model with one (batch, classes) logits output",
            hint="use loss='mse' for actions, boxes or several outputs",
        )
    order = np.random.default_rng(ctx.seed).permutation(len(data.x))
    cut = max(1, int(len(order) * config.holdout))
    held, train = order[:cut], order[cut:]
    scales = output_scales([t[train] for t in targets])
    x = torch.from_numpy(data.x)
    t_out = [torch.from_numpy(t) for t in targets]
    y = torch.from_numpy(data.y) if data.y is not None else None
    label_loss = (
        torch.nn.functional.cross_entropy if labels_are_classes else torch.nn.functional.mse_loss
    )

    taps: tuple[FeatureTap, FeatureTap] | None = None
    projection: torch.nn.Module | None = None
    params = list(student.parameters())
    if config.feature_weight > 0:
        head = head_layer_name(teacher)
        taps = (FeatureTap(teacher, head), FeatureTap(student, head))
        with torch.inference_mode():
            sample = x[:2]
            teacher(sample), student(sample)
        assert taps[0].value is not None and taps[1].value is not None
        # A learned projection lets a narrower student match wider teacher features.
        projection = torch.nn.Linear(taps[1].value.shape[1], taps[0].value.shape[1], bias=False)
        params += list(projection.parameters())

    def loss_on(index: torch.Tensor, train_mode: bool) -> torch.Tensor:
        outputs = output_list(student(x[index]))
        loss = config.alpha * kd_loss(
            outputs,
            [t[index] for t in t_out],
            kind=kind,
            temperature=config.temperature,
            scales=scales,
        )
        if y is not None and config.alpha < 1:
            target = y[index]
            loss = loss + (1 - config.alpha) * label_loss(
                outputs[0], target if labels_are_classes else target.reshape(outputs[0].shape)
            )
        if taps is not None and projection is not None and train_mode:
            with torch.no_grad():
                teacher(x[index])
            assert taps[0].value is not None and taps[1].value is not None
            loss = loss + config.feature_weight * torch.nn.functional.mse_loss(
                projection(taps[1].value), taps[0].value
            )
        return loss

    torch.manual_seed(ctx.seed)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    generator = torch.Generator().manual_seed(ctx.seed)
    outcome = DistillOutcome(student=student, kind=kind)
    best_state = copy.deepcopy(student.state_dict())
    best = float("inf")
    held_index = torch.from_numpy(held)
    checkpoint = ctx.path(checkpoint_name)
    low, high = span
    try:
        for epoch in range(config.epochs):
            student.train()
            permutation = torch.from_numpy(train)[torch.randperm(len(train), generator=generator)]
            total = 0.0
            for start in range(0, len(permutation), config.batch_size):
                batch = permutation[start : start + config.batch_size]
                optimizer.zero_grad()
                loss = loss_on(batch, train_mode=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            student.eval()
            with torch.inference_mode():
                val = float(
                    kd_loss(
                        output_list(student(x[held_index])),
                        [t[held_index] for t in t_out],
                        kind=kind,
                        temperature=config.temperature,
                        scales=scales,
                    )
                )
            outcome.train_losses.append(total / len(train))
            outcome.val_losses.append(val)
            if val < best:
                best, outcome.best_epoch = val, epoch + 1
                best_state = copy.deepcopy(student.state_dict())
                torch.save(best_state, checkpoint)
            ctx.emit(
                low + (high - low) * (epoch + 1) / config.epochs,
                f"distill epoch {epoch + 1}: train {outcome.train_losses[-1]:.4f}, "
                f"held-out KD {val:.4f}",
                {"epoch": epoch + 1, "train_loss": outcome.train_losses[-1], "val_kd_loss": val},
            )
            if epoch + 1 - outcome.best_epoch >= config.patience:
                break
    finally:
        if taps is not None:
            for tap in taps:
                tap.remove()
    student.load_state_dict(best_state)
    student.eval()
    with torch.inference_mode():
        logits = output_list(student(x[held_index]))[0].numpy()
    if kind == "kl":
        outcome.val_agreement = float((logits.argmax(1) == targets[0][held].argmax(1)).mean())
    if labels_are_classes and data.y is not None:
        outcome.val_accuracy = float((logits.argmax(1) == data.y[held]).mean())
    return outcome


@register_technique(
    DistillConfig,
    TechniqueManifest.torch_rewrite(
        TechniqueFamily.DISTILLATION,
        "Teacher → student distillation (pruned copy or smaller family member) with KD loss, "
        "optional labels and feature matching, early stopping.",
        requires=["torch", "torch_pruning"],
        needs_data="training",
    ),
)
def distill(handle: ModelHandle, config: DistillConfig, ctx: TechniqueContext) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.distill_utils import distill_data
    from embodied_ai_architect.agents.optimization.pruning_utils import prune_channels
    from embodied_ai_architect.agents.optimization.student_families import smaller_student
    from embodied_ai_architect.agents.optimization.torch_helpers import (
        check_same_outputs,
        output_shapes,
    )

    source, teacher = source_and_clone(handle, config.technique)
    data = distill_data(source, ctx, config.num_samples)
    args = example_tensors(source, batch=2)
    shapes = output_shapes(teacher, args)
    if config.student == "pruned":
        student = clone_module(source)
        prune_channels(student, args, ratio=config.ratio)  # prune_structured's defaults
    else:
        import torch

        torch.manual_seed(ctx.seed)
        student = smaller_student(teacher, 1 - config.ratio)
    check_same_outputs(shapes, student, args, f"the {config.student} student")
    ctx.emit(
        5,
        f"student: {parameter_count(student):,} parameters (teacher {parameter_count(teacher):,}); "
        f"distilling on {len(data.x)} samples of {data.source}",
    )
    outcome = distill_into(teacher, student, data, config, ctx)
    path = save_module(student, source, ctx.path("student.pt2"))
    metrics: dict[str, float] = {
        "params_teacher": float(parameter_count(teacher)),
        "params_student": float(parameter_count(student)),
        "kd_loss_first_epoch": outcome.val_losses[0],
        "kd_loss_best": min(outcome.val_losses),
        "epochs_run": float(len(outcome.val_losses)),
        "best_epoch": float(outcome.best_epoch),
    }
    if outcome.val_agreement is not None:
        metrics["holdout_teacher_agreement"] = outcome.val_agreement
    if outcome.val_accuracy is not None:
        metrics["holdout_accuracy"] = outcome.val_accuracy
    warnings = (
        [
            "no training or calibration data: distilled on synthetic Gaussian inputs, fidelity on "
            "real inputs is unverified"
        ]
        if data.source == "synthetic inputs"
        else []
    )
    return TechniqueResult(
        handle=derived_handle(
            source,
            student,
            suffix=f"student-{config.student}",
            path=path,
            metadata={"checkpoint": str(ctx.path("distill_best.pt"))},
        ),
        changes=[
            f"distilled into a {config.student} student ({parameter_count(student):,} vs "
            f"{parameter_count(teacher):,} parameters) with {outcome.kind} loss on {data.source}, "
            f"{len(outcome.val_losses)} epochs (best {outcome.best_epoch})"
        ],
        warnings=warnings,
        metrics=metrics,
    )
