"""Optimized versions of a reference policy, for side-by-side closed-loop checks.

These are deliberately plain (ONNX Runtime dynamic INT8, global magnitude pruning) so the
simulation suite can show what an optimization does to task success without depending on
the optimization agents; the pipeline uses the registry techniques instead.
"""

from __future__ import annotations

from pathlib import Path

from embodied_ai_architect.errors import TechniqueError
from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle, TorchModelHandle


def int8_dynamic(onnx_handle: OnnxModelHandle, out: Path) -> OnnxModelHandle:
    """ONNX Runtime dynamic quantization (INT8 weights, dynamic activations; 7-bit weights
    on CPUs without VNNI, like the optimization technique)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from embodied_ai_architect.utils.host import dynamic_reduce_range

    try:
        quantize_dynamic(
            str(onnx_handle.onnx_path),
            str(out),
            weight_type=QuantType.QInt8,
            reduce_range=dynamic_reduce_range(None),
        )
    except Exception as exc:  # ORT raises many types from its graph passes
        raise TechniqueError(
            f"dynamic INT8 quantization failed: {exc}",
            hint="export with the TorchScript exporter (dynamo=False) or run quant_pre_process",
        ) from exc
    return onnx_handle.with_file(out, name=f"{onnx_handle.name}-int8", metadata={})


def magnitude_pruned(handle: ModelHandle, amount: float) -> TorchModelHandle:
    """A copy of a torch policy with the smallest ``amount`` of each weight matrix zeroed."""
    import copy

    import torch

    if not isinstance(handle, TorchModelHandle):
        raise TechniqueError("magnitude pruning needs a torch policy", hint="pass the .pt file")
    if not 0 < amount < 1:
        raise TechniqueError(f"amount must be in (0, 1), got {amount}", hint="e.g. 0.5")
    module = copy.deepcopy(handle.module)
    with torch.no_grad():
        for _, parameter in module.named_parameters():
            if parameter.dim() < 2:
                continue
            threshold = parameter.abs().flatten().kthvalue(int(amount * parameter.numel())).values
            parameter.mul_((parameter.abs() > threshold).to(parameter.dtype))
    return TorchModelHandle(
        module,
        name=f"{handle.name}-pruned{int(amount * 100)}",
        source_format=handle.source_format,
        path=None,
        inputs=handle.inputs,
        outputs=handle.outputs,
    )
