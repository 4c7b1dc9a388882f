"""Where an ONNX node's weight really lives.

Exporters differ: torch puts weights in initializers; paddle2onnx and some tf2onnx graphs put them
in ``Constant`` nodes; others insert ``Identity`` or ``Cast`` (FP16 storage) in front, or store
INT8 weights behind ``DequantizeLinear``; one initializer may feed several nodes. Analysis and
sensitivity follow these chains to the stored tensor instead of assuming ``node.input[1]`` is an
initializer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import onnx

# Ops a weight may pass through unchanged in value (up to dtype) on its way to its consumer.
_PASS_THROUGH = frozenset({"Identity", "Cast"})
_MAX_CHAIN = 8
# Integer tensors that are shapes, axes or indices, never learned weights. INT8 / UINT8 / INT4
# weights of quantized models are parameters and are counted.
_NON_WEIGHT_DTYPES = frozenset({"int32", "int64", "uint32", "uint64", "bool", "object", "str"})


@dataclass(frozen=True)
class WeightSource:
    """The stored tensor behind a node input."""

    name: str  # initializer name, or the Constant node's output name
    kind: Literal["initializer", "constant"]
    quantized: bool = False  # reached through DequantizeLinear: already integer


def is_weight_dtype(dtype: np.dtype[Any] | str) -> bool:
    return str(np.dtype(dtype)) not in _NON_WEIGHT_DTYPES


class OnnxWeights:
    """Index of an ONNX graph's stored tensors and the chains that lead to them."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        graph = model.graph
        self.initializers = {init.name: init for init in graph.initializer}
        self.constants: dict[str, Any] = {}
        self.producers: dict[str, Any] = {}
        for node in graph.node:
            for output in node.output:
                self.producers[output] = node
            if node.op_type == "Constant" and node.output:
                value = next((a for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self.constants[node.output[0]] = value

    def resolve(self, name: str) -> WeightSource | None:
        """The stored tensor ``name`` is (or is computed from, by pass-through ops), if any."""
        quantized = False
        for _ in range(_MAX_CHAIN):
            if name in self.initializers:
                return WeightSource(name, "initializer", quantized)
            if name in self.constants:
                return WeightSource(name, "constant", quantized)
            node = self.producers.get(name)
            if node is None or not node.input:
                return None
            if node.op_type == "DequantizeLinear":
                quantized = True
            elif node.op_type not in _PASS_THROUGH:
                return None
            name = node.input[0]
        return None

    def read(self, source: WeightSource) -> np.ndarray:
        from onnx import numpy_helper

        if source.kind == "initializer":
            return numpy_helper.to_array(self.initializers[source.name])
        return numpy_helper.to_array(self.constants[source.name].t)

    def write(self, source: WeightSource, array: np.ndarray) -> None:
        """Replace the stored tensor in place (the caller keeps the original to restore)."""
        from onnx import numpy_helper

        tensor = numpy_helper.from_array(array, source.name)
        if source.kind == "initializer":
            self.initializers[source.name].CopyFrom(tensor)
        else:
            self.constants[source.name].t.CopyFrom(tensor)

    def stored(self) -> list[tuple[str, np.ndarray]]:
        """Every stored tensor that is a weight (by dtype; scalars and shapes excluded)."""
        out: list[tuple[str, np.ndarray]] = []
        for name, kind in [(n, "initializer") for n in self.initializers] + [
            (n, "constant") for n in self.constants
        ]:
            array = self.read(WeightSource(name, kind))  # type: ignore[arg-type]
            # A one-element Constant is an op's scalar (a Mul by 0.5), not a learned weight.
            minimum = 1 if kind == "initializer" else 2
            if array.size >= minimum and is_weight_dtype(array.dtype):
                out.append((name, array))
        return out
