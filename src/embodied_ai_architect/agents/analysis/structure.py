"""A framework-neutral view of a model's structure, built once and read by every analysis step.

Torch modules and ONNX graphs are both reduced to weight records (every learned tensor) and layer
records (every leaf module / compute node), so family detection, the census and the
opportunities never branch on the framework.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied_ai_architect.schemas.profile import DtypeBytes, LayerInfo, OpCount

# Layer kinds that carry most weights and are what quantizers / pruners target.
LINEAR_OPS = frozenset({"Linear", "Gemm", "MatMul", "Conv1D", "NonDynamicallyQuantizableLinear"})
CONV_OPS = frozenset({"Conv1d", "Conv2d", "Conv3d", "Conv", "ConvTranspose2d", "ConvTranspose"})
EMBEDDING_OPS = frozenset({"Embedding", "Gather"})
NORM_OPS = frozenset(
    {
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "BatchNormalization",
        "LayerNorm",
        "LayerNormalization",
        "GroupNorm",
        "RMSNorm",
    }
)
ACTIVATION_OPS = frozenset(
    {
        "ReLU",
        "ReLU6",
        "GELU",
        "SiLU",
        "Tanh",
        "Sigmoid",
        "LeakyReLU",
        "ELU",
        "Mish",
        "Softplus",
        "Hardswish",
        "Relu",
        "Gelu",
        "Softmax",
        "Identity",
        "Dropout",
        "Flatten",
    }
)


@dataclass
class WeightRecord:
    """One learned tensor (nn.Parameter / weight buffer, or ONNX initializer)."""

    name: str
    numel: int
    dtype: str
    nbytes: int
    shape: tuple[int, ...]


@dataclass
class LayerRecord:
    """One leaf module (torch) or compute node (ONNX)."""

    name: str
    op_type: str
    parameters: int
    macs: int | None = None
    output_shape: list[int] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    weight_name: str | None = None  # the main weight, for sensitivity and low-rank checks


@dataclass
class ModelStructure:
    framework: str
    weights: list[WeightRecord]
    layers: list[LayerRecord]
    module_types: dict[str, str] = field(default_factory=dict)  # path → class (torch tree)
    macs: int | None = None
    flops: int | None = None
    compute_ops: Counter[str] = field(default_factory=Counter)  # aten op / ONNX op → count
    output_shapes: list[list[int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    foldable_batchnorms: int = 0
    # Named outputs of the instrumented forward pass (torch), reused as the FP32 reference so a
    # large model is not run once more just to get them.
    outputs: dict[str, np.ndarray] | None = None

    @property
    def parameters(self) -> int:
        return sum(w.numel for w in self.weights)

    @property
    def parameter_bytes(self) -> int:
        return sum(w.nbytes for w in self.weights)

    def by_dtype(self) -> list[DtypeBytes]:
        counts: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        for weight in self.weights:
            counts[weight.dtype] += weight.numel
            sizes[weight.dtype] += weight.nbytes
        return [
            DtypeBytes(dtype=dtype, parameters=counts[dtype], bytes=sizes[dtype])
            for dtype, _ in sizes.most_common()
        ]

    def census(self) -> list[OpCount]:
        total = max(self.parameters, 1)
        counts: Counter[str] = Counter()
        params: Counter[str] = Counter()
        for layer in self.layers:
            counts[layer.op_type] += 1
            params[layer.op_type] += layer.parameters
        ordered = sorted(counts, key=lambda op: (-params[op], -counts[op], op))
        return [
            OpCount(
                op_type=op,
                count=counts[op],
                parameters=params[op],
                parameter_share=min(1.0, params[op] / total),
            )
            for op in ordered
        ]

    def top_layers(self, n: int) -> list[LayerInfo]:
        ranked = sorted(
            (layer for layer in self.layers if layer.parameters > 0),
            key=lambda layer: (-layer.parameters, layer.name),
        )
        return [
            LayerInfo(
                name=layer.name,
                op_type=layer.op_type,
                parameters=layer.parameters,
                macs=layer.macs,
                output_shape=layer.output_shape,
            )
            for layer in ranked[:n]
        ]

    def share(self, ops: frozenset[str]) -> float:
        """Fraction of all parameters held by layers of the given op types."""
        total = self.parameters
        if not total:
            return 0.0
        return sum(layer.parameters for layer in self.layers if layer.op_type in ops) / total

    def count(self, ops: frozenset[str]) -> int:
        return sum(1 for layer in self.layers if layer.op_type in ops)
