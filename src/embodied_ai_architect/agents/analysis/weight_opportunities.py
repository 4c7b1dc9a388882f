"""Opportunity rules that read the weights themselves: one dominant layer, low rank, sparsity
and compressibility (sampled, so a 100 M-parameter model stays quick to analyze)."""

from __future__ import annotations

import numpy as np

from embodied_ai_architect.agents.analysis.opportunity_base import (
    OpportunityInputs,
    SuggestedTechnique,
    mb,
    offer,
)
from embodied_ai_architect.agents.analysis.structure import CONV_OPS, EMBEDDING_OPS, LINEAR_OPS
from embodied_ai_architect.schemas.profile import Opportunity

_SVD_MAX_ELEMENTS = 1_000_000  # a larger spectrum would dominate a 100 M model's analysis time
_ZERO_SAMPLE = 2_000_000  # elements sampled per tensor for sparsity / compressibility


def largest_layer(inputs: OpportunityInputs, total: int) -> list[Opportunity]:
    """One layer holding ≥ 20 % of the parameters: the technique suited to its kind."""
    layers = sorted(inputs.structure.layers, key=lambda layer: -layer.parameters)
    if not layers or layers[0].parameters / total < 0.2:
        return []
    top = layers[0]
    share = top.parameters / total
    technique: SuggestedTechnique
    if top.op_type in EMBEDDING_OPS:
        technique, how = "weight_sharing", "tie it with the output head or share/cluster its rows"
    elif top.op_type in CONV_OPS:
        technique, how = "prune_structured", "prune its output channels or quantize it harder"
    else:
        technique, how = "lowrank_svd", "factorize it (low-rank) or quantize it harder"
    return [
        offer(
            technique,
            f"One layer holds {share:.0%} of the parameters",
            f"'{top.name}' ({top.op_type}, {top.parameters:,} parameters) is {share:.0%} "
            f"of the model: {how}.",
            f"up to −{mb(top.parameters * 4 * 0.5)} from this layer alone",
            3 + 4 * share,
        )
    ]


def low_rank(inputs: OpportunityInputs) -> list[Opportunity]:
    """Rank needed for 95 % of the spectral energy of the largest affordable Linear weight."""
    if inputs.read_weight is None:
        return []
    structure = inputs.structure
    shapes = {w.name: w.shape for w in structure.weights}
    for layer in sorted(structure.layers, key=lambda layer: -layer.parameters):
        if layer.op_type not in LINEAR_OPS or not layer.weight_name:
            continue
        shape = shapes.get(layer.weight_name, ())
        if len(shape) != 2 or shape[0] * shape[1] > _SVD_MAX_ELEMENTS or min(shape) < 16:
            continue
        weight = inputs.read_weight(layer.weight_name)
        if weight is None:
            return []
        # Squared singular values are the eigenvalues of the smaller Gram matrix: one GEMM and
        # a symmetric eigensolve instead of a full SVD (~10× cheaper on a 768×3072 weight).
        # One BLAS thread: beside the runtimes' own spinning thread pools, OpenBLAS's threaded
        # eigensolver can slow down without bound (OpenBLAS issue 5517); a peers-benchmark
        # analysis of the reach MLP sat in its inner_thread at 100 % CPU for over 4 minutes.
        from threadpoolctl import threadpool_limits

        matrix = weight.astype(np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
            power = np.clip(np.linalg.eigvalsh(gram.astype(np.float64))[::-1], 0, None)
        energy = np.cumsum(power) / max(float(np.sum(power)), 1e-30)
        rank = int(np.searchsorted(energy, 0.95) + 1)
        rows, cols = shape
        kept = rank * (rows + cols) / (rows * cols)
        near_full = " — the weights are close to full rank, so SVD gains little"
        return [
            offer(
                "lowrank_svd",
                f"Low-rank factorization of '{layer.name}'",
                f"rank {rank} of {min(shape)} keeps 95 % of the spectral energy of "
                f"'{layer.name}' {list(shape)}; factorized it needs {kept:.0%} of its parameters"
                + (near_full if kept >= 0.8 else ""),
                f"{max(0.0, 1 - kept):.0%} fewer parameters in that layer",
                max(0.5, 2 + 6 * (1 - kept)) if kept < 1 else 0.5,
            )
        ]
    return []


def weight_statistics(inputs: OpportunityInputs) -> list[Opportunity]:
    """Near-zero fraction (pruning headroom) and zstd ratio (packing) on sampled weights."""
    if inputs.read_weight is None:
        return []
    import zstandard

    near_zero = 0
    sampled = 0
    chunks: list[bytes] = []
    for record in sorted(inputs.structure.weights, key=lambda w: -w.numel)[:8]:
        weight = inputs.read_weight(record.name)
        if weight is None or not np.issubdtype(weight.dtype, np.floating):
            continue
        flat = weight.reshape(-1)[:_ZERO_SAMPLE]
        peak = float(np.abs(flat).max()) if flat.size else 0.0
        near_zero += int(np.count_nonzero(np.abs(flat) <= 1e-3 * peak))
        sampled += flat.size
        chunks.append(flat.tobytes())
    if not sampled:
        return []
    sparsity = near_zero / sampled
    raw = b"".join(chunks)[: 8 * 1024 * 1024]
    ratio = len(raw) / max(len(zstandard.ZstdCompressor(level=3).compress(raw)), 1)
    dense = (
        "; the model is dense, so pruning needs fine-tuning and pays off mainly with "
        "compression or sparse kernels"
    )
    return [
        offer(
            "prune_magnitude",
            "Unstructured magnitude pruning",
            f"{sparsity:.1%} of sampled weights are already ≈0 (|w| ≤ 0.1 % of the "
            "tensor's max)"
            + (dense if sparsity < 0.2 else "; they can be zeroed at almost no cost"),
            "smaller compressed artifact; no speed-up with dense kernels",
            1.5 + 6 * sparsity,
        ),
        offer(
            "pack_zstd",
            "Compact packing (zstd) for storage and transfer",
            f"zstd compresses the sampled FP weights {ratio:.2f}×"
            + (" (random-like mantissas compress little)" if ratio < 1.2 else ""),
            f"artifact ~{1 / ratio:.0%} of its size on disk/over the air",
            min(5.0, 1 + 2 * (ratio - 1)),
        ),
    ]
