"""TensorRT INT8 entropy calibration fed by a CalibrationProvider, with a reusable cache.

Host-independent parts (batching, the cache file and its fingerprint) are plain classes; only
:func:`make_entropy_calibrator` touches TensorRT, and it receives the ``tensorrt`` module as an
argument so the build path can be exercised without a GPU.

Workflow (explicit phases): provider → :class:`CalibrationBatchStream` (fixed-size batches in
TensorRT's input order) → device buffers → ``IInt8EntropyCalibrator2.get_batch`` → TensorRT
computes scales → ``write_calibration_cache`` stores them; the next build with the same model and
data reads the cache and skips calibration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from embodied_ai_architect.errors import InputError

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider


class CalibrationBatchStream:
    """Fixed-size float32 batches from a provider, keyed by TensorRT's input names.

    TensorRT expects every calibration batch to hold exactly ``batch_size`` rows, so a final
    partial batch is dropped (and counted in ``dropped_samples``) rather than padded with fake data.
    """

    def __init__(self, provider: CalibrationProvider, input_names: list[str], batch_size: int):
        if batch_size < 1:
            raise InputError(f"batch_size must be ≥ 1 (got {batch_size})", hint="use 1–32")
        if len(input_names) != len(provider.inputs):
            raise InputError(
                f"the engine has {len(input_names)} inputs, the calibration data "
                f"{len(provider.inputs)}",
                hint="provide one calibration array per model input",
            )
        self.provider = provider
        self.input_names = input_names
        self.batch_size = batch_size
        self.dropped_samples = 0
        self.batches_served = 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        pending: list[list[np.ndarray]] = []
        self.dropped_samples = 0
        for sample in self.provider.samples():
            # Provider feeds are keyed by the source model's names; TensorRT's follow the graph.
            pending.append(list(sample.values()))
            if len(pending) == self.batch_size:
                self.batches_served += 1
                yield {
                    name: np.ascontiguousarray(
                        np.concatenate([row[i] for row in pending], axis=0), dtype=np.float32
                    )
                    for i, name in enumerate(self.input_names)
                }
                pending = []
        self.dropped_samples = len(pending)


class CalibrationCache:
    """The calibration table TensorRT writes, plus a fingerprint of what produced it.

    A cache is reused only when the fingerprint (ONNX graph bytes + calibration settings)
    matches; a stale one is reported and replaced, never silently applied to another model.
    """

    def __init__(self, path: Path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.meta_path = self.path.with_name(self.path.name + ".json")
        self.stale_reason: str | None = None

    def read(self) -> bytes | None:
        if not self.path.exists():
            return None
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, ValueError):
            self.stale_reason = "the cache has no readable fingerprint file"
            return None
        if meta.get("fingerprint") != self.fingerprint:
            self.stale_reason = "the model or the calibration settings changed"
            return None
        return self.path.read_bytes()

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(data)
        self.meta_path.write_text(json.dumps({"fingerprint": self.fingerprint}))


def calibration_fingerprint(
    onnx_path: Path, *, num_samples: int, batch_size: int, data: str
) -> str:
    digest = hashlib.sha256(Path(onnx_path).read_bytes())
    digest.update(json.dumps([num_samples, batch_size, data]).encode())
    return digest.hexdigest()


class DeviceBuffers(Protocol):
    """Copies host batches to device memory; returns device pointers TensorRT can read."""

    def upload(self, name: str, array: np.ndarray) -> int: ...

    def release(self) -> None: ...


class TorchCudaBuffers:
    """Device buffers held as CUDA tensors (torch is a core dependency; no pycuda needed)."""

    def __init__(self) -> None:
        import torch

        self._torch = torch
        self._tensors: dict[str, Any] = {}

    def upload(self, name: str, array: np.ndarray) -> int:
        torch = self._torch
        host = torch.from_numpy(np.ascontiguousarray(array))
        tensor = self._tensors.get(name)
        if tensor is None or tuple(tensor.shape) != tuple(host.shape):
            tensor = torch.empty(host.shape, dtype=host.dtype, device="cuda")
            self._tensors[name] = tensor
        tensor.copy_(host)
        torch.cuda.synchronize()
        return int(tensor.data_ptr())

    def release(self) -> None:
        self._tensors.clear()


def make_entropy_calibrator(
    trt: Any, stream: CalibrationBatchStream, cache: CalibrationCache, buffers: DeviceBuffers
) -> Any:
    """An ``IInt8EntropyCalibrator2`` instance serving ``stream`` (class built on ``trt``'s base)."""
    base = trt.IInt8EntropyCalibrator2

    class EntropyCalibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            # The pybind base must be initialised explicitly, or TensorRT crashes on first use.
            base.__init__(self)
            self.stream = stream
            self.cache = cache
            self.buffers = buffers
            self._batches = iter(stream)
            self.cache_hit = False

        def get_batch_size(self) -> int:
            return stream.batch_size

        def get_batch(self, names: list[str], *args: Any) -> list[int] | None:
            batch = next(self._batches, None)
            if batch is None:
                self.buffers.release()
                return None  # tells TensorRT that calibration data is exhausted
            missing = [name for name in names if name not in batch]
            if missing:
                raise InputError(
                    f"TensorRT asked for calibration inputs {missing}; the data has {list(batch)}",
                    hint="name calibration arrays after the model inputs",
                )
            return [self.buffers.upload(name, batch[name]) for name in names]

        def read_calibration_cache(self, *args: Any) -> bytes | None:
            data = self.cache.read()
            self.cache_hit = data is not None
            return data

        def write_calibration_cache(self, data: Any, *args: Any) -> None:
            self.cache.write(bytes(data))

    return EntropyCalibrator()
