"""Recurrent models: carry the state from one call to the next.

Two kinds exist in the wild. Exports with explicit state take it as an input and return the next
one as an output (Silero VAD's ONNX: ``state`` → ``stateN``; LSTM exports: ``h``/``c`` →
``hn``/``cn``). TorchScript modules may keep it inside and offer ``reset_states()``. A
:class:`RecurrentRunner` hides both: the caller feeds only the real inputs, step after step, and
resets at the start of a sequence or an episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embodied_ai_architect.modelio.handle import Feeds, ModelHandle, TorchModelHandle
from embodied_ai_architect.schemas.tensors import TensorSpec

_NEXT_SUFFIXES = ("n", "_n", "_out", "out", "_next", "_new", "next", "new")


@dataclass(frozen=True)
class StateBinding:
    """An input fed with the previous call's value of an output."""

    input: str
    output: str


def state_bindings(inputs: list[TensorSpec], outputs: list[TensorSpec]) -> list[StateBinding]:
    """Pairs (input, output) where the output is the input's next value, by name and shape.

    A pair needs the output's name to be the input's plus a "next" suffix (``state``/``stateN``,
    ``h``/``hn``, ``hidden``/``hidden_out``) and the same rank, with no fixed size differing.
    """
    by_name = {spec.name.lower(): spec for spec in outputs}
    bindings = []
    for spec in inputs:
        for suffix in _NEXT_SUFFIXES:
            match = by_name.get(spec.name.lower() + suffix)
            if match is not None and _same_shape(spec, match):
                bindings.append(StateBinding(spec.name, match.name))
                break
    return bindings


def _same_shape(a: TensorSpec, b: TensorSpec) -> bool:
    if len(a.shape) != len(b.shape):
        return False
    return all(
        not (isinstance(x, int) and isinstance(y, int) and x > 0 and y > 0 and x != y)
        for x, y in zip(a.shape, b.shape, strict=True)
    )


class RecurrentRunner:
    """Runs a handle step by step, feeding each state output back as the next state input.

    Example:
        >>> runner = RecurrentRunner(handle)  # doctest: +SKIP
        >>> for chunk in chunks:  # doctest: +SKIP
        ...     probability = runner.run({"input": chunk, "sr": sr})["output"]
        >>> runner.reset()  # a new sequence starts from zero state  # doctest: +SKIP
    """

    def __init__(self, handle: ModelHandle):
        self.handle = handle
        self.bindings = state_bindings(handle.inputs, handle.outputs)
        self.internal = isinstance(handle, TorchModelHandle) and callable(
            getattr(handle.module, "reset_states", None)
        )
        if isinstance(handle, TorchModelHandle):
            handle.carry_state = True
        self.state: Feeds = {}
        self.reset()

    @property
    def stateful(self) -> bool:
        return bool(self.bindings) or self.internal

    @property
    def state_inputs(self) -> set[str]:
        return {binding.input for binding in self.bindings}

    @property
    def state_outputs(self) -> set[str]:
        return {binding.output for binding in self.bindings}

    def reset(self) -> None:
        """Zero state, as at the start of a sequence."""
        specs = {spec.name: spec for spec in self.handle.inputs}
        self.state = {
            b.input: np.zeros(specs[b.input].concrete_shape(1), np.dtype(specs[b.input].dtype))
            for b in self.bindings
        }
        if isinstance(self.handle, TorchModelHandle):
            self.handle.reset_state()

    def run(self, feeds: Feeds) -> Feeds:
        outputs = self.handle.run({**feeds, **self.state})
        for binding in self.bindings:
            self.state[binding.input] = outputs[binding.output]
        return outputs
