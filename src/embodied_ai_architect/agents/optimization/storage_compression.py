"""Storage-side compression: k-means weight sharing and zstd packing (part of ``compression``).

Registered when ``techniques/compression.py`` (the entry point) is imported; split out to keep
each module small.
"""

from __future__ import annotations

from typing import ClassVar

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
from embodied_ai_architect.agents.optimization.packing import pack_file, unpack_file, write_npz_zst
from embodied_ai_architect.agents.optimization.torch_helpers import (
    derived_handle,
    file_size,
    output_drift,
    save_module,
    source_and_clone,
    state_bytes,
)
from embodied_ai_architect.errors import ConfigError, TechniqueError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle, OnnxModelHandle


class WeightSharingConfig(TechniqueConfig):
    """k-means weight sharing: each layer's weights snap to 2^bits shared values."""

    technique: ClassVar[str] = "weight_sharing"

    bits: int = searched(
        4,
        ge=1,
        le=8,
        description="Index width: every layer gets 2^bits centroids (its codebook).",
        search=[2, 3, 4, 5, 6, 8],
    )
    min_weights: int = Field(
        256, ge=1, description="Layers with fewer weights keep full precision."
    )
    ignore: tuple[str, ...] = Field((), description="Module names left untouched.")
    zstd_level: int = Field(19, ge=1, le=22, description="zstd level of the packed artifact.")


@register_technique(
    WeightSharingConfig,
    TechniqueManifest.torch_rewrite(
        TechniqueFamily.COMPRESSION,
        "k-means weight sharing with per-layer codebooks.",
        requires=["torch", "zstandard"],
    ),
)
def weight_sharing(
    handle: ModelHandle, config: WeightSharingConfig, ctx: TechniqueContext
) -> TechniqueResult:
    import torch
    from torch import nn

    from embodied_ai_architect.agents.optimization.compression_utils import assign, kmeans_1d

    source, module = source_and_clone(handle, config.technique)
    clusters = 2**config.bits
    layers = [
        (name, layer)
        for name, layer in module.named_modules()
        if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Linear)
        and name not in config.ignore
        and layer.weight.numel() >= max(config.min_weights, clusters)
    ]
    if not layers:
        raise ConfigError(
            f"no Conv/Linear layer has at least {max(config.min_weights, clusters)} weights",
            hint="lower min_weights or bits",
        )
    arrays: dict[str, np.ndarray] = {}
    shared_bytes = 0
    for index, (name, layer) in enumerate(layers):
        centroids = kmeans_1d(layer.weight, clusters)
        labels = assign(layer.weight, centroids)
        with torch.no_grad():
            layer.weight.copy_(centroids[labels].reshape(layer.weight.shape).float())
        arrays[f"{name}.weight::codebook"] = centroids.float().numpy()
        arrays[f"{name}.weight::indices"] = (
            labels.to(torch.uint8).reshape(layer.weight.shape).numpy()
        )
        shared_bytes += layer.weight.numel() * 4
        ctx.emit(10 + 70 * (index + 1) / len(layers), f"clustered {name} to {clusters} values")
    shared = {f"{name}.weight" for name, _ in layers}
    for key, tensor in module.state_dict().items():
        if key not in shared:
            arrays[key] = tensor.detach().numpy()
    dense = state_bytes(module)
    weights_count = shared_bytes // 4
    codebook_entries = clusters * len(layers)
    # Bit-packed indices + fp32 codebooks + everything else dense: the size a packed file needs.
    packed = (dense - shared_bytes) + (weights_count * config.bits + 7) // 8 + codebook_entries * 4
    artifact = write_npz_zst(arrays, ctx.path("weight_shared.npz.zst"), config.zstd_level)
    path = save_module(module, source, ctx.path("weight_shared.pt2"))
    result = derived_handle(
        source,
        module,
        suffix=f"shared{config.bits}b",
        path=path,
        metadata={"codebook_artifact": str(artifact)},
    )
    return TechniqueResult(
        handle=result,
        changes=[f"{len(layers)} layers share {clusters} values each ({config.bits}-bit indices)"],
        metrics={
            "layers_shared": float(len(layers)),
            "codebook_entries": float(codebook_entries),
            "codebook_bytes": float(codebook_entries * 4),
            "bytes_before": float(dense),
            "bytes_after": float(packed),
            "artifact_bytes": float(file_size(artifact)),
            "relative_output_change": output_drift(source, result),
        },
    )


# ---------------------------------------------------------------------------------------------
class PackZstdConfig(TechniqueConfig):
    """Pack the stored model file with zstd (lossless)."""

    technique: ClassVar[str] = "pack_zstd"

    level: int = Field(19, ge=1, le=22, description="zstd compression level (19+ is slow, small).")


@register_technique(
    PackZstdConfig,
    TechniqueManifest(
        family=TechniqueFamily.COMPRESSION,
        description="Lossless zstd packing of the model file (storage / transfer size).",
        input_frameworks=[Framework.TORCH, Framework.ONNX],
        output_framework=Framework.ONNX,
        runtime="any",
        requires=["zstandard"],
    ),
)
def pack_zstd(
    handle: ModelHandle, config: PackZstdConfig, ctx: TechniqueContext
) -> TechniqueResult:
    if isinstance(handle, OnnxModelHandle):
        original = handle.onnx_path
        if any(p.suffix == ".data" for p in original.parent.glob(f"{original.stem}*")):
            raise ConfigError(
                f"{original.name!r} keeps weights in external data files",
                hint="re-save the model with all tensors inside the .onnx file before packing",
            )
    else:
        source, module = source_and_clone(handle, config.technique)
        original = save_module(module, source, ctx.path("model.pt2"))
    ctx.emit(30, f"compressing {original.name} with zstd level {config.level}")
    packed = pack_file(original, ctx.path(original.name + ".zst"), config.level)
    restored = unpack_file(packed, ctx.path("unpacked" + original.suffix))
    if restored.read_bytes() != original.read_bytes():
        raise TechniqueError("the unpacked file differs from the original", hint="report this bug")
    if isinstance(handle, OnnxModelHandle):
        result: ModelHandle = handle.with_file(
            restored,
            name=f"{handle.name}-unpacked",
            metadata={**handle.metadata, "packed_path": str(packed)},
        )
    else:
        result = derived_handle(
            source,
            source.module,
            suffix="packed",
            path=restored,
            metadata={"packed_path": str(packed)},
        )
    before, after = file_size(original), file_size(packed)
    return TechniqueResult(
        handle=result,
        changes=[f"packed {original.name}: {before:,} → {after:,} bytes ({packed.name})"],
        metrics={
            "bytes_before": float(before),
            "bytes_after": float(after),
            "ratio": before / after,
        },
    )
