"""ModelHandle: one abstraction over a loaded model, whatever framework holds it.

Every handle can describe its inputs/outputs, make example inputs and run numpy feeds, so
analysis, evaluation and validation never branch on the framework.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    import onnxruntime
    import torch

Feeds = dict[str, np.ndarray]


class Framework(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"
    TFLITE = "tflite"
    TENSORFLOW = "tensorflow"
    OPENVINO = "openvino"
    TENSORRT = "tensorrt"


class ModelHandle(ABC):
    """A loaded model plus its signature and provenance."""

    framework: Framework

    def __init__(
        self,
        *,
        name: str,
        source_format: ModelFormat,
        path: Path | None,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self.name = name
        self.source_format = source_format
        self.path = path
        self.inputs = inputs
        self.outputs = outputs or []
        self.metadata: dict[str, Any] = metadata or {}

    def example_inputs(self, batch: int = 1, seed: int = 0) -> Feeds:
        """Random inputs matching the signature (integers within [low, high) where declared)."""
        return make_feeds(self.inputs, batch=batch, seed=seed)

    @abstractmethod
    def run(self, feeds: Feeds) -> Feeds:
        """Run one forward pass on numpy inputs keyed by input name; outputs keyed by name."""

    def check_feeds(self, feeds: Feeds) -> None:
        missing = [spec.name for spec in self.inputs if spec.name not in feeds]
        if missing:
            raise InputError(
                f"missing model inputs: {', '.join(missing)}",
                hint=f"the model expects {[spec.name for spec in self.inputs]}",
            )

    def __repr__(self) -> str:
        shapes = ", ".join(f"{s.name}{list(s.shape)}" for s in self.inputs)
        return f"{type(self).__name__}({self.name!r}, {self.source_format}, inputs=[{shapes}])"


@contextmanager
def torch_threads(threads: int, handle: ModelHandle | None = None) -> Iterator[None]:
    """Run torch work with a fixed intra-op thread count, restored afterwards.

    Latencies are only comparable at a known thread count, and more threads than free cores make
    torch's spinning workers far slower. Given a handle, only torch handles are pinned (ONNX
    Runtime sessions carry their own count) and torch is not imported for the others.
    """
    if handle is not None and handle.framework is not Framework.TORCH:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def make_feeds(specs: list[TensorSpec], *, batch: int = 1, seed: int = 0) -> Feeds:
    """Deterministic random feeds for ``specs``."""
    from embodied_ai_architect.modelio.signature import require_concrete

    require_concrete(specs)
    rng = np.random.default_rng(seed)
    feeds: Feeds = {}
    for spec in specs:
        shape = spec.concrete_shape(batch)
        dtype = np.dtype(spec.dtype)
        if spec.value is not None:
            feeds[spec.name] = np.full(shape, spec.value, dtype=dtype)
        elif np.issubdtype(dtype, np.integer):
            low = int(spec.low) if spec.low is not None else 0
            high = int(spec.high) if spec.high is not None else 2
            feeds[spec.name] = rng.integers(low, high, size=shape).astype(dtype)
        elif dtype == np.bool_:
            feeds[spec.name] = np.ones(shape, dtype=np.bool_)
        else:
            feeds[spec.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


class TorchModelHandle(ModelHandle):
    """A torch ``nn.Module`` (eager, TorchScript or an exported program's module)."""

    framework = Framework.TORCH

    def __init__(self, module: torch.nn.Module, **kwargs: Any):
        super().__init__(**kwargs)
        self.module = module

    @property
    def is_graph(self) -> bool:
        """A TorchScript or torch.export graph: runnable, but not editable layer by layer."""
        import torch

        return isinstance(self.module, torch.jit.ScriptModule | torch.fx.GraphModule)

    # Recurrent modules that keep their state inside (Silero VAD's TorchScript) reset it before
    # each call, so a call depends only on its feeds; a rollout sets this to carry the state.
    carry_state: bool = False

    def torch_inputs(self, feeds: Feeds) -> tuple[Any, ...]:
        import torch

        self.check_feeds(feeds)
        scalars = self._python_scalars()
        return tuple(
            scalars[s.name](feeds[s.name].item())
            if s.name in scalars
            else torch.from_numpy(np.ascontiguousarray(feeds[s.name]))
            for s in self.inputs
        )

    def _python_scalars(self) -> dict[str, type]:
        """TorchScript arguments typed int / float / bool take Python numbers, not tensors."""
        from embodied_ai_architect.modelio.torch_io import script_arguments

        kinds = {"int64": int, "float32": float, "bool": bool}
        return {
            spec.name: kinds[spec.dtype]
            for spec in script_arguments(self.module) or []
            if not spec.shape and spec.dtype in kinds
        }

    def reset_state(self) -> None:
        """Clear a recurrent module's internal state (no-op for stateless modules)."""
        reset = getattr(self.module, "reset_states", None)
        if callable(reset):
            reset()

    def example_tensors(self, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
        return self.torch_inputs(self.example_inputs(batch=batch, seed=seed))

    def run(self, feeds: Feeds) -> Feeds:
        import torch

        args = self.torch_inputs(feeds)
        set_eval(self.module)
        if not self.carry_state:
            self.reset_state()
        with torch.inference_mode():
            result = self.module(*args)
        flat = flatten_outputs(result)
        names = [s.name for s in self.outputs]
        if len(names) != len(flat):
            names = [name for name, _ in flat]
        return {name: tensor for name, (_, tensor) in zip(names, flat, strict=True)}


def set_eval(module: torch.nn.Module) -> None:
    """Put ``module`` in eval mode; torch.export modules refuse ``eval()`` but are already frozen
    in the mode they were exported in."""
    with contextlib.suppress(NotImplementedError):
        module.eval()


def flatten_outputs(result: Any, prefix: str = "output") -> list[tuple[str, np.ndarray]]:
    """Flatten a tensor / tuple / dict / HF ModelOutput into named numpy arrays, in order."""
    import torch

    if isinstance(result, torch.Tensor):
        return [(prefix, result.detach().cpu().numpy())]
    if isinstance(result, dict) or (hasattr(result, "to_tuple") and hasattr(result, "keys")):
        out: list[tuple[str, np.ndarray]] = []
        for key in result.keys():  # noqa: SIM118 - ModelOutput is dict-like, not a dict
            value = result[key]
            if value is None:
                continue
            out.extend(flatten_outputs(value, prefix=str(key)))
        return out
    if isinstance(result, list | tuple):
        out = []
        for index, value in enumerate(result):
            out.extend(flatten_outputs(value, prefix=f"{prefix}_{index}"))
        return out
    raise InputError(
        f"model returned an unsupported output type {type(result).__name__}",
        hint="models must return tensors, or tuples / dicts of tensors",
    )


class OnnxModelHandle(ModelHandle):
    """An ONNX file, run with ONNX Runtime (CPU) through a lazily created session."""

    framework = Framework.ONNX

    def __init__(self, onnx_path: Path, *, threads: int | None = None, **kwargs: Any):
        kwargs.setdefault("path", onnx_path)
        super().__init__(**kwargs)
        self.onnx_path = Path(onnx_path)
        self.threads = threads
        self._session: onnxruntime.InferenceSession | None = None

    def with_threads(self, threads: int) -> OnnxModelHandle:
        """A fresh handle on the same file whose ORT session uses ``threads`` intra-op threads."""
        return self.with_file(self.onnx_path, threads=threads)

    def with_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        threads: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> OnnxModelHandle:
        """A handle on ``path``, an ONNX file with this handle's signature (a rewrite or copy that
        keeps the inputs and outputs): this handle's name, threads and metadata unless given.

        Example:
            >>> smaller = handle.with_file(out, name=f"{handle.name}-int8")  # doctest: +SKIP
        """
        return OnnxModelHandle(
            path,
            threads=self.threads if threads is None else threads,
            name=self.name if name is None else name,
            source_format=self.source_format,
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            metadata=dict(self.metadata if metadata is None else metadata),
        )

    def session(self) -> onnxruntime.InferenceSession:
        if self._session is None:
            from embodied_ai_architect.modelio.onnx_io import create_session

            self._session = create_session(self.onnx_path, threads=self.threads)
        return self._session

    def run(self, feeds: Feeds) -> Feeds:
        self.check_feeds(feeds)
        session = self.session()
        wanted = {i.name for i in session.get_inputs()}
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
        return dict(zip(names, values, strict=True))
