"""PyTorch quantization techniques: dynamic INT8 (CPU) and bitsandbytes 8-bit / NF4 (CUDA).

``torch_int8_dynamic`` keeps the model a torch module (for deployments that stay in PyTorch).
``bnb_int8`` / ``bnb_nf4`` replace ``nn.Linear`` layers of (Hugging Face style) models with
bitsandbytes layers; they need a CUDA device, which the manifest declares so the planner never
schedules them on a CPU-only host.

Example:
    >>> result = apply_technique("torch_int8_dynamic", torch_handle, ctx, {})  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import SEARCH_KEY, searched, searched_flag
from embodied_ai_architect.agents.optimization.torch_helpers import require_torch_handle
from embodied_ai_architect.errors import ConfigError, DependencyError
from embodied_ai_architect.modelio.handle import ModelHandle, TorchModelHandle

if TYPE_CHECKING:
    import torch


ModuleKind = Literal["Linear", "LSTM", "GRU"]


def _all_kinds() -> list[ModuleKind]:
    return ["Linear", "LSTM", "GRU"]


class TorchInt8DynamicConfig(TechniqueConfig):
    """``torch.ao.quantization.quantize_dynamic``: INT8 weights, activations quantized per call.

    Example:
        >>> TorchInt8DynamicConfig(module_types=["Linear"], skip_modules=["action_head"])
    """

    technique: ClassVar[str] = "torch_int8_dynamic"

    module_types: list[ModuleKind] = Field(
        default_factory=_all_kinds,
        min_length=1,
        description="Module classes to quantize.",
        json_schema_extra={SEARCH_KEY: [["Linear", "LSTM", "GRU"], ["Linear"]]},
    )
    skip_modules: list[str] = Field(
        default_factory=list,
        description="Module paths kept in FP32 (e.g. the action head); unknown paths are an error.",
    )


class BnbConfig(TechniqueConfig):
    """bitsandbytes replacement of ``nn.Linear`` layers (CUDA only)."""

    skip_modules: list[str] = Field(
        default_factory=lambda: ["lm_head"],
        description="Module paths (or their last name component) kept in full precision; output "
        "heads are usually kept.",
    )


class BnbInt8Config(BnbConfig):
    """LLM.int8(): 8-bit weights with FP16 outlier columns above ``threshold``."""

    technique: ClassVar[str] = "bnb_int8"

    threshold: float = searched(
        6.0,
        ge=0,
        description="Activation magnitude above which a column is computed in FP16 (outliers).",
        search=[0.0, 6.0],
    )


class BnbNf4Config(BnbConfig):
    """4-bit NormalFloat (QLoRA's NF4) weights, blockwise, with an FP16/BF16 compute dtype."""

    technique: ClassVar[str] = "bnb_nf4"

    quant_type: Literal["nf4", "fp4"] = searched(
        "nf4", description="4-bit data type.", search=["nf4", "fp4"]
    )
    double_quant: bool = searched_flag(
        True,
        description="Quantize the block scales too (~0.4 bit/weight saved).",
    )
    compute_dtype: Literal["float16", "bfloat16"] = Field(
        default="float16", description="Dtype matrix products run in after dequantization."
    )


def state_bytes(module: torch.nn.Module) -> int:
    """Serialized size of the module's state (packed quantized weights included)."""
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _check_paths(module: torch.nn.Module, paths: list[str], technique: str) -> None:
    names = {name for name, _ in module.named_modules()}
    unknown = [p for p in paths if p not in names and not any(n.endswith("." + p) for n in names)]
    if unknown:
        sample = [n for n in names if n][:8]
        raise ConfigError(
            f"{technique}: skip_modules {unknown} are not modules of this model",
            hint=f"use module paths from model.named_modules(), e.g. {sample}",
        )


def _skipped(name: str, paths: list[str]) -> bool:
    return any(name == p or name.endswith("." + p) or name.startswith(p + ".") for p in paths)


@register_technique(
    TorchInt8DynamicConfig,
    TechniqueManifest.torch_rewrite(
        TechniqueFamily.QUANTIZATION,
        "PyTorch dynamic INT8 of Linear/LSTM/GRU layers; the model stays a torch module (CPU, "
        "fbgemm/x86 kernels).",
        requires=["torch"],
        precisions=["int8"],
    ),
)
def apply_torch_int8_dynamic(
    handle: ModelHandle, config: TorchInt8DynamicConfig, ctx: TechniqueContext
) -> TechniqueResult:
    import torch
    from torch import nn

    source = require_torch_handle(handle, config.technique)
    classes: dict[str, type[nn.Module]] = {"Linear": nn.Linear, "LSTM": nn.LSTM, "GRU": nn.GRU}
    wanted = tuple(classes[name] for name in config.module_types)
    _check_paths(source.module, config.skip_modules, "torch_int8_dynamic")
    targets = [
        name
        for name, module in source.module.named_modules()
        if isinstance(module, wanted) and not _skipped(name, config.skip_modules)
    ]
    if not targets:
        raise ConfigError(
            f"torch_int8_dynamic: the model has no {'/'.join(config.module_types)} layers to "
            "quantize (outside skip_modules)",
            hint="dynamic INT8 targets Linear/LSTM/GRU; for conv nets use ort_int8_static or "
            "openvino_int8",
        )
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    # Per-name entries override per-type ones: None keeps those modules in FP32.
    spec: dict[Any, Any] = {cls: default_dynamic_qconfig for cls in wanted}
    for name, _ in source.module.named_modules():
        if name and _skipped(name, config.skip_modules):
            spec[name] = None
    ctx.emit(30, f"torch_int8_dynamic: quantizing {len(targets)} layers")
    model = copy.deepcopy(source.module).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        quantized = quantize_dynamic(model, qconfig_spec=spec, dtype=torch.qint8)
    done = [
        name
        for name, module in quantized.named_modules()
        if type(module).__module__.startswith("torch.ao.nn.quantized.dynamic")
        and type(module).__name__ in config.module_types  # not their packed-params children
    ]
    saved = ctx.path("torch_int8_dynamic.pt")
    torch.save(quantized.state_dict(), saved)
    out = TorchModelHandle(
        quantized,
        name=source.name,
        source_format=source.source_format,
        path=saved,
        inputs=list(source.inputs),
        outputs=list(source.outputs),
        metadata={**source.metadata, "technique": "torch_int8_dynamic"},
    )
    return TechniqueResult(
        handle=out,
        changes=[f"dynamic INT8 (qint8 weights) on {len(done)} layers: {', '.join(done[:6])}"]
        + [f"kept {p} in FP32" for p in config.skip_modules],
        metrics={
            "size_before_bytes": float(state_bytes(source.module)),
            "size_after_bytes": float(state_bytes(quantized)),
            "quantized_nodes": float(len(done)),
            "excluded_nodes": float(len(config.skip_modules)),
        },
    )


def apply_bnb(
    handle: ModelHandle, config: BnbInt8Config | BnbNf4Config, ctx: TechniqueContext
) -> TechniqueResult:
    """bnb_int8 / bnb_nf4: the config's type picks the bitsandbytes layer."""
    import torch
    from torch import nn

    from embodied_ai_architect.utils.deps import require_package

    technique = config.technique
    source = require_torch_handle(handle, technique)
    bnb = require_package("bitsandbytes", extra="bnb", purpose=technique)
    if not torch.cuda.is_available():  # defensive: the manifest check normally stops earlier
        raise DependencyError(f"{technique} needs a CUDA device", hint="run on a CUDA host")
    _check_paths(source.module, config.skip_modules, technique)
    model = copy.deepcopy(source.module).eval()
    replaced: list[str] = []
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or _skipped(name, config.skip_modules):
            continue
        has_bias = module.bias is not None
        new: nn.Module
        if isinstance(config, BnbInt8Config):
            new = bnb.nn.Linear8bitLt(
                module.in_features,
                module.out_features,
                bias=has_bias,
                has_fp16_weights=False,
                threshold=config.threshold,
            )
            new.weight = bnb.nn.Int8Params(
                module.weight.data.clone(), requires_grad=False, has_fp16_weights=False
            )
        else:
            new = bnb.nn.Linear4bit(
                module.in_features,
                module.out_features,
                bias=has_bias,
                compute_dtype=getattr(torch, config.compute_dtype),
                compress_statistics=config.double_quant,
                quant_type=config.quant_type,
            )
            new.weight = bnb.nn.Params4bit(
                module.weight.data.clone(), requires_grad=False, quant_type=config.quant_type
            )
        if has_bias:
            new.bias = nn.Parameter(module.bias.data.clone(), requires_grad=False)
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
        replaced.append(name)
    if not replaced:
        raise ConfigError(
            f"{technique}: the model has no nn.Linear layers outside skip_modules",
            hint="bitsandbytes quantizes Linear layers of transformer models",
        )
    ctx.emit(60, f"{technique}: moving {len(replaced)} quantized layers to CUDA")
    model = model.to("cuda")  # bitsandbytes quantizes the weights on this transfer
    wrapped = _CudaWrapper(model)
    out = TorchModelHandle(
        wrapped,
        name=source.name,
        source_format=source.source_format,
        path=source.path,
        inputs=list(source.inputs),
        outputs=list(source.outputs),
        metadata={**source.metadata, "technique": technique, "device": "cuda"},
    )
    return TechniqueResult(
        handle=out,
        changes=[f"{technique}: replaced {len(replaced)} Linear layers with bitsandbytes layers"],
        metrics={
            "size_before_bytes": float(state_bytes(source.module)),
            "size_after_bytes": float(state_bytes(model)),
            "quantized_nodes": float(len(replaced)),
            "excluded_nodes": float(len(config.skip_modules)),
        },
    )


def _cuda_wrapper_class() -> type:
    from torch import nn

    class CudaWrapper(nn.Module):
        """Feeds CPU tensors to a CUDA model and returns CPU outputs (handles speak numpy)."""

        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            import torch

            result = self.inner(*(a.to("cuda") for a in args))
            if isinstance(result, torch.Tensor):
                return result.float().cpu()
            if isinstance(result, tuple | list):
                return type(result)(r.float().cpu() for r in result)
            return result

    return CudaWrapper


def _CudaWrapper(inner: Any) -> Any:
    return _cuda_wrapper_class()(inner)


_BNB: list[tuple[type[BnbConfig], str, str]] = [
    (BnbInt8Config, "bitsandbytes LLM.int8() Linear layers (CUDA): ~2× smaller than FP16.", "int8"),
    (BnbNf4Config, "bitsandbytes 4-bit NF4 Linear layers (CUDA): ~4× smaller than FP16.", "nf4"),
]
for _config_type, _description, _precision in _BNB:
    register_technique(
        _config_type,
        TechniqueManifest.torch_rewrite(
            TechniqueFamily.QUANTIZATION,
            _description,
            requires=["bitsandbytes"],
            precisions=[_precision],
            model_families=["decoder_llm", "vla", "transformer_encoder", "vit"],
            extra="bnb",
            needs_cuda=True,
        ),
    )(apply_bnb)
