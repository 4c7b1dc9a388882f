"""Evaluation datasets: labelled (.npz x/y, CSV, image folder per class) or inputs only."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embodied_ai_architect.data.calibration import IMAGE_SUFFIXES, Preprocessing, load_image
from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.tensors import TensorSpec

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class EvalDataset:
    """Inputs stacked along axis 0 per model input, and labels when the data has them."""

    inputs: Feeds
    labels: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def take(self, count: int) -> EvalDataset:
        return EvalDataset(
            {k: v[:count] for k, v in self.inputs.items()},
            None if self.labels is None else self.labels[:count],
            self.source,
        )


def load_eval_dataset(path: Path, inputs: list[TensorSpec], *, max_samples: int) -> EvalDataset:
    """Read ``path`` for a model with signature ``inputs``; validates shapes against it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"evaluation data {str(path)!r} does not exist", hint="check the path")
    if path.is_dir():
        dataset = _image_folder(path, inputs)
    elif path.suffix == ".npz":
        dataset = _npz(path, inputs)
    elif path.suffix == ".npy":
        dataset = _single(path, inputs, np.load(path, allow_pickle=False), None)
    elif path.suffix.lower() == ".csv":
        dataset = _csv(path, inputs)
    else:
        raise InputError(
            f"evaluation data {path.name!r} has an unsupported type",
            hint="use an .npz with x and y, a CSV whose last column is the label, or a folder "
            "with one sub-folder of images per class",
        )
    if len(dataset) == 0:
        raise InputError(f"evaluation data {path.name!r} holds no samples", hint="add samples")
    return dataset.take(max_samples)


def _check(inputs: list[TensorSpec], arrays: Feeds, source: str) -> Feeds:
    checked: Feeds = {}
    for spec in inputs:
        array = arrays[spec.name]
        expected = tuple(d if isinstance(d, int) and d > 0 else None for d in list(spec.shape)[1:])
        actual = tuple(array.shape[1:])
        if len(actual) != len(expected) or any(
            e is not None and e != a for e, a in zip(expected, actual, strict=True)
        ):
            raise InputError(
                f"{source}: samples for input {spec.name!r} have shape {actual}, the model expects "
                f"{tuple(spec.shape[1:])}",
                hint="stack samples along the first axis in the model's input shape "
                "(or give `input_shapes` when the model's shape is dynamic)",
            )
        checked[spec.name] = np.ascontiguousarray(array.astype(np.dtype(spec.dtype), copy=False))
    return checked


def _single(
    path: Path, inputs: list[TensorSpec], x: np.ndarray, y: np.ndarray | None
) -> EvalDataset:
    if len(inputs) != 1:
        raise InputError(
            f"{path.name!r} holds one input array but the model takes {len(inputs)} inputs",
            hint=f"save an .npz with arrays named {[s.name for s in inputs]} (and y)",
        )
    return EvalDataset(
        _check(inputs, {inputs[0].name: x}, path.name), _labels(y, x, path), path.name
    )


def _labels(y: np.ndarray | None, x: np.ndarray, path: Path) -> np.ndarray | None:
    if y is None:
        return None
    if len(y) != len(x):
        raise InputError(
            f"{path.name!r}: {len(x)} samples but {len(y)} labels",
            hint="x and y must have the same first dimension",
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(
            f"{path.name!r}: labels must be integer class ids (got {y.dtype})",
            hint="for regression or action outputs, omit y to measure fidelity to the original",
        )
    return y.astype(np.int64).reshape(-1)


def _npz(path: Path, inputs: list[TensorSpec]) -> EvalDataset:
    with np.load(path, allow_pickle=False) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    labels = arrays.pop("y", None)
    if len(inputs) == 1 and inputs[0].name not in arrays:
        if "x" not in arrays:
            raise InputError(
                f"{path.name!r} has no array 'x' (has {sorted(arrays)})",
                hint="save numpy.savez(path, x=inputs, y=labels)",
            )
        return _single(path, inputs, arrays["x"], labels)
    missing = [s.name for s in inputs if s.name not in arrays]
    if missing:
        raise InputError(
            f"{path.name!r} lacks arrays for inputs {missing} (has {sorted(arrays)})",
            hint="name the arrays after the model's inputs (y for labels)",
        )
    checked = _check(inputs, arrays, path.name)
    first = next(iter(checked.values()))
    return EvalDataset(checked, _labels(labels, first, path), path.name)


def _csv(path: Path, inputs: list[TensorSpec]) -> EvalDataset:
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]  # header
    try:
        table = np.asarray([[float(v) for v in row] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise InputError(
            f"{path.name!r} has non-numeric values: {exc}",
            hint="one sample per row, numeric features, the class id in the last column",
        ) from exc
    if table.ndim != 2 or table.shape[1] < 2:
        raise InputError(f"{path.name!r} needs features and a label column", hint="check the CSV")
    x = table[:, :-1]
    spec = inputs[0]
    try:
        x = x.reshape((len(x), *spec.concrete_shape(1)[1:]))
    except (ValueError, InputError) as exc:
        raise InputError(
            f"{path.name!r} has {table.shape[1] - 1} features per row; input {spec.name!r} needs "
            f"shape {spec.shape[1:]}",
            hint="the CSV's feature columns must fill the model input exactly",
        ) from exc
    return _single(path, inputs, x, table[:, -1].astype(np.int64))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _image_folder(folder: Path, inputs: list[TensorSpec]) -> EvalDataset:
    if len(inputs) != 1:
        raise InputError("image folders need a single-input model", hint="use an .npz instead")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise InputError(
            f"{str(folder)!r} has no class sub-folders",
            hint="lay images out as folder/<class>/<image>; classes sort to ids 0..N-1",
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        for file in sorted((folder / name).rglob("*")):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(load_image(file, inputs[0], Preprocessing()))
                labels.append(index)
    if not images:
        raise InputError(f"{str(folder)!r} contains no images", hint="add images per class")
    x = np.concatenate(images, axis=0)
    return EvalDataset(
        _check(inputs, {inputs[0].name: x}, folder.name), np.asarray(labels), folder.name
    )
