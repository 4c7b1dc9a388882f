"""Helpers shared by the torch-side techniques (pruning, distillation, NAS, compression).

They keep every technique's output consistent: same input signature as the source, an artifact
written under the workdir, and sizes counted the same way everywhere.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import ConfigError, TechniqueError, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import (
    ModelHandle,
    TorchModelHandle,
    flatten_outputs,
    make_feeds,
    set_eval,
)
from embodied_ai_architect.modelio.torch_io import META_FILE
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    import torch
    from torch import nn


def require_torch_handle(handle: ModelHandle, technique: str) -> TorchModelHandle:
    """The torch handle behind ``handle`` or a ConfigError naming what to pass instead."""
    if not isinstance(handle, TorchModelHandle):
        raise ConfigError(
            f"{technique} needs a PyTorch model, got a {handle.framework.value} model",
            hint="load the original PyTorch model (eager module, TorchScript or torch.export)",
        )
    if handle.is_graph:
        # Scripted / exported graphs cannot be restructured or retrained layer by layer.
        raise ConfigError(
            f"{technique} needs an eager nn.Module, got a {type(handle.module).__name__}",
            hint="load the model from a state dict with `arch` (or a trusted pickled module)",
            field="arch",
        )
    return handle


def clone_module(handle: TorchModelHandle) -> nn.Module:
    """A deep copy in eval mode, so techniques never mutate the caller's model."""
    module = copy.deepcopy(handle.module)
    set_eval(module)
    return module


def source_and_clone(handle: ModelHandle, technique: str) -> tuple[TorchModelHandle, nn.Module]:
    """``require_torch_handle`` and ``clone_module`` in one: the source and the copy to change."""
    source = require_torch_handle(handle, technique)
    return source, clone_module(source)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def state_bytes(module: nn.Module) -> int:
    """Bytes of every parameter and buffer as stored densely (what a checkpoint holds)."""
    total = sum(p.numel() * p.element_size() for p in module.parameters())
    return total + sum(b.numel() * b.element_size() for b in module.buffers())


def batch_specs(handle: ModelHandle) -> list[TensorSpec]:
    """The input specs with a symbolic batch dimension (intake often records a fixed 1)."""
    return [spec.model_copy(update={"shape": ["batch", *spec.shape[1:]]}) for spec in handle.inputs]


def example_tensors(handle: TorchModelHandle, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Deterministic example inputs with ``batch`` rows, whatever batch the signature records."""
    import torch

    feeds = make_feeds(batch_specs(handle), batch=batch, seed=0)
    return tuple(torch.from_numpy(feeds[spec.name]) for spec in handle.inputs)


def output_shapes(module: nn.Module, args: tuple[torch.Tensor, ...]) -> list[tuple[int, ...]]:
    import torch

    set_eval(module)
    with torch.inference_mode():
        result = module(*args)
    return [tuple(array.shape) for _, array in flatten_outputs(result)]


def check_same_outputs(
    before: list[tuple[int, ...]], module: nn.Module, args: tuple[torch.Tensor, ...], what: str
) -> None:
    """Fail fast when a rebuilt model no longer produces the source's output shapes."""
    after = output_shapes(module, args)
    if after != before:
        raise TechniqueError(
            f"{what} changed the model's output shapes from {before} to {after}",
            hint="list the output layers in the config's `ignore` field so they are kept intact",
        )


def save_module(module: nn.Module, handle: TorchModelHandle, path: Path) -> Path:
    """Write ``module`` as a torch.export program (.pt2) with a dynamic batch dimension.

    torch.export archives load without unpickling (safe intake) and keep the rebuilt
    architecture, which a plain state dict would not.
    """
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    # Batch 2, because torch.export specializes a dimension whose example size is 0 or 1.
    args = example_tensors(handle, batch=2)
    set_eval(module)
    dynamic = tuple({0: torch.export.Dim.AUTO} for _ in args)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.export.export(module, args, dynamic_shapes=dynamic)
            # The intake reads the signature back from this extra file (names, dtypes, ranges).
            meta = {"inputs": [spec.model_dump(mode="json") for spec in batch_specs(handle)]}
            torch.export.save(program, str(path), extra_files={META_FILE: json.dumps(meta)})
    except Exception as exc:  # torch.export raises many unrelated error types
        raise TechniqueError(
            f"cannot save the optimized model as a torch.export program: {first_line(exc)}",
            hint="the model uses Python control flow torch.export cannot capture",
        ) from exc
    return path


def derived_handle(
    source: TorchModelHandle,
    module: nn.Module,
    *,
    suffix: str,
    path: Path | None,
    metadata: dict[str, Any] | None = None,
) -> TorchModelHandle:
    """A handle for ``module`` that keeps the source's input/output signature."""
    set_eval(module)
    return TorchModelHandle(
        module,
        name=f"{source.name}-{suffix}",
        source_format=ModelFormat.TORCH_EXPORT if path is not None else source.source_format,
        path=path,
        inputs=list(source.inputs),
        outputs=list(source.outputs),
        metadata={**source.metadata, **(metadata or {}), "derived_from": source.name},
    )


def file_size(path: Path) -> int:
    return Path(path).stat().st_size


def zstd_size(data: bytes, level: int = 19) -> int:
    import zstandard

    return len(zstandard.ZstdCompressor(level=level).compress(data))


def weights_blob(module: nn.Module) -> bytes:
    """All parameters and buffers as raw little-endian bytes, in state-dict order."""
    return b"".join(
        np.ascontiguousarray(t.detach().cpu().numpy()).tobytes()
        for t in module.state_dict().values()
    )


def output_drift(before: ModelHandle, after: ModelHandle) -> float:
    """Relative L2 difference of all outputs on seeded example inputs (0 = identical)."""
    feeds = make_feeds(batch_specs(before), batch=4, seed=1)
    want = np.concatenate([v.ravel() for v in before.run(feeds).values()]).astype(np.float64)
    got = np.concatenate([v.ravel() for v in after.run(feeds).values()]).astype(np.float64)
    return float(np.linalg.norm(want - got)) / max(float(np.linalg.norm(want)), 1e-12)
