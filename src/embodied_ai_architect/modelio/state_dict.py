"""Plain state dicts: read weight files and load them strictly into a module.

Strict means every parameter and buffer the module has is in the file with the right shape and
nothing else is: a missing key would leave random initialisation in the model unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import ModelFormatError, ModelLoadError, first_line

if TYPE_CHECKING:
    import torch


def read_state_dict(files: list[Path]) -> dict[str, torch.Tensor]:
    """Read SafeTensors (or ``pytorch_model.bin`` with weights_only) files into one state dict."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            if file.suffix == ".bin":
                part = torch.load(str(file), map_location="cpu", weights_only=True)
            else:
                part = load_file(str(file), device="cpu")
        except (SafetensorError, OSError, RuntimeError, ValueError, EOFError) as exc:
            raise ModelFormatError(
                f"{file.name!r} cannot be read as a weights file: {first_line(exc)}",
                hint="the file is probably truncated or corrupt; save or download it again",
            ) from exc
        duplicated = sorted(set(part) & set(state))
        if duplicated:
            raise ModelFormatError(
                f"tensor(s) {duplicated[:5]} appear in more than one shard ({file.name!r})",
                hint="the shards do not belong to one checkpoint; re-save it",
            )
        state.update(part)
    return state


def load_state_strict(
    module: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str
) -> None:
    """Load ``state`` into ``module``; raise listing missing / unexpected / mis-shaped keys.

    Keys transformers declares as tied (``lm_head.weight`` ← embeddings) or ignorable on load are
    not reported missing: they are derived from other weights, not stored.
    """
    model_keys = module.state_dict()
    mismatched = [
        f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(value.shape)}"
        for key, value in model_keys.items()
        if key in state and tuple(state[key].shape) != tuple(value.shape)
    ]
    if mismatched:
        raise ModelLoadError(
            f"the weights in {source!r} have {len(mismatched)} tensor(s) of the wrong shape: "
            f"{mismatched[:5]}",
            hint="the config / `arch_kwargs` describe a different size than the checkpoint",
            field="arch_kwargs",
            details={"mismatched": mismatched},
        )
    result = module.load_state_dict(state, strict=False)
    derived = _derived_keys(module)
    missing = [k for k in result.missing_keys if not _matches(k, derived["missing"])]
    unexpected = [k for k in result.unexpected_keys if not _matches(k, derived["unexpected"])]
    if missing or unexpected:
        raise ModelLoadError(
            f"the weights in {source!r} do not match the architecture: "
            f"{len(missing)} missing key(s) {missing[:5]}, "
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}",
            hint="check `arch` / `config_path` (and `arch_kwargs`) describe the model the "
            "weights came from; random initialisation is never used silently",
            field="arch",
            details={"missing": missing, "unexpected": unexpected},
        )
    tie = getattr(module, "tie_weights", None)
    if callable(tie) and derived["missing"]:
        tie()


def _derived_keys(module: Any) -> dict[str, list[str]]:
    tied = getattr(module, "all_tied_weights_keys", None) or {}
    ignore_missing = getattr(module, "_keys_to_ignore_on_load_missing", None) or []
    ignore_unexpected = getattr(module, "_keys_to_ignore_on_load_unexpected", None) or []
    return {
        "missing": [f"^{re.escape(k)}$" for k in tied] + list(ignore_missing),
        "unexpected": list(ignore_unexpected),
    }


def _matches(key: str, patterns: list[str]) -> bool:
    return any(re.search(pattern, key) for pattern in patterns)
