"""PyTorch files: TorchScript, torch.export programs, state dicts (+ architecture), pickles."""

from __future__ import annotations

import contextlib
import inspect
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import InputError, ModelFormatError, ModelLoadError, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.torch_save import (
    META_FILE,
    read_meta,
    save_exported_program,
    save_torchscript,
    specs_from_meta,
)
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.imports import import_attribute

__all__ = [
    "META_FILE",
    "build_torch_handle",
    "handle_from_module",
    "import_factory",
    "load_torch",
    "save_exported_program",
    "save_torchscript",
]

if TYPE_CHECKING:
    import torch

    from embodied_ai_architect.modelio.handle import TorchModelHandle


_PICKLE_HINT = (
    "unpickling runs arbitrary code from the file. If you trust it, set `trust_pickle`. "
    "Safer alternatives: (1) save a state dict (torch.save(model.state_dict(), path)) and give "
    "`arch` (module:factory), or (2) export a TorchScript (torch.jit.script/trace) or "
    "torch.export (.pt2) program"
)


def load_torch(path: Path, fmt: ModelFormat, options: LoadOptions) -> TorchModelHandle:
    if fmt is ModelFormat.TORCHSCRIPT:
        return _load_torchscript(path, options)
    if fmt is ModelFormat.TORCH_EXPORT:
        return _load_exported(path, options)
    return _load_checkpoint(path, fmt, options)


