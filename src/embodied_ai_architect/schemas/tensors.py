"""Tensor signatures: what a model takes and returns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Dim = int | str  # a concrete size, or a symbolic name such as "batch"

# Symbolic names exporters give the batch dimension, wherever it sits (an RNN state is
# [layers, batch, hidden]).
BATCH_NAMES = frozenset({"batch", "batch_size", "n", "b", "bs"})


def is_batch_name(dim: Dim) -> bool:
    return isinstance(dim, str) and dim.strip().lower() in BATCH_NAMES


class TensorSpec(BaseModel):
    """One named input or output tensor."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Tensor name (graph name for ONNX, argument name for torch).")
    shape: list[Dim] = Field(description="Dimensions; strings are symbolic (dynamic) sizes.")
    dtype: str = Field(default="float32", description="numpy dtype name, e.g. float32, int64.")
    low: float | None = Field(
        default=None, description="Smallest valid value (integer inputs such as token ids)."
    )
    high: float | None = Field(
        default=None, description="One past the largest valid value for integer inputs."
    )
    value: float | None = Field(
        default=None,
        description="A constant this input always takes (a sample rate); feeds use it, not noise.",
    )

    def concrete_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The shape with symbolic dimensions resolved: the first to ``batch``, others must be set."""
        dims: list[int] = []
        for index, dim in enumerate(self.shape):
            if isinstance(dim, int) and dim > 0:
                dims.append(dim)
            elif index == 0 or is_batch_name(dim):
                dims.append(batch)
            else:
                from embodied_ai_architect.errors import InputError
                from embodied_ai_architect.modelio.signature import example_input

                raise InputError(
                    f"input {self.name!r} has a dynamic dimension {dim!r} at position {index}",
                    hint=f"give the full shape, e.g. {example_input(self)}",
                    field="inputs",
                )
        return tuple(dims)

    @property
    def batch_first(self) -> bool:
        """Axis 0 is the batch, so samples stack along it. Not for scalars (a sample rate), a
        recurrent state ``[layers, batch, hidden]`` or an input without a batch axis."""
        if not self.shape or any(is_batch_name(d) for d in self.shape[1:]):
            return False
        return isinstance(self.shape[0], str) or self.shape[0] == 1

    @property
    def numel(self) -> int:
        total = 1
        for dim in self.concrete_shape():
            total *= dim
        return total
