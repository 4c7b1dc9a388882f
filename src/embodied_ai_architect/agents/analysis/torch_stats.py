"""Structure of a torch module: weights, leaf layers, MACs (FlopCounterMode) from one forward pass."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.analysis.structure import (
    CONV_OPS,
    LayerRecord,
    ModelStructure,
    WeightRecord,
)
from embodied_ai_architect.errors import AnalysisError, describe
from embodied_ai_architect.modelio.handle import set_eval

if TYPE_CHECKING:
    import torch

    from embodied_ai_architect.modelio.handle import Feeds, TorchModelHandle

# Buffers that are learned weights (frozen weights, quantized weights), as opposed to running
# statistics or counters such as BatchNorm's running_mean / num_batches_tracked.
_WEIGHT_BUFFER_SUFFIXES = ("weight", "bias", "_packed_params")


def module_type(module: torch.nn.Module) -> str:
    """Class name; TorchScript modules keep the original one in ``original_name``."""
    original = getattr(module, "original_name", None)
    return original if isinstance(original, str) and original else type(module).__name__


def _dtype_name(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def collect_weights(module: torch.nn.Module) -> list[WeightRecord]:
    """Every unique learned tensor; tied weights (same storage) are counted once."""
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    records: list[WeightRecord] = []

    def add(name: str, tensor: torch.Tensor) -> None:
        key = (tensor.data_ptr(), int(tensor.storage_offset()), tuple(tensor.shape))
        if tensor.data_ptr() and key in seen:
            return
        seen.add(key)
        records.append(
            WeightRecord(
                name=name,
                numel=tensor.numel(),
                dtype=_dtype_name(tensor),
                nbytes=tensor.numel() * tensor.element_size(),
                shape=tuple(tensor.shape),
            )
        )

    for name, parameter in module.named_parameters():
        add(name, parameter)
    for name, buffer in module.named_buffers():
        if name.rsplit(".", 1)[-1].endswith(_WEIGHT_BUFFER_SUFFIXES):
            add(name, buffer)
    return records


def _mha_flops(
    query: Any,
    key: Any,
    value: Any,
    embed_dim: int,
    num_head: int,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """FLOPs of aten._native_multi_head_attention (nn.MultiheadAttention's inference fast path),
    which FlopCounterMode has no formula for: Q/K/V and output projections plus two batched
    matmuls."""
    del value, num_head, args, out_shape, kwargs
    batch, length = (query[0], query[1]) if len(query) == 3 else (1, query[0])
    source = key[1] if len(key) == 3 else key[0]
    projections = length * embed_dim * embed_dim + 2 * source * embed_dim * embed_dim
    attention = 2 * length * source * embed_dim
    output = length * embed_dim * embed_dim
    return int(2 * batch * (projections + attention + output))


def _layer_records(
    module: torch.nn.Module,
) -> tuple[list[LayerRecord], dict[str, str], dict[str, torch.nn.Module]]:
    import torch

    layers: list[LayerRecord] = []
    types: dict[str, str] = {}
    leaves: dict[str, torch.nn.Module] = {}
    seen_params: set[int] = set()
    for path, sub in module.named_modules():
        kind = module_type(sub)
        types[path] = kind
        is_leaf = not any(True for _ in sub.children())
        direct = []
        for name, parameter in sub.named_parameters(recurse=False):
            if id(parameter) not in seen_params:  # tied weights belong to their first owner
                seen_params.add(id(parameter))
                direct.append((name, parameter))
        if is_leaf:
            leaves[path] = sub
            weight = getattr(sub, "weight", None)
            if kind == "Module" and isinstance(weight, torch.Tensor):
                # torch.export keeps each layer as a bare Module holding its tensors: read the
                # kind from the weight's rank so census and sensitivity see real layers.
                kind = _RANK_KINDS.get(weight.dim(), kind) if weight.shape[-1] > 1 else kind
            layers.append(
                LayerRecord(
                    name=path or kind,
                    op_type=kind,
                    parameters=sum(p.numel() for _, p in direct),
                    attrs=_layer_attrs(sub),
                    weight_name=f"{path}.weight" if weight is not None and path else None,
                )
            )
        elif direct:
            # Containers owning tensors directly: attention in-projections, class tokens,
            # positional embeddings. Attention keeps its type; loose tensors are "Parameter".
            if "Attention" in kind:
                layers.append(
                    LayerRecord(
                        name=path or kind,
                        op_type=kind,
                        parameters=sum(p.numel() for _, p in direct),
                    )
                )
            else:
                for name, p in direct:
                    full = f"{path}.{name}" if path else name
                    layers.append(LayerRecord(name=full, op_type="Parameter", parameters=p.numel()))
    return layers, types, leaves


_RANK_KINDS = {2: "Linear", 3: "Conv1d", 4: "Conv2d", 5: "Conv3d"}


def _layer_attrs(sub: torch.nn.Module) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for attr in (
        "kernel_size",
        "stride",
        "in_channels",
        "out_channels",
        "in_features",
        "out_features",
        "num_embeddings",
        "embedding_dim",
        "num_features",
        "groups",
    ):
        value = getattr(sub, attr, None)
        if isinstance(value, int | tuple):
            attrs[attr] = list(value) if isinstance(value, tuple) else value
    return attrs


def analyze_torch(handle: TorchModelHandle, feeds: Feeds | None = None) -> ModelStructure:
    """One instrumented forward pass at batch 1 gives MACs per layer, output shapes and the
    Conv→BatchNorm pairs that can be folded (seen in execution order, not guessed by name).

    ``feeds`` default to the handle's example inputs (seed 0); the named outputs of this pass
    are kept in ``ModelStructure.outputs``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from embodied_ai_architect.modelio.handle import flatten_outputs

    module = handle.module
    set_eval(module)
    weights = collect_weights(module)
    layers, types, leaves = _layer_records(module)
    by_name = {layer.name: layer for layer in layers}
    output_shapes: dict[str, list[int]] = {}
    conv_outputs: dict[int, tuple[str, Any]] = {}
    foldable: list[str] = []
    hooks: list[Any] = []
    scripted = isinstance(module, torch.jit.ScriptModule)

    def after(path: str, kind: str) -> Any:
        def hook(_: Any, __: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                output_shapes[path] = list(output.shape)
                if kind in CONV_OPS:
                    conv_outputs[id(output)] = (path, output)

        return hook

    def before_norm(path: str) -> Any:
        def hook(_: Any, args: Any) -> None:
            source = conv_outputs.get(id(args[0])) if args else None
            if source is not None and source[1] is args[0]:
                foldable.append(f"{source[0]} → {path}")

        return hook

    if not scripted:
        for path, sub in leaves.items():
            kind = types[path]
            hooks.append(sub.register_forward_hook(after(path, kind)))
            if kind.startswith("BatchNorm"):
                hooks.append(sub.register_forward_pre_hook(before_norm(path)))
    counter = FlopCounterMode(
        display=False,
        custom_mapping={torch.ops.aten._native_multi_head_attention: _mha_flops},
    )
    try:
        args = handle.torch_inputs(feeds if feeds is not None else handle.example_inputs())
        with counter, torch.no_grad():
            result = module(*args)
    except Exception as exc:  # any model error surfaces here; the message names it
        raise AnalysisError(
            f"the forward pass of {handle.name!r} on inputs "
            f"{[list(a.shape) for a in args] if 'args' in locals() else '?'} failed: "
            f"{describe(exc)}",
            hint="check the input shapes (`input_shapes`) and dtypes match what the model expects",
            field="input_shapes",
        ) from exc
    finally:
        for hook in hooks:
            hook.remove()
        conv_outputs.clear()

    counts = {key: dict(value) for key, value in counter.get_flop_counts().items()}
    total_flops = int(counter.get_total_flops())
    root = next((key for key in counts if key != "Global" and "." not in key), None)
    for path in leaves:
        layer = by_name.get(path)
        if layer is None:
            continue
        layer.output_shape = output_shapes.get(path)
        per_op = counts.get(f"{root}.{path}") if root else None
        if per_op is not None:
            layer.macs = int(sum(per_op.values())) // 2
        elif not scripted:
            layer.macs = 0
    for layer in layers:
        if "Attention" in layer.op_type and root and f"{root}.{layer.name}" in counts:
            attention_flops = sum(counts[f"{root}.{layer.name}"].values())
            layer.macs = int(attention_flops) // 2
    compute_ops: Counter[str] = Counter()
    for op, flops in counts.get("Global", {}).items():
        compute_ops[str(getattr(op, "_qualified_op_name", op)).split("::")[-1]] += int(flops)
    flat = flatten_outputs(result)
    names = [spec.name for spec in handle.outputs]
    if len(names) != len(flat):  # same naming rule as TorchModelHandle.run
        names = [name for name, _ in flat]
    structure = ModelStructure(
        framework="torch",
        weights=weights,
        layers=layers,
        module_types=types,
        macs=total_flops // 2,
        flops=total_flops,
        compute_ops=compute_ops,
        output_shapes=[list(array.shape) for _, array in flat],
        foldable_batchnorms=len(foldable),
        outputs={name: array for name, (_, array) in zip(names, flat, strict=True)},
    )
    if scripted:
        structure.warnings.append(
            "TorchScript module: per-layer MACs and output shapes are not observable "
            "(module hooks do not run inside TorchScript); totals are exact"
        )
    return structure