def _load_torchscript(path: Path, options: LoadOptions) -> TorchModelHandle:
    import torch

    extra = {META_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except RuntimeError as exc:
        raise ModelFormatError(
            f"{path.name!r} is a TorchScript archive that cannot be loaded: {first_line(exc)}",
            hint="the archive may be truncated or from an incompatible torch; export it again",
        ) from exc
    module.eval()
    names = _scripted_input_names(module)
    meta = read_meta(extra[META_FILE], path)
    specs = specs_from_meta(meta, path)
    handle = build_torch_handle(module, path, ModelFormat.TORCHSCRIPT, options, specs, names)
    handle.metadata["file_meta"] = {k: v for k, v in meta.items() if k != "inputs"}
    return handle


def _load_exported(path: Path, options: LoadOptions) -> TorchModelHandle:
    import torch

    extra = {META_FILE: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:  # torch.export raises many unrelated types on a bad archive
        raise ModelFormatError(
            f"{path.name!r} is a torch.export archive that cannot be loaded: {first_line(exc)}",
            hint="the archive may be truncated or from an incompatible torch; export it again",
        ) from exc
    names = [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind.name == "USER_INPUT"
    ]
    meta = read_meta(extra[META_FILE], path)
    specs = specs_from_meta(meta, path)
    args = program.example_inputs[0] if program.example_inputs else ()
    if specs is None and args and all(hasattr(a, "shape") for a in args):
        specs = [
            TensorSpec(name=name, shape=list(a.shape), dtype=str(a.dtype).removeprefix("torch."))
            for name, a in zip(names, args, strict=False)
        ]
    module = program.module()
    handle = build_torch_handle(module, path, ModelFormat.TORCH_EXPORT, options, specs, names)
    handle.metadata["file_meta"] = {k: v for k, v in meta.items() if k != "inputs"}
    return handle


def _load_checkpoint(path: Path, fmt: ModelFormat, options: LoadOptions) -> TorchModelHandle:
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not options.trust_pickle:
            raise ModelFormatError(
                f"{path.name!r} is a pickled Python object (e.g. a whole nn.Module), not plain "
                "weights; it was not loaded",
                hint=_PICKLE_HINT,
                field="trust_pickle",
            ) from exc
        obj = _load_trusted_pickle(path)
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelFormatError(
            f"{path.name!r} is a PyTorch file that cannot be read: {first_line(exc)}",
            hint="the file is probably truncated or corrupt; save it again",
        ) from exc

    if isinstance(obj, dict):
        # Training scripts often save {"model": <nn.Module>, "epoch": ...} (trusted pickles only).
        modules = [obj[k] for k in ("model", "module", "policy") if k in obj]
        obj = next((m for m in modules if isinstance(m, torch.nn.Module)), obj)
    if isinstance(obj, torch.nn.Module):
        return build_torch_handle(obj, path, fmt, options, None, None)
    from embodied_ai_architect.modelio.state_dict import load_state_strict

    state = _extract_state_dict(obj, path)
    module, specs = build_architecture(path, options)
    load_state_strict(module, state, source=path.name)
    return build_torch_handle(module, path, fmt, options, specs, None)


def _load_trusted_pickle(path: Path) -> Any:
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as exc:
        raise ModelLoadError(
            f"{path.name!r} refers to code that is not importable here: {exc}",
            hint="make the module defining the model class importable (PYTHONPATH), or save a "
            "state dict and give `arch` (module:factory)",
        ) from exc


def _extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise ModelFormatError(
        f"{path.name!r} holds a {type(obj).__name__}, not a state dict of tensors",
        hint="save torch.save(model.state_dict(), path) or a TorchScript / torch.export program",
    )


def build_architecture(
    path: Path, options: LoadOptions
) -> tuple[torch.nn.Module, list[TensorSpec] | None]:
    """Instantiate the architecture a state dict belongs to (--arch factory or HF config).

    Returns the module and, for a HF config, the input signature derived from it.
    """
    if options.arch:
        return import_factory(options.arch)(**options.arch_kwargs), None
    config = options.config_path or path.parent / "config.json"
    if config.exists():
        from embodied_ai_architect.modelio.hf_io import (
            build_from_config,
            input_specs_from_config,
            read_config,
        )

        module = build_from_config(config)
        return module, input_specs_from_config(read_config(config), module)
    if options.config_path is not None:
        raise ModelFormatError(
            f"config {str(config)!r} does not exist",
            hint="check the `config_path`",
            field="config_path",
        )
    raise ModelFormatError(
        f"{path.name!r} is a state dict (weights only): the architecture is needed to load it",
        hint="give `arch` as package.module:factory (with `arch_kwargs`), or `config_path` for a "
        "Hugging Face model",
        field="arch",
    )


def import_factory(spec: str) -> Any:
    """Resolve 'package.module:attribute' to a callable."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise InputError(
            f"architecture spec {spec!r} is not of the form 'package.module:factory'",
            hint="e.g. `arch` embodied_ai_architect.testing.models:build_cnn",
            field="arch",
        )
    return import_attribute(
        module_name,
        attribute,
        what=f"`arch` {spec!r}",
        kind="factory",
        hint="make the module importable (install it or set PYTHONPATH)",
        error=InputError,
    )


def _scripted_input_names(module: Any) -> list[str]:
    try:
        return [a.name for a in module.forward.schema.arguments[1:]]
    except (AttributeError, RuntimeError):
        return []


def forward_input_names(module: torch.nn.Module) -> list[str]:
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]


# TorchScript argument types that take a Python number rather than a tensor.
_SCALAR_TYPES = {"int": "int64", "float": "float32", "bool": "bool"}


def script_arguments(module: torch.nn.Module) -> list[TensorSpec] | None:
    """The forward arguments of a TorchScript module from its schema (None for eager modules).

    Tensor arguments get an unknown shape; ``int`` / ``float`` arguments are scalars, marked in
    the dtype so the handle passes them as Python numbers.
    """
    import torch

    if not isinstance(module, torch.jit.ScriptModule):
        return None
    try:
        arguments = module.forward.schema.arguments[1:]  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return None
    specs = []
    for argument in arguments:
        kind = str(argument.type)
        if kind in _SCALAR_TYPES:
            specs.append(TensorSpec(name=argument.name, shape=[], dtype=_SCALAR_TYPES[kind]))
        else:
            specs.append(TensorSpec(name=argument.name, shape=["batch", "?"]))
    return specs


def infer_input_specs(module: torch.nn.Module, names: list[str]) -> tuple[list[TensorSpec], str]:
    """Derive the input signature from the module itself; returns (specs, evidence)."""
    import torch

    example = getattr(module, "example_inputs", None)
    if callable(example):
        tensors = example()
        tensors = tensors if isinstance(tensors, tuple) else (tensors,)
        specs = [
            TensorSpec(
                name=names[i] if i < len(names) else f"input_{i}",
                shape=list(t.shape),
                dtype=str(t.dtype).removeprefix("torch."),
                **_int_range(module, t),
            )
            for i, t in enumerate(tensors)
        ]
        return specs, "the module's example_inputs()"
    first = next(
        (
            m
            for m in module.modules()
            if not list(m.children()) and any(True for _ in m.parameters(recurse=False))
        ),
        None,
    )
    if isinstance(first, torch.nn.Linear) and len(names) <= 1:
        name = names[0] if names else "input"
        return [TensorSpec(name=name, shape=[1, first.in_features])], (
            f"first layer is Linear(in_features={first.in_features})"
        )
    layer = type(first).__name__ if first is not None else "none"
    from embodied_ai_architect.modelio.signature import describe_inputs, example_input

    specs = script_arguments(module) or [
        TensorSpec(name=name, shape=["batch", "?"]) for name in names or ["input"]
    ]
    raise InputError(
        f"the input shapes of this model cannot be derived from its structure (first layer: "
        f"{layer}); it takes {len(specs)} input(s): {describe_inputs(specs)}",
        hint="give each input (the rank is a guess for tensors), e.g. "
        + " ".join(example_input(spec) for spec in specs),
        field="inputs",
        details={"inputs": [spec.model_dump() for spec in specs]},
    )


def _int_range(module: Any, tensor: torch.Tensor) -> dict[str, float]:
    if tensor.dtype.is_floating_point:
        return {}
    vocab = getattr(module, "vocab_size", None)
    return {"low": 0, "high": float(vocab)} if vocab else {"low": 0, "high": 2}


def build_torch_handle(
    module: torch.nn.Module,
    path: Path,
    fmt: ModelFormat,
    options: LoadOptions,
    specs: list[TensorSpec] | None,
    names: list[str] | None,
    evidence: str = "file metadata",
) -> TorchModelHandle:
    """Wrap ``module`` in a handle; the input signature comes from (in order of precedence)
    ``options.input_shapes``, ``specs`` (file metadata / config) or the module's structure."""
    from embodied_ai_architect.modelio.handle import TorchModelHandle, set_eval
    from embodied_ai_architect.modelio.onnx_io import apply_shapes

    set_eval(module)
    names = names or forward_input_names(module)
    if options.input_shapes is not None:
        count = len(options.input_shapes)
        if specs is None:
            # Keep dtypes / integer ranges the module declares; only the shapes are the user's.
            with contextlib.suppress(InputError):
                specs, _ = infer_input_specs(module, names)
        base = specs or [
            TensorSpec(
                name=names[i] if i < len(names) else f"input_{i}",
                shape=list(s),
            )
            for i, s in enumerate(options.input_shapes)
        ]
        if len(base) != count:
            raise InputError(
                f"{count} input shape(s) given but the model takes {len(base)} input(s)",
                hint="give one `input_shapes` entry per model input, in order",
                field="input_shapes",
            )
        specs = [
            spec.model_copy(update={"shape": list(shape)})
            for spec, shape in zip(base, options.input_shapes, strict=True)
        ]
        evidence = "input_shapes"
    elif specs is None:
        try:
            specs, evidence = infer_input_specs(module, names)
        except InputError:
            if not options.inputs:
                raise
            # The user names the inputs: start from the schema (TorchScript) or forward()'s
            # names; every tensor argument must be given, the overrides set the shapes later.
            specs = script_arguments(module) or [TensorSpec(name=n, shape=["?"]) for n in names]
            given = {o.name for o in options.inputs}
            if any(spec.shape and spec.name not in given for spec in specs):
                raise
            specs = [spec.model_copy(update={"shape": []}) for spec in specs]
            evidence = "inputs"
    else:
        specs = apply_shapes(specs, None)
    return TorchModelHandle(
        module,
        name=path.stem,
        source_format=fmt,
        path=path,
        inputs=specs,
        metadata={"input_evidence": evidence},
    )


def handle_from_module(
    module: torch.nn.Module, *, name: str = "model", input_shapes: list[list[int]] | None = None
) -> TorchModelHandle:
    """Wrap an in-memory module (tests, techniques producing new modules)."""
    return build_torch_handle(
        module,
        Path(f"{name}.pt"),
        ModelFormat.TORCH_ZIP,
        LoadOptions(input_shapes=input_shapes),
        None,
        None,
    )
