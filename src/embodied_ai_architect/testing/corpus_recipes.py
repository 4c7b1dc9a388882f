"""Recipes that derive corpus members here from fetched weights or real data in packages.

Each takes (manifest entry, source path or None, target path) and writes the target. They cover
the exporters and formats no registry package ships a file for: sharded safetensors, torch.export
programs, the dynamo ONNX exporter, a control policy trained on MuJoCo expert data, and Keras.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embodied_ai_architect.testing.corpus import CorpusModel


def _module_with_weights(entry: CorpusModel, weights: Path) -> Any:
    import torch

    from embodied_ai_architect.modelio.torch_io import import_factory

    assert entry.derive is not None and entry.derive.arch is not None
    module = import_factory(entry.derive.arch)()
    module.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu"))
    return module.eval()


def reshard_safetensors(entry: CorpusModel, source: Path | None, target: Path) -> None:
    """A Hugging Face directory with its weights split in two shards plus the index file."""
    from safetensors.numpy import load_file, save_file

    assert source is not None
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix != ".safetensors":
            shutil.copy2(path, target / path.name)
    tensors = load_file(str(source / "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    weight_map: dict[str, str] = {}
    for index, part in enumerate((names[:half], names[half:]), start=1):
        shard = f"model-{index:05d}-of-00002.safetensors"
        save_file({name: tensors[name] for name in part}, str(target / shard), {"format": "pt"})
        weight_map.update(dict.fromkeys(part, shard))
    total = sum(int(array.nbytes) for array in tensors.values())
    index_file = target / "model.safetensors.index.json"
    index_file.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))


def torch_export(entry: CorpusModel, source: Path | None, target: Path) -> None:
    """A ``torch.export`` program (.pt2) of an architecture loaded with pretrained weights."""
    import torch

    assert source is not None
    module = _module_with_weights(entry, source)
    program = torch.export.export(module, module.example_inputs())
    torch.export.save(program, str(target))


def onnx_dynamo(entry: CorpusModel, source: Path | None, target: Path) -> None:
    """The dynamo (torch.export-based) ONNX exporter on pretrained weights, one file."""
    import onnx
    import torch

    assert source is not None
    module = _module_with_weights(entry, source)
    program = torch.onnx.export(module, module.example_inputs(), dynamo=True, verbose=False)
    assert program is not None
    onnx.save(program.model_proto, str(target))


def train_reach_mlp(entry: CorpusModel, source: Path | None, target: Path) -> None:
    """The MuJoCo reach MLP policy, behaviour-cloned from the scripted expert (≈1 min)."""
    from embodied_ai_architect.sim.training import train_policy

    train_policy("reach", "mlp", out=target)


def keras_digits(entry: CorpusModel, source: Path | None, target: Path) -> None:
    """A Keras CNN trained on scikit-learn's digits (real data that ships in the package)."""
    import numpy as np
    import tensorflow as tf  # type: ignore[import-not-found]

    from embodied_ai_architect.testing.digits import load_digits_split

    tf.keras.utils.set_random_seed(0)
    split = load_digits_split(image_size=16)
    x_train = np.transpose(split.x_train, (0, 2, 3, 1))
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(16, 16, 1)),
            tf.keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, split.y_train, epochs=15, batch_size=64, verbose=0)
    model.save(str(target))


RECIPES: dict[str, Callable[[CorpusModel, Path | None, Path], None]] = {
    "reshard_safetensors": reshard_safetensors,
    "torch_export": torch_export,
    "onnx_dynamo": onnx_dynamo,
    "train_reach_mlp": train_reach_mlp,
    "keras_digits": keras_digits,
}
