"""Export torch handles to ONNX, with a numerical check of the graph against the source."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embodied_ai_architect.errors import ExportError, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import (
    ModelHandle,
    OnnxModelHandle,
    TorchModelHandle,
    set_eval,
)
from embodied_ai_architect.schemas.tensors import TensorSpec

DEFAULT_OPSET = 18  # the newest opset every runtime we target (ORT, OpenVINO, TensorRT 10) reads


def export_onnx(
    handle: ModelHandle,
    out_path: Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    check: bool = True,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    threads: int | None = None,
) -> OnnxModelHandle:
    """Convert ``handle`` to an ONNX file and verify it reproduces the source's outputs.

    ONNX handles are returned as they are; TensorFlow handles convert through their own path.

    Example:
        >>> onnx_handle = export_onnx(torch_handle, Path("model.onnx"))  # doctest: +SKIP
    """
    if isinstance(handle, OnnxModelHandle):
        return handle
    if not isinstance(handle, TorchModelHandle):
        convert = getattr(handle, "to_onnx", None)
        if convert is None:
            raise ExportError(
                f"cannot export a {handle.framework} model to ONNX",
                hint="pass a PyTorch, TensorFlow or ONNX model",
            )
        result: OnnxModelHandle = convert(out_path, opset=opset)
        return result
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _export_torch(handle, out_path, opset=opset, dynamic_batch=dynamic_batch)

    from embodied_ai_architect.modelio.onnx_io import load_onnx_proto, onnx_signature

    proto = load_onnx_proto(out_path)
    inputs, outputs = onnx_signature(proto)
    # Keep the source's names/ranges but the graph's dynamic axes.
    merged = [
        src.model_copy(update={"name": g.name, "shape": g.shape})
        for src, g in zip(handle.inputs, inputs, strict=True)
    ]
    onnx_handle = exported_handle(
        handle, out_path, merged, outputs, opset=opset, threads=threads, keep_metadata=True
    )
    if check:
        check_equivalence(handle, onnx_handle, rtol=rtol, atol=atol)
    return onnx_handle


def exported_handle(
    source: ModelHandle,
    out_path: Path,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    *,
    opset: int,
    threads: int | None = None,
    keep_metadata: bool = False,
) -> OnnxModelHandle:
    """The handle of an ONNX file converted from ``source``: its name, the opset and where it
    came from recorded (and ``source``'s own metadata when ``keep_metadata``)."""
    metadata = dict(source.metadata) if keep_metadata else {}
    return OnnxModelHandle(
        out_path,
        name=source.name,
        source_format=ModelFormat.ONNX,
        inputs=inputs,
        outputs=outputs,
        threads=threads,
        metadata={**metadata, "opset": opset, "exported_from": source.source_format.value},
    )


def _export_torch(
    handle: TorchModelHandle, out_path: Path, *, opset: int, dynamic_batch: bool
) -> None:
    import torch

    args = handle.example_tensors(batch=1, seed=0)
    # TorchScript int / float arguments (a sample rate) are baked into the graph as constants:
    # they are not ONNX inputs. Scalars have no batch axis to make dynamic.
    scalars = handle._python_scalars()
    input_names = [spec.name for spec in handle.inputs if spec.name not in scalars]
    outputs = handle.run(handle.example_inputs(batch=1, seed=0))
    output_names = list(outputs)
    batched = [spec.name for spec in handle.inputs if spec.name in input_names and spec.shape]
    batched += [name for name, value in outputs.items() if value.ndim]
    dynamic_axes = {name: {0: "batch"} for name in batched} if dynamic_batch else None
    set_eval(handle.module)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _silent_fd_stdout():
        warnings.simplefilter("ignore")
        try:
            # The TorchScript-based exporter is robust across the module kinds we load
            # (eager, TorchScript, exported programs) and writes no initializer value_info,
            # which ORT's quantizer chokes on (see shared/ENVIRONMENT.md).
            torch.onnx.export(
                handle.module,
                args,
                str(out_path),
                input_names=input_names,
                output_names=output_names,
                opset_version=opset,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
                dynamo=False,
            )
            handle.metadata["onnx_exporter"] = "torchscript"
            return
        except Exception as exc:  # torch.onnx raises many error types
            first_error = exc
        # Some ops (e.g. aten::diff in transformers' masking) only the dynamo exporter maps.
        # Not a silent downgrade: the result is checked numerically like any export.
        try:
            _export_dynamo(handle, args, out_path, input_names, output_names, opset, dynamic_batch)
            handle.metadata["onnx_exporter"] = "dynamo"
        except Exception as exc:  # torch.onnx raises many error types
            raise ExportError(
                f"ONNX export of {handle.name!r} failed: TorchScript exporter: "
                f"{first_line(first_error)}; dynamo exporter: {first_line(exc)}",
                hint="the model may use an operator without an ONNX mapping; export it yourself "
                "(torch.onnx.export, at the opset you need) and give the .onnx file as `model_path`",
            ) from exc


@contextlib.contextmanager
def _silent_fd_stdout() -> Iterator[None]:
    """Silence file descriptor 1 too: torch's TorchScript exporter dumps the whole IR graph from
    C++ when it fails, which would corrupt `--json` output on stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _export_dynamo(
    handle: TorchModelHandle,
    args: tuple[Any, ...],
    out_path: Path,
    input_names: list[str],
    output_names: list[str],
    opset: int,
    dynamic_batch: bool,
) -> None:
    import onnx
    import torch

    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1024)
        dynamic_shapes = tuple(
            {0: batch} if isinstance(arg, torch.Tensor) and arg.ndim else None for arg in args
        )
    program = torch.onnx.export(
        handle.module,
        args,
        input_names=input_names,
        output_names=output_names,
        opset_version=opset,
        dynamic_shapes=dynamic_shapes,
        dynamo=True,
        verbose=False,
    )
    if program is None:
        raise ExportError("the dynamo exporter returned no program", hint="report this as a bug")
    program.save(str(out_path))
    # The dynamo exporter records value_info for initializers, which breaks ORT's quantizer
    # (shared/ENVIRONMENT.md pitfall 1): drop those entries.
    model = onnx.load(str(out_path))
    initializers = {init.name for init in model.graph.initializer}
    kept = [v for v in model.graph.value_info if v.name not in initializers]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    onnx.save(model, str(out_path))


def check_equivalence(
    source: ModelHandle,
    exported: ModelHandle,
    *,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    seed: int = 0,
) -> float:
    """Run both on the same inputs; raise ExportError when outputs differ. Returns max abs diff."""
    feeds = source.example_inputs(batch=1, seed=seed)
    renamed = {
        dst.name: feeds[src.name] for src, dst in zip(source.inputs, exported.inputs, strict=True)
    }
    expected_named = source.run(feeds)
    actual_named = exported.run(renamed)
    expected = list(expected_named.values())
    if set(expected_named) == set(actual_named):
        # Same output names: compare by name (converters may reorder outputs).
        actual = [actual_named[name] for name in expected_named]
    else:
        actual = list(actual_named.values())
    if len(expected) != len(actual):
        raise ExportError(
            f"exported model has {len(actual)} outputs, source has {len(expected)}",
            hint="report this as a bug with the model attached",
        )
    worst = 0.0
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if want.shape != got.shape:
            raise ExportError(
                f"output {index} shape differs after export: {want.shape} vs {got.shape}",
                hint="the model may have data-dependent shapes; export it yourself",
            )
        diff = (
            float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64))))
            if want.size
            else 0.0
        )
        worst = max(worst, diff)
        if not np.allclose(want, got, rtol=rtol, atol=atol):
            raise ExportError(
                f"exported graph's output {index} differs from the source by up to {diff:.3g} "
                f"(rtol={rtol}, atol={atol})",
                hint="a numerically unstable op or an export bug; try another opset",
                details={"max_abs_diff": diff},
            )
    return worst
