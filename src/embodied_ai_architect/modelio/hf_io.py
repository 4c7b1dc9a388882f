"""Hugging Face style checkpoints: SafeTensors (single, sharded, directory) + ``config.json``.

The architecture is always built from the config with transformers (``AutoConfig.for_model`` +
the class named in ``architectures`` or ``AutoModel.from_config``); nothing is fetched from the
hub. Weights must then cover the model exactly — a missing or unexpected key is an error that
lists them, so a randomly initialised model is never passed off as the user's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import InputError, ModelFormatError, ModelLoadError, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    import torch

    from embodied_ai_architect.modelio.handle import TorchModelHandle

INDEX_FILE = "model.safetensors.index.json"
TORCH_BIN_FILE = "pytorch_model.bin"
DEFAULT_TEXT_LENGTH = 16  # tokens in example inputs; override with --input-shape


def load_hf(path: Path, fmt: ModelFormat, options: LoadOptions) -> TorchModelHandle:
    """Load a SafeTensors file / sharded index / HF directory into a torch handle.

    The architecture comes from ``options.arch`` (factory) or a ``config.json`` (``--config``,
    else next to the weights). The input signature is derived from the config (or the module's
    ``example_inputs()`` for factories) unless ``options.input_shapes`` is given.
    """
    from embodied_ai_architect.modelio.state_dict import load_state_strict, read_state_dict
    from embodied_ai_architect.modelio.torch_io import build_torch_handle, import_factory

    weight_files = _weight_files(path, fmt)
    config_path = options.config_path or _default_config(path, fmt)
    config: dict[str, Any] | None = None
    if options.arch:
        state = read_state_dict(weight_files)
        module = import_factory(options.arch)(**options.arch_kwargs)
        load_state_strict(module, state, source=path.name)
        specs = None
    elif config_path.exists():
        config = read_config(config_path)
        _validate_weight_files(weight_files)
        module = load_pretrained_local(weight_files, config_path, source=path.name)
        specs = input_specs_from_config(config, module)
    else:
        raise ModelFormatError(
            f"{path.name!r} holds SafeTensors weights but no architecture: no config.json "
            f"({config_path}) and no `arch`",
            hint="give the model's Hugging Face config as `config_path`, or `arch` "
            "(package.module:factory)",
            field="config_path",
        )
    evidence = "config.json" if specs is not None else "file metadata"
    handle = build_torch_handle(module, path, fmt, options, specs, None, evidence)
    handle.metadata["weight_files"] = [str(f) for f in weight_files]
    if config is not None:
        handle.metadata["hf_model_type"] = config.get("model_type")
        handle.metadata["hf_architectures"] = config.get("architectures") or []
        handle.metadata["checkpoint_dtype"] = config.get("dtype") or config.get("torch_dtype")
    return handle


def load_pretrained_local(
    weight_files: list[Path], config_path: Path, *, source: str
) -> torch.nn.Module:
    """Build the architecture from ``config_path`` and load ``weight_files`` over it with
    transformers' own loader (it knows each architecture's key renames and tied weights), from a
    private directory of links — local files only, never the hub. Any missing, unexpected or
    mis-shaped weight is an error listing them.
    """
    import tempfile

    config = _config_object(config_path)
    model_class = _architecture_class(getattr(config, "architectures", None))
    if model_class is None:
        from transformers import AutoModel

        model_class = AutoModel
    with tempfile.TemporaryDirectory(prefix="branes-hf-") as staging:
        directory = Path(staging)
        (directory / "config.json").symlink_to(Path(config_path).resolve())
        _link_weights(weight_files, directory)
        try:
            with _quiet_transformers():
                # ignore_mismatched_sizes only makes transformers *report* the shapes (it raises
                # otherwise with the details in a log); we then refuse the model below.
                module, info = model_class.from_pretrained(
                    str(directory),
                    config=config,
                    local_files_only=True,
                    output_loading_info=True,
                    trust_remote_code=False,
                    ignore_mismatched_sizes=True,
                )
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"transformers cannot load the weights of {source!r} into "
                f"{getattr(model_class, '__name__', model_class)}: {first_line(exc)}",
                hint="check config.json belongs to these weights (same architecture and sizes)",
            ) from exc
    _raise_on_loading_info(info, source)
    return module.eval()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars; our errors carry the findings."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _link_weights(weight_files: list[Path], directory: Path) -> None:
    if len(weight_files) == 1 and weight_files[0].suffix == ".bin":
        (directory / TORCH_BIN_FILE).symlink_to(weight_files[0].resolve())
    elif len(weight_files) == 1:
        (directory / "model.safetensors").symlink_to(weight_files[0].resolve())
    else:
        (directory / INDEX_FILE).symlink_to((weight_files[0].parent / INDEX_FILE).resolve())
        for shard in weight_files:
            (directory / shard.name).symlink_to(shard.resolve())


def _raise_on_loading_info(info: dict[str, Any], source: str) -> None:
    missing = sorted(info.get("missing_keys") or [])
    unexpected = sorted(info.get("unexpected_keys") or [])
    mismatched = [_describe_mismatch(item) for item in info.get("mismatched_keys") or []]
    if missing or unexpected or mismatched:
        raise ModelLoadError(
            f"the weights in {source!r} do not match the architecture: "
            f"{len(missing)} missing key(s) {missing[:5]}, "
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}"
            + (f", {len(mismatched)} of the wrong shape {mismatched[:3]}" if mismatched else ""),
            hint="check config.json (or `config_path`) describes the model the weights came from; "
            "random initialisation is never used silently",
            details={"missing": missing, "unexpected": unexpected, "mismatched": mismatched},
        )


def _describe_mismatch(item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 3:
        key, checkpoint, model = item
        return f"{key}: checkpoint {tuple(checkpoint)} vs model {tuple(model)}"
    return str(item)


def _validate_weight_files(files: list[Path]) -> None:
    """Read every header up front so a truncated file is a format error, not a load crash."""
    from safetensors import SafetensorError, safe_open

    for file in files:
        if file.suffix == ".bin":
            continue
        try:
            with safe_open(str(file), framework="pt") as handle:
                keys = list(handle.keys())
                for key in keys[-1:]:  # the last tensor ends at the end of the file
                    handle.get_slice(key)
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFormatError(
                f"{file.name!r} cannot be read as SafeTensors: {first_line(exc)}",
                hint="the file is probably truncated or corrupt; save or download it again",
            ) from exc


def _default_config(path: Path, fmt: ModelFormat) -> Path:
    return (path if fmt is ModelFormat.HF_DIRECTORY else path.parent) / "config.json"


def _weight_files(path: Path, fmt: ModelFormat) -> list[Path]:
    if fmt is ModelFormat.SAFETENSORS:
        return [path]
    if fmt is ModelFormat.SAFETENSORS_INDEX:
        return _shards_from_index(path)
    if (path / INDEX_FILE).exists():
        return _shards_from_index(path / INDEX_FILE)
    files = sorted(path.glob("*.safetensors"))
    if len(files) == 1:
        return files
    if len(files) > 1:
        raise ModelFormatError(
            f"directory {str(path)!r} holds {len(files)} .safetensors files but no {INDEX_FILE}",
            hint=f"add the {INDEX_FILE} written with the shards, or pass one weights file",
        )
    if (path / TORCH_BIN_FILE).exists():
        return [path / TORCH_BIN_FILE]
    raise ModelFormatError(
        f"directory {str(path)!r} holds no weights",
        hint="a Hugging Face directory needs config.json and model.safetensors (or shards)",
    )


def _shards_from_index(index_path: Path) -> list[Path]:
    try:
        index = json.loads(index_path.read_text())
        shard_names = sorted(set(index["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFormatError(
            f"{index_path.name!r} is not a valid sharded-checkpoint index: {exc}",
            hint='the index must be JSON with a "weight_map" from tensor names to shard files',
        ) from exc
    shards = [index_path.parent / name for name in shard_names]
    missing = [s.name for s in shards if not s.exists()]
    if missing:
        raise ModelFormatError(
            f"{index_path.name!r} lists shard(s) that are missing: {', '.join(missing)}",
            hint="keep every shard next to the index, as written by save_pretrained",
        )
    return shards


def read_config(config_path: Path) -> dict[str, Any]:
    """Parse a config.json and check it names a ``model_type``."""
    try:
        config = json.loads(Path(config_path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelFormatError(
            f"config {str(config_path)!r} cannot be read as JSON: {exc}",
            hint="pass the config.json written by save_pretrained",
        ) from exc
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise ModelFormatError(
            f"config {str(config_path)!r} has no 'model_type'",
            hint="a Hugging Face config.json names its model_type (e.g. 'llama', 'vit'); "
            "otherwise give `arch` (package.module:factory)",
        )
    return config


def _config_object(config_path: Path) -> Any:
    """A transformers config object from a config.json (AutoConfig.for_model, no hub access)."""
    import transformers
    from transformers import AutoConfig

    from embodied_ai_architect.models.vla import register_with_transformers

    register_with_transformers()
    raw = read_config(Path(config_path))
    model_type = raw["model_type"]
    kwargs = {k: v for k, v in raw.items() if k != "model_type"}
    try:
        config = AutoConfig.for_model(model_type, **kwargs)
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"model_type {model_type!r} in {Path(config_path).name!r} is not known to "
            f"transformers {transformers.__version__}: {first_line(exc)}",
            hint="upgrade transformers if the architecture is newer, or give `arch` "
            "(package.module:factory) to build it from your own code",
            field="arch",
        ) from exc
    except TypeError as exc:
        raise ModelLoadError(
            f"{Path(config_path).name!r} is not a valid {model_type!r} config: {exc}",
            hint="pass the config.json written with the weights by save_pretrained",
        ) from exc
    # Analysis runs single forward passes; a KV-cache object is not a tensor output.
    if hasattr(config, "use_cache"):
        config.use_cache = False
    return config


def build_from_config(config_path: Path) -> torch.nn.Module:
    """Build the (randomly initialised) architecture described by a Hugging Face config.json.

    Uses the first class in ``architectures`` when transformers has it, else
    ``AutoModel.from_config``. ``model_type: branes_vla`` builds the platform's tiny VLA.
    The caller must load weights over it (``state_dict.load_state_strict``); to load a
    checkpoint written by ``save_pretrained`` use :func:`load_pretrained_local`, which also
    applies transformers' key renames.

    Example:
        >>> module = build_from_config(Path("checkpoint/config.json"))  # doctest: +SKIP
    """
    from transformers import AutoModel

    config = _config_object(config_path)
    model_class = _architecture_class(getattr(config, "architectures", None))
    try:
        module = model_class(config) if model_class is not None else AutoModel.from_config(config)
    except (ValueError, TypeError, AttributeError, RuntimeError) as exc:
        raise ModelLoadError(
            f"transformers cannot build {config.model_type!r} from {Path(config_path).name!r}: "
            f"{first_line(exc)}",
            hint="check the config matches the installed transformers version, or give `arch`",
            field="arch",
        ) from exc
    return module.eval()


def _architecture_class(architectures: Any) -> Any:
    """The transformers class named first in ``architectures``, if it is importable."""
    import transformers

    from embodied_ai_architect.models import vla

    if not isinstance(architectures, list) or not architectures:
        return None
    name = architectures[0]
    if name == vla.BranesVLAForActionPrediction.__name__:
        return vla.BranesVLAForActionPrediction
    try:
        candidate = getattr(transformers, name, None)
    except (ImportError, RuntimeError):  # lazy modules raise when optional deps are missing
        return None
    return candidate if isinstance(candidate, type) else None


def input_specs_from_config(config: dict[str, Any], module: Any) -> list[TensorSpec]:
    """Derive the input signature from a HF config.

    Vision models take ``pixel_values [1, C, S, S]``, text models ``input_ids [1, seq]`` (int64,
    ids in [0, vocab_size)), vision-language(-action) models both, in ``forward``'s order.
    """
    vision = config.get("vision_config") if isinstance(config.get("vision_config"), dict) else None
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else None
    specs: list[TensorSpec] = []
    vision_source = vision or (config if "image_size" in config else None)
    if vision_source is not None:
        size = _image_size(vision_source.get("image_size", 224))
        channels = int(vision_source.get("num_channels", 3))
        specs.append(TensorSpec(name="pixel_values", shape=[1, channels, size, size]))
    text_source = text or (config if vision is None and "vocab_size" in config else None)
    if text_source is not None and "vocab_size" in text_source:
        max_positions = int(text_source.get("max_position_embeddings") or DEFAULT_TEXT_LENGTH)
        length = min(DEFAULT_TEXT_LENGTH, max_positions)
        specs.append(
            TensorSpec(
                name="input_ids",
                shape=[1, length],
                dtype="int64",
                low=0,
                high=float(text_source["vocab_size"]),
            )
        )
    if not specs:
        raise InputError(
            f"cannot derive the inputs of model_type {config.get('model_type')!r} from its config "
            "(no image_size or vocab_size)",
            hint="give `input_shapes` (one per input, in forward's order)",
            field="input_shapes",
        )
    order = _forward_order(module)
    return sorted(specs, key=lambda s: order.get(s.name, len(order)))


def _image_size(value: Any) -> int:
    if isinstance(value, list | tuple):
        return int(value[0])
    if isinstance(value, dict):
        size: Any = value.get("height", value.get("shortest_edge", 224))
        return int(size)
    return int(value)


def _forward_order(module: Any) -> dict[str, int]:
    import inspect

    try:
        names = list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        return {}
    return {name: index for index, name in enumerate(names)}
