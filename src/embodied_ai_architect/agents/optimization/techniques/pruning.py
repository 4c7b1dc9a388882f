"""Pruning: unstructured magnitude pruning (sparse storage) and structured pruning (smaller model).

``prune_magnitude`` zeroes the smallest weights; the dense model does not get faster, so the
gain is storage: the artifact keeps only the non-zeros (CSR, zstd-compressed).
``prune_structured`` removes whole channels, MLP neurons and attention heads and rebuilds the
layers, so parameter count, file size and latency all go down.

Example:
    >>> result = apply_technique("prune_structured", handle, ctx, {"ratio": 0.5})  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import SEARCH_KEY, searched
from embodied_ai_architect.agents.optimization.torch_helpers import (
    check_same_outputs,
    clone_module,
    derived_handle,
    example_tensors,
    file_size,
    output_drift,
    output_shapes,
    parameter_count,
    require_torch_handle,
    save_module,
    source_and_clone,
    state_bytes,
)
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import ModelHandle

if TYPE_CHECKING:
    from torch import nn

    from embodied_ai_architect.agents.optimization.training_utils import TrainingArrays

# The ratio ``prune_channels`` takes; distillation's pruned student is cut with it too.
WidthRatio = Annotated[float, Field(gt=0, lt=1, json_schema_extra={SEARCH_KEY: [0.25, 0.5, 0.75]})]
# The optional fine-tuning both pruning techniques run when ctx.training_data is given.
FinetuneEpochs = Annotated[
    int,
    Field(
        ge=0,
        le=100,
        description="Fine-tuning epochs when ctx.training_data is given (magnitude pruning "
        "keeps its masks while training).",
    ),
]
FinetuneLr = Annotated[float, Field(gt=0, le=1, description="Adam learning rate for fine-tuning.")]
FinetuneBatch = Annotated[int, Field(ge=1, description="Fine-tuning batch size.")]


class PruneMagnitudeConfig(TechniqueConfig):
    """Unstructured L1-magnitude pruning of Conv/Linear weights."""

    technique: ClassVar[str] = "prune_magnitude"

    sparsity: float = searched(
        0.5,
        gt=0,
        lt=1,
        description="Fraction of the selected weights set to zero (0 < sparsity < 1).",
        search=[0.3, 0.5, 0.7, 0.9],
    )
    scope: Literal["global", "layer"] = searched(
        "global",
        description="global: one threshold over all selected weights; layer: the same sparsity "
        "in every layer.",
        search=["global", "layer"],
    )
    ignore: tuple[str, ...] = Field(
        (), description="Module names (named_modules) whose weights are left dense."
    )
    zstd_level: int = Field(19, ge=1, le=22, description="zstd level of the compact artifact.")
    finetune_epochs: FinetuneEpochs = 1
    finetune_lr: FinetuneLr = 1e-3
    batch_size: FinetuneBatch = 64


class PruneStructuredConfig(TechniqueConfig):
    """Structured pruning: channels, MLP neurons and attention heads removed for real."""

    technique: ClassVar[str] = "prune_structured"

    ratio: WidthRatio = Field(
        0.5, description="Fraction of channels / neurons / heads removed from every prunable group."
    )
    importance: Literal["l1", "l2"] = Field(
        "l2", description="Norm ranking the channels (smallest are removed)."
    )
    global_pruning: bool = Field(
        False, description="Rank channels across layers instead of the same ratio per layer."
    )
    round_to: int | None = Field(
        None, ge=1, description="Keep channel counts a multiple of this (e.g. 8 for SIMD)."
    )
    prune_heads: bool = Field(True, description="Also remove whole attention heads.")
    ignore: tuple[str, ...] = Field(
        (), description="Module names (named_modules) never pruned on their output side."
    )
    finetune_epochs: FinetuneEpochs = 1
    finetune_lr: FinetuneLr = 1e-3
    batch_size: FinetuneBatch = 64
    holdout: float = Field(
        0.1, gt=0, lt=0.5, description="Share of the training data held out to report accuracy."
    )


def _finetune(
    module: nn.Module,
    data: TrainingArrays,
    config: PruneMagnitudeConfig | PruneStructuredConfig,
    ctx: TechniqueContext,
    *,
    span: tuple[float, float],
) -> list[float]:
    """Fine-tune ``module`` in place on (x, y), seeded, reporting each epoch within ``span``."""
    import torch

    from embodied_ai_architect.agents.optimization.training_utils import fit_supervised

    low, high = span
    torch.manual_seed(ctx.seed)
    return fit_supervised(
        module,
        data,
        epochs=config.finetune_epochs,
        lr=config.finetune_lr,
        batch_size=config.batch_size,
        seed=ctx.seed,
        on_epoch=lambda epoch, loss: ctx.emit(
            low + (high - low) * (epoch + 1) / config.finetune_epochs,
            f"fine-tune epoch {epoch + 1}/{config.finetune_epochs}: loss {loss:.4f}",
            {"epoch": epoch + 1, "loss": loss},
        ),
    )


@register_technique(
    PruneMagnitudeConfig,
    TechniqueManifest.torch_rewrite(
        TechniqueFamily.PRUNING,
        "Unstructured magnitude pruning; smaller compressed artifact, same latency.",
        requires=["torch", "zstandard"],
    ),
)
def prune_magnitude(
    handle: ModelHandle, config: PruneMagnitudeConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from torch import nn
    from torch.nn.utils import prune

    from embodied_ai_architect.agents.optimization.sparse_store import save_sparse_state

    source, module = source_and_clone(handle, config.technique)
    named = dict(module.named_modules())
    unknown = [name for name in config.ignore if name not in named]
    if unknown:
        raise ConfigError(
            f"ignore lists modules that do not exist: {unknown}",
            hint=f"use names from named_modules(), e.g. {list(named)[1:6]}",
        )
    targets = [
        (layer, "weight")
        for name, layer in named.items()
        if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Linear) and name not in config.ignore
    ] + [
        (layer, "in_proj_weight")
        for name, layer in named.items()
        if isinstance(layer, nn.MultiheadAttention)
        and layer.in_proj_weight is not None
        and name not in config.ignore
    ]
    if not targets:
        raise ConfigError(
            "the model has no Conv/Linear weights to prune",
            hint="magnitude pruning applies to convolution and linear layers",
        )
    ctx.emit(20, f"pruning {len(targets)} layers to {config.sparsity:.0%} sparsity")
    if config.scope == "global":
        prune.global_unstructured(
            targets, pruning_method=prune.L1Unstructured, amount=config.sparsity
        )
    else:
        for layer, attribute in targets:
            prune.l1_unstructured(layer, attribute, amount=config.sparsity)
    changes: list[str] = []
    if ctx.training_data is not None and config.finetune_epochs > 0:
        from embodied_ai_architect.agents.optimization.training_utils import training_arrays

        data = training_arrays(ctx.training_data, what="prune_magnitude fine-tuning")
        # The masks are still attached here, so pruned weights stay exactly zero while the
        # surviving ones recover the accuracy.
        losses = _finetune(module, data, config, ctx, span=(30, 55))
        changes.append(f"fine-tuned {config.finetune_epochs} epoch(s), final loss {losses[-1]:.4f}")
    for layer, attribute in targets:
        prune.remove(layer, attribute)  # bakes the mask into the weight: pruning is permanent
    owners = {id(layer): name for name, layer in named.items()}
    pruned_names = {f"{owners[id(layer)]}.{attribute}".lstrip(".") for layer, attribute in targets}
    weights = [getattr(layer, attribute) for layer, attribute in targets]
    total = sum(weight.numel() for weight in weights)
    zeros = sum(int((weight == 0).sum()) for weight in weights)
    all_params = parameter_count(module)
    all_zeros = sum(int((p == 0).sum()) for p in module.parameters())
    ctx.emit(60, "writing the sparse artifact")
    store = save_sparse_state(
        module.state_dict(), pruned_names, ctx.path("pruned_sparse.npz.zst"), config.zstd_level
    )
    model_path = save_module(module, source, ctx.path("pruned_magnitude.pt2"))
    result_handle = derived_handle(
        source,
        module,
        suffix="sparse",
        path=model_path,
        metadata={"sparse_artifact": str(store.path)},
    )
    return TechniqueResult(
        handle=result_handle,
        changes=[
            f"zeroed {zeros:,} of {total:,} weights in {len(targets)} layers ({config.scope})",
            f"compact artifact {store.path.name}: {store.dense_bytes:,} → {store.file_bytes:,} "
            "bytes",
            *changes,
        ],
        warnings=[
            "unstructured sparsity does not speed up dense runtimes; use prune_structured "
            "for latency"
        ],
        metrics={
            "sparsity": zeros / total,
            "model_sparsity": all_zeros / all_params,
            "dense_bytes": float(store.dense_bytes),
            "csr_bytes": float(store.csr_bytes),
            "sparse_file_bytes": float(store.file_bytes),
            "compression_ratio": store.dense_bytes / store.file_bytes,
        },
    )


@register_technique(
    PruneStructuredConfig,
    TechniqueManifest.torch_rewrite(
        TechniqueFamily.PRUNING,
        "Structured channel / neuron / head pruning (torch_pruning dependency graph); fewer "
        "parameters, smaller file, lower latency; optional fine-tune.",
        requires=["torch", "torch_pruning"],
        model_families=["cnn", "resnet", "vit", "detector", "mlp_policy", "transformer_policy"],
    ),
)
def prune_structured(
    handle: ModelHandle, config: PruneStructuredConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.pruning_utils import prune_channels
    from embodied_ai_architect.agents.optimization.training_utils import (
        task_score,
        training_arrays,
    )

    source = require_torch_handle(handle, config.technique)
    data = (
        training_arrays(ctx.training_data, what="prune_structured fine-tuning")
        if ctx.training_data is not None and config.finetune_epochs > 0
        else None
    )
    module = clone_module(source)
    args = example_tensors(source)
    shapes = output_shapes(module, args)
    if data is not None and len(shapes) != 1:
        # Fail before pruning: (x, y) fine-tuning needs one output to compare y with.
        raise ConfigError(
            f"fine-tuning with (x, y) needs a single-output model; this one has {len(shapes)}",
            hint="prune without training data (finetune_epochs=0), then distill with loss='mse'",
        )
    params_before = parameter_count(module)
    bytes_before = state_bytes(module)
    ctx.emit(10, f"pruning {config.ratio:.0%} of channels / neurons / heads")
    outcome = prune_channels(
        module,
        args,
        ratio=config.ratio,
        importance=config.importance,
        global_pruning=config.global_pruning,
        round_to=config.round_to,
        ignore=list(config.ignore),
        prune_heads=config.prune_heads,
    )
    check_same_outputs(shapes, module, args, "structured pruning")
    params_after = parameter_count(module)
    metrics: dict[str, float] = {
        "params_before": float(params_before),
        "params_after": float(params_after),
        "param_ratio": params_after / params_before,
        "bytes_before": float(bytes_before),
        "bytes_after": float(state_bytes(module)),
        "heads_before": float(outcome.heads_before),
        "heads_after": float(outcome.heads_after),
    }
    changes = [
        f"removed {1 - params_after / params_before:.0%} of the parameters "
        f"({params_before:,} → {params_after:,}); output layers kept: "
        f"{', '.join(outcome.output_layers) or 'none'}"
    ]
    if outcome.heads_before:
        changes.append(f"attention heads {outcome.heads_before} → {outcome.heads_after}")
    if params_after >= params_before:
        raise ConfigError(
            "structured pruning found nothing to remove in this model",
            hint="every layer is an output layer or ignored; check the `ignore` list",
        )
    if data is not None:
        train, held = data.split(config.holdout, ctx.seed)
        metrics["holdout_score_original"] = task_score(source.module, held)
        metrics["holdout_score_pruned"] = task_score(module, held)

        losses = _finetune(module, train, config, ctx, span=(40, 80))
        metrics["finetune_loss"] = losses[-1]
        metrics["holdout_score_finetuned"] = task_score(module, held)
        changes.append(f"fine-tuned {config.finetune_epochs} epoch(s) ({data.task})")
    ctx.emit(85, "saving the pruned model")
    path: Path = save_module(module, source, ctx.path("pruned_structured.pt2"))
    metrics["file_bytes"] = float(file_size(path))
    result = derived_handle(source, module, suffix=f"pruned{int(config.ratio * 100)}", path=path)
    # Fidelity on synthetic inputs: a cheap signal even when no labelled data was given.
    metrics["relative_output_change"] = output_drift(source, result)
    return TechniqueResult(
        handle=result,
        changes=changes,
        metrics=metrics,
    )
