"""Compression: BN folding, ORT graph optimization, low-rank SVD, weight sharing, zstd packing.

weight_sharing and pack_zstd live in ``agents/optimization/storage_compression.py`` and are
registered by the import at the end of this module.

Every technique reports the size before and after (``bytes_before`` / ``bytes_after``) and
writes its artifact under ``ctx.workdir``.

Example:
    >>> apply_technique("lowrank_svd", handle, ctx, {"rank": 32})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import searched
from embodied_ai_architect.agents.optimization.torch_helpers import (
    derived_handle,
    example_tensors,
    file_size,
    output_drift,
    parameter_count,
    save_module,
    source_and_clone,
    state_bytes,
)
from embodied_ai_architect.errors import ConfigError, EAAError, TechniqueError, first_line
from embodied_ai_architect.modelio.handle import (
    Framework,
    ModelHandle,
)


def _torch_manifest(description: str) -> TechniqueManifest:
    return TechniqueManifest.torch_rewrite(
        TechniqueFamily.COMPRESSION, description, requires=["torch"]
    )


# ---------------------------------------------------------------------------------------------
class FoldBatchNormConfig(TechniqueConfig):
    """Fold BatchNorm layers into the Conv/Linear layer that feeds them."""

    technique: ClassVar[str] = "fold_batchnorm"

    tolerance: float = Field(
        1e-4, gt=0, description="Largest relative output change accepted after folding."
    )


@register_technique(
    FoldBatchNormConfig,
    _torch_manifest("Fold BatchNorm into preceding Conv/Linear (exact)."),
)
def fold_batchnorm(
    handle: ModelHandle, config: FoldBatchNormConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from embodied_ai_architect.agents.optimization.compression_utils import (
        batchnorm_pairs,
        fold_pair,
    )

    source, module = source_and_clone(handle, config.technique)
    bytes_before = state_bytes(module)
    pairs = batchnorm_pairs(module, example_tensors(source, batch=2))
    ctx.emit(30, f"folding {len(pairs)} BatchNorm layers")
    for layer_name, bn_name in pairs:
        fold_pair(module, layer_name, bn_name)
    path = save_module(module, source, ctx.path("bn_folded.pt2"))
    result = derived_handle(source, module, suffix="bnfold", path=path)
    drift = output_drift(source, result)
    if drift > config.tolerance:
        raise TechniqueError(
            f"BN folding changed the outputs by {drift:.2e} (relative), above {config.tolerance}",
            hint="a BatchNorm in training mode or with unusual statistics; report the model",
        )
    warnings = [] if pairs else ["no BatchNorm directly after a Conv/Linear layer was found"]
    return TechniqueResult(
        handle=result,
        changes=[f"folded {len(pairs)} BatchNorm layers: {', '.join(b for _, b in pairs[:8])}"],
        warnings=warnings,
        metrics={
            "folded": float(len(pairs)),
            "bytes_before": float(bytes_before),
            "bytes_after": float(state_bytes(module)),
            "relative_output_change": drift,
        },
    )


# ---------------------------------------------------------------------------------------------
class OnnxGraphOptimizeConfig(TechniqueConfig):
    """ONNX Runtime offline graph optimization (constant folding, node fusions)."""

    technique: ClassVar[str] = "onnx_graph_optimize"

    level: Literal["basic", "extended"] = Field(
        "extended",
        description="basic: constant folding and redundant-node removal; extended: also "
        "Conv/BN/activation and attention/GELU/LayerNorm fusions. Layout optimizations "
        "(ORT_ENABLE_ALL) are excluded on purpose: they tie the file to one CPU.",
    )
    rtol: float = Field(1e-3, gt=0, description="Relative tolerance of the equivalence check.")
    atol: float = Field(1e-4, gt=0, description="Absolute tolerance of the equivalence check.")


@register_technique(
    OnnxGraphOptimizeConfig,
    TechniqueManifest.onnxruntime_rewrite(
        TechniqueFamily.COMPRESSION,
        "ONNX Runtime offline graph optimization (portable: no hardware-specific layouts).",
        input_frameworks=[Framework.ONNX, Framework.TORCH],
    ),
)
def onnx_graph_optimize(
    handle: ModelHandle, config: OnnxGraphOptimizeConfig, ctx: TechniqueContext
) -> TechniqueResult:
    import onnx
    import onnxruntime as ort

    from embodied_ai_architect.modelio.export import check_equivalence, export_onnx

    source = export_onnx(handle, ctx.path("source.onnx"), threads=ctx.threads)
    optimized_path = ctx.path("optimized.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        if config.level == "extended"
        else ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    )
    options.optimized_model_filepath = str(optimized_path)
    options.log_severity_level = 3
    ctx.emit(30, f"running ORT {config.level} graph optimizations")
    try:
        ort.InferenceSession(
            str(source.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises pybind error types
        raise TechniqueError(
            f"ONNX Runtime could not optimize the graph: {first_line(exc)}",
            hint="the graph may use ops the CPU provider lacks",
        ) from exc
    nodes_before = len(onnx.load(str(source.onnx_path), load_external_data=False).graph.node)
    optimized_nodes = onnx.load(str(optimized_path), load_external_data=False).graph.node
    nodes_after = len(optimized_nodes)
    contrib = sorted({n.op_type for n in optimized_nodes if n.domain not in ("", "ai.onnx")})
    result = source.with_file(
        optimized_path,
        name=f"{source.name}-ortopt",
        threads=ctx.threads,
        metadata={**source.metadata, "ort_optimization": config.level},
    )
    try:
        drift = check_equivalence(source, result, rtol=config.rtol, atol=config.atol)
    except EAAError as exc:
        raise TechniqueError(exc.message, hint="try level='basic'") from exc
    return TechniqueResult(
        handle=result,
        changes=[f"ORT {config.level} optimization: {nodes_before} → {nodes_after} nodes"],
        # Fused kernels such as FusedConv / BiasGelu live in ORT's com.microsoft domain.
        warnings=[
            f"the graph uses ONNX Runtime contrib ops ({', '.join(contrib)}): it runs on ONNX "
            "Runtime only; use level='basic' for OpenVINO / TensorRT / TFLite"
        ]
        if contrib
        else [],
        metrics={
            "nodes_before": float(nodes_before),
            "nodes_after": float(nodes_after),
            "bytes_before": float(file_size(source.onnx_path)),
            "bytes_after": float(file_size(optimized_path)),
            "max_abs_diff": drift,
            "contrib_ops": float(len(contrib)),
        },
    )


# ---------------------------------------------------------------------------------------------
class LowRankSvdConfig(TechniqueConfig):
    """Truncated-SVD factorization of large Linear and 1×1 Conv layers."""

    technique: ClassVar[str] = "lowrank_svd"

    rank: int | None = Field(
        None, ge=1, description="Fixed rank for every factorized layer (exclusive with energy)."
    )
    energy: float | None = searched(
        None,
        gt=0,
        le=1,
        description="Keep the smallest rank retaining this share of the squared singular "
        "values (default 0.9 when rank is not given).",
        search=[0.8, 0.9, 0.95, 0.99],
    )
    min_features: int = Field(
        32, ge=2, description="Layers whose smaller dimension is below this are left alone."
    )
    include_conv1x1: bool = Field(True, description="Also factorize 1×1 convolutions.")
    ignore: tuple[str, ...] = Field((), description="Module names left untouched.")

    @model_validator(mode="after")
    def _one_of_rank_energy(self) -> LowRankSvdConfig:
        if self.rank is not None and self.energy is not None:
            raise ValueError("give either rank or energy, not both")
        return self


@register_technique(
    LowRankSvdConfig,
    _torch_manifest("Low-rank SVD factorization where it reduces parameters."),
)
def lowrank_svd(
    handle: ModelHandle, config: LowRankSvdConfig, ctx: TechniqueContext
) -> TechniqueResult:
    from torch import nn

    from embodied_ai_architect.agents.optimization.compression_utils import (
        factorize,
        rank_for_energy,
        set_submodule,
    )

    source, module = source_and_clone(handle, config.technique)
    candidates = [
        (name, layer)
        for name, layer in module.named_modules()
        if name not in config.ignore
        and (
            isinstance(layer, nn.Linear)
            or (
                config.include_conv1x1
                and isinstance(layer, nn.Conv2d)
                and layer.kernel_size == (1, 1)
                and layer.groups == 1
                and layer.padding in ((0, 0), "valid")
            )
        )
        and min(layer.weight.shape[0], layer.weight.shape[1]) >= config.min_features
    ]
    if not candidates:
        raise ConfigError(
            f"no Linear / 1×1 Conv layer has both dimensions ≥ {config.min_features}",
            hint="lower min_features, or use prune_structured for convolution-heavy models",
        )
    if config.rank is not None:
        largest = max(min(layer.weight.shape[:2]) for _, layer in candidates)
        if config.rank >= largest:
            raise ConfigError(
                f"rank {config.rank} is not below any eligible layer's smaller dimension "
                f"(largest is {largest})",
                hint=f"choose a rank below {largest} or use `energy` to pick ranks per layer",
            )
    energy_target = config.energy if config.energy is not None else 0.9
    params_before = parameter_count(module)
    done: list[tuple[str, int, float]] = []
    for index, (name, layer) in enumerate(candidates):
        out_dim, in_dim = layer.weight.shape[0], int(np.prod(layer.weight.shape[1:]))
        rank = config.rank if config.rank is not None else rank_for_energy(layer, energy_target)
        if rank * (in_dim + out_dim) >= in_dim * out_dim:
            continue  # factorizing would not save parameters here
        replacement, kept = factorize(layer, rank)
        set_submodule(module, name, replacement)
        done.append((name, rank, kept))
        ctx.emit(10 + 70 * (index + 1) / len(candidates), f"factorized {name} at rank {rank}")
    if not done:
        raise ConfigError(
            "no layer gets fewer parameters at the requested rank / energy",
            hint="lower the rank or the energy",
        )
    path = save_module(module, source, ctx.path("lowrank.pt2"))
    result = derived_handle(source, module, suffix="lowrank", path=path)
    params_after = parameter_count(module)
    return TechniqueResult(
        handle=result,
        changes=[
            f"factorized {name} (rank {rank}, energy {kept:.3f})" for name, rank, kept in done
        ],
        metrics={
            "layers_factorized": float(len(done)),
            "params_before": float(params_before),
            "params_after": float(params_after),
            "bytes_before": float(params_before * 4),
            "bytes_after": float(state_bytes(module)),
            "min_energy_kept": min(kept for _, _, kept in done),
            "relative_output_change": output_drift(source, result),
        },
    )


# Registers weight_sharing and pack_zstd through this module's entry point.
from embodied_ai_architect.agents.optimization import storage_compression  # noqa: E402, F401
