"""Numerical building blocks of the compression techniques: BN folding, SVD, 1-D k-means."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from embodied_ai_architect.errors import TechniqueError, describe

_BN = nn.BatchNorm1d | nn.BatchNorm2d
_FOLDABLE = nn.Conv1d | nn.Conv2d | nn.Linear


def set_submodule(root: nn.Module, name: str, replacement: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, replacement)


def batchnorm_pairs(module: nn.Module, args: tuple[torch.Tensor, ...]) -> list[tuple[str, str]]:
    """(layer, batchnorm) names where the BN reads the layer's output and nothing else does.

    Found by tracing the forward pass, so it works across Sequential containers and custom
    blocks alike; a layer whose output also feeds something else cannot absorb the BN.
    """
    try:
        traced = fx.symbolic_trace(module)
        ShapeProp(traced).propagate(*args)
    except Exception as exc:  # FX raises many types on data-dependent Python control flow
        raise TechniqueError(
            f"cannot trace the model to find Conv→BatchNorm pairs: {describe(exc)}",
            hint="models with data-dependent control flow cannot be BN-folded automatically; "
            "export to ONNX and use onnx_graph_optimize, which folds BN in the graph",
        ) from exc
    modules = dict(module.named_modules())
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    pairs: list[tuple[str, str]] = []
    for node in traced.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[str(node.target)], _BN):
            continue
        producer = node.args[0]
        if not isinstance(producer, fx.Node) or producer.op != "call_module":
            continue
        layer = modules[str(producer.target)]
        if not isinstance(layer, _FOLDABLE) or len(producer.users) != 1:
            continue
        if calls[str(producer.target)] != 1 or calls[str(node.target)] != 1:
            continue  # shared modules are used elsewhere with other statistics
        if isinstance(layer, nn.Linear) and len(producer.meta["tensor_meta"].shape) != 2:
            continue  # BatchNorm1d on (N, C, L) normalises dim 1, not the Linear's features
        pairs.append((str(producer.target), str(node.target)))
    return pairs


def fold_pair(root: nn.Module, layer_name: str, bn_name: str) -> None:
    """Replace ``layer`` by its BN-folded equivalent and the BN by an identity."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    layer = root.get_submodule(layer_name)
    bn = root.get_submodule(bn_name)
    if bn.running_mean is None or bn.running_var is None:
        raise TechniqueError(
            f"{bn_name} has no running statistics (track_running_stats=False)",
            hint="such a BatchNorm normalises per batch and cannot be folded",
        )
    fused: nn.Module
    if isinstance(layer, nn.Linear):
        fused = fuse_linear_bn_eval(layer, bn)  # type: ignore[arg-type]
    elif isinstance(layer, nn.Conv1d | nn.Conv2d):
        fused = fuse_conv_bn_eval(layer, bn)  # type: ignore[arg-type]
    else:
        raise TechniqueError(f"{layer_name} is not a Conv/Linear layer", hint="report this bug")
    set_submodule(root, layer_name, fused)
    set_submodule(root, bn_name, nn.Identity())


@dataclass(frozen=True)
class Factorization:
    name: str
    rank: int
    params_before: int
    params_after: int
    energy: float  # share of the squared singular values kept


def factorize(layer: nn.Linear | nn.Conv2d, rank: int) -> tuple[nn.Sequential, float]:
    """W ≈ (U·√S)(√S·Vᵀ) as two thinner layers; returns them and the energy kept."""
    weight = layer.weight.detach()
    matrix = weight.reshape(weight.shape[0], -1)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    root = s[:rank].sqrt()
    first_w = root[:, None] * vh[:rank]
    second_w = u[:, :rank] * root[None, :]
    energy = float((s[:rank] ** 2).sum() / (s**2).sum()) if float(s.sum()) > 0 else 1.0
    has_bias = layer.bias is not None
    first: nn.Linear | nn.Conv2d
    second: nn.Linear | nn.Conv2d
    if isinstance(layer, nn.Linear):
        first = nn.Linear(layer.in_features, rank, bias=False)
        second = nn.Linear(rank, layer.out_features, bias=has_bias)
    else:
        stride = (int(layer.stride[0]), int(layer.stride[1]))
        first = nn.Conv2d(layer.in_channels, rank, 1, stride=stride, bias=False)
        second = nn.Conv2d(rank, layer.out_channels, 1, bias=has_bias)
    with torch.no_grad():
        first.weight.copy_(first_w.reshape(first.weight.shape))
        second.weight.copy_(second_w.reshape(second.weight.shape))
        if has_bias:
            second.bias.copy_(layer.bias.detach())  # type: ignore[union-attr, operator]
    return nn.Sequential(first, second), energy


def rank_for_energy(layer: nn.Linear | nn.Conv2d, energy: float) -> int:
    """Smallest rank whose singular values keep ``energy`` of the squared spectrum."""
    matrix = layer.weight.detach().reshape(layer.weight.shape[0], -1)
    s = torch.linalg.svdvals(matrix)
    cumulative = torch.cumsum(s**2, 0) / (s**2).sum()
    return int(torch.searchsorted(cumulative, torch.tensor(energy)).item()) + 1


def kmeans_1d(values: torch.Tensor, clusters: int, iterations: int = 25) -> torch.Tensor:
    """Lloyd's k-means on scalars with linear initialisation (as in Deep Compression).

    Returns the sorted centroids; assignments follow from :func:`assign`. Linear init keeps
    centroids on the rare large weights, which matter most for accuracy.
    """
    flat = values.detach().flatten().double()
    low, high = float(flat.min()), float(flat.max())
    centroids = torch.linspace(low, high, clusters, dtype=torch.float64)
    for _ in range(iterations):
        labels = assign(flat, centroids)
        sums = torch.zeros(clusters, dtype=torch.float64).index_add_(0, labels, flat)
        counts = torch.bincount(labels, minlength=clusters).double()
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.allclose(updated, centroids):
            break
        centroids = torch.sort(updated).values
    return centroids


def assign(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid for every value (centroids sorted ascending)."""
    boundaries = (centroids[1:] + centroids[:-1]) / 2
    return torch.bucketize(values.flatten().to(centroids.dtype), boundaries)
