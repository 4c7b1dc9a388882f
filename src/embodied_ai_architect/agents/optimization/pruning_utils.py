"""Structured pruning machinery: torch_pruning's dependency graph plus attention-head removal.

Channels and MLP neurons are removed with torch_pruning, whose dependency graph keeps residual
additions, concatenations and BatchNorm consistent. ``nn.MultiheadAttention`` fuses its q/k/v
projections and ties its width to the residual stream, so whole heads are removed here by
swapping it for :class:`HeadPrunedAttention`, which keeps the residual width.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from embodied_ai_architect.errors import ConfigError, TechniqueError


class HeadPrunedAttention(nn.Module):
    """Multi-head self/cross attention with fewer heads than the residual width implies.

    Called like ``nn.MultiheadAttention`` (batch_first) and returns ``(output, None)``.
    """

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int, batch_first: bool):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.batch_first = batch_first
        inner = num_heads * head_dim
        self.q_proj = nn.Linear(embed_dim, inner)
        self.k_proj = nn.Linear(embed_dim, inner)
        self.v_proj = nn.Linear(embed_dim, inner)
        self.out_proj = nn.Linear(inner, embed_dim)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        need_weights: bool = False,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, None]:
        if need_weights or key_padding_mask is not None:
            raise TechniqueError(
                "a head-pruned attention layer was called with need_weights / key_padding_mask",
                hint="prune this model with prune_heads=False",
            )
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        batch, length, _ = query.shape

        def heads(projected: torch.Tensor) -> torch.Tensor:
            return projected.reshape(batch, -1, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.q_proj(query)), heads(self.k_proj(key)), heads(self.v_proj(value))
        # The head dimension is unchanged, so the original 1/sqrt(head_dim) scale still applies.
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if attn_mask is not None:
            scores = (
                scores.masked_fill(attn_mask, float("-inf"))
                if attn_mask.dtype == torch.bool
                else scores + attn_mask
            )
        context = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, -1)
        out = self.out_proj(context)
        return (out if self.batch_first else out.transpose(0, 1)), None


def prune_attention_heads(attention: nn.MultiheadAttention, ratio: float) -> HeadPrunedAttention:
    """Keep the ``1 - ratio`` most important heads (L2 norm of their q/k/v/out weights)."""
    if not attention._qkv_same_embed_dim or attention.in_proj_bias is None:
        raise TechniqueError(
            "attention layers with separate k/v widths or without biases are not head-prunable",
            hint="prune this model with prune_heads=False",
        )
    heads, dim = attention.num_heads, attention.embed_dim
    head_dim = dim // heads
    keep = max(1, round(heads * (1 - ratio)))
    weight = attention.in_proj_weight.detach().reshape(3, heads, head_dim, dim)
    out_weight = attention.out_proj.weight.detach().reshape(dim, heads, head_dim)
    score = weight.pow(2).sum(dim=(0, 2, 3)) + out_weight.pow(2).sum(dim=(0, 2))
    kept = torch.sort(torch.topk(score, keep).indices).values
    pruned = HeadPrunedAttention(dim, keep, head_dim, attention.batch_first)
    bias = attention.in_proj_bias.detach().reshape(3, heads, head_dim)
    with torch.no_grad():
        for index, projection in enumerate((pruned.q_proj, pruned.k_proj, pruned.v_proj)):
            projection.weight.copy_(weight[index, kept].reshape(keep * head_dim, dim))
            projection.bias.copy_(bias[index, kept].reshape(-1))
        pruned.out_proj.weight.copy_(out_weight[:, kept].reshape(dim, keep * head_dim))
        pruned.out_proj.bias.copy_(attention.out_proj.bias.detach())
    return pruned


@dataclass
class StructuredOutcome:
    """What structured pruning removed (reported in the technique's changes and metrics)."""

    heads_before: int = 0
    heads_after: int = 0
    output_layers: list[str] = field(default_factory=list)


def output_layers(module: nn.Module, graph: Any) -> list[nn.Module]:
    """Conv/Linear layers whose output channels reach a model output without another layer.

    Pruning their output channels would change the output size (the classifier, action head,
    box/score heads), so they are never pruned on the output side.
    """
    found: list[nn.Module] = []
    for layer in module.modules():
        if not isinstance(layer, nn.Conv2d | nn.Conv1d | nn.Linear):
            continue
        pruner = graph.get_pruner_of_module(layer)
        group = graph.get_pruning_group(layer, pruner.prune_out_channels, idxs=[0])
        # Another weighted layer reading these channels means they are internal, not outputs.
        consumers = [
            dep
            for dep, _ in group
            if dep.target.module is not layer
            and isinstance(
                dep.target.module, nn.Conv2d | nn.Conv1d | nn.Linear | nn.MultiheadAttention
            )
            and not graph.is_out_channel_pruning_fn(dep.handler)
        ]
        if not consumers:
            found.append(layer)
    return found


def prune_channels(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    *,
    ratio: float,
    importance: Literal["l1", "l2"] = "l2",
    global_pruning: bool = False,
    round_to: int | None = None,
    ignore: Sequence[str] = (),
    prune_heads: bool = True,
) -> StructuredOutcome:
    """Prune ``module`` in place; attention heads first, then channels / neurons.

    The defaults are ``PruneStructuredConfig``'s (distillation's pruned student uses them).
    """
    import torch_pruning as tp

    named = dict(module.named_modules())
    missing = [name for name in ignore if name not in named]
    if missing:
        raise ConfigError(
            f"ignore lists modules that do not exist: {missing}",
            hint=f"use module names from named_modules(), e.g. {list(named)[1:6]}",
        )
    outcome = StructuredOutcome()
    attentions = [(n, m) for n, m in named.items() if isinstance(m, nn.MultiheadAttention)]
    for name, attention in attentions:
        outcome.heads_before += attention.num_heads
        if prune_heads and name not in ignore:
            replacement = prune_attention_heads(attention, ratio)
            _set_submodule(module, name, replacement)
            outcome.heads_after += replacement.num_heads
        else:
            outcome.heads_after += attention.num_heads
    named = dict(module.named_modules())
    with warnings.catch_warnings():
        # Parameters such as positional embeddings trigger an "unwrapped parameters" warning;
        # they belong to the residual stream, which is ignored below anyway.
        warnings.simplefilter("ignore")
        graph = tp.DependencyGraph().build_dependency(module, example_inputs=args)
        outputs = output_layers(module, graph)
        # The residual width of transformers is tied to the attention layers: keep it intact.
        attention_like = [
            m for m in named.values() if isinstance(m, nn.MultiheadAttention | HeadPrunedAttention)
        ]
        ignored = outputs + attention_like + [named[name] for name in ignore]
        outcome.output_layers = [n for n, m in named.items() if any(m is o for o in outputs)]
        pruner = tp.pruner.MetaPruner(
            module,
            args,
            importance=tp.importance.MagnitudeImportance(p=1 if importance == "l1" else 2),
            global_pruning=global_pruning,
            pruning_ratio=ratio,
            ignored_layers=ignored,
            round_to=round_to,
        )
        pruner.step()
    return outcome


def _set_submodule(root: nn.Module, name: str, replacement: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, replacement)
