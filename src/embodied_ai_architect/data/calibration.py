"""Calibration data providers: where representative inputs for INT8 calibration come from.

Every provider yields feeds (``{input_name: array}``) batch by batch, deterministically; used by
ORT static quantization, NNCF, TensorRT's entropy calibrator and TFLite representative datasets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    from PIL import Image

Feeds = dict[str, np.ndarray]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp"}


class Preprocessing(BaseModel):
    """How raw images become model inputs (must match inference)."""

    model_config = ConfigDict(frozen=True)

    layout: str = Field(default="NCHW", pattern="^(NCHW|NHWC)$")
    color: str = Field(default="RGB", pattern="^(RGB|BGR|L)$")
    scale: float = Field(default=1 / 255, description="Multiply pixel values (0-255) by this.")
    mean: list[float] = Field(default_factory=lambda: [0.0], description="Per-channel mean.")
    std: list[float] = Field(default_factory=lambda: [1.0], description="Per-channel std.")
    resize: str = Field(default="stretch", pattern="^(stretch|letterbox)$")


class CalibrationProvider(ABC):
    """Yields calibration batches for a model's inputs."""

    def __init__(self, inputs: list[TensorSpec], *, num_samples: int, batch_size: int = 1):
        if num_samples < 1:
            raise InputError(
                f"num_samples must be at least 1 (got {num_samples})",
                hint="use 100–500 representative samples for INT8 calibration",
            )
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1 (got {batch_size})", hint="use 1–32")
        self.inputs = inputs
        self.num_samples = num_samples
        self.batch_size = batch_size

    @abstractmethod
    def samples(self) -> Iterator[Feeds]:
        """Yield single samples (batch dimension 1), exactly ``num_samples`` of them."""

    def batches(self) -> Iterator[Feeds]:
        """Group samples into batches of ``batch_size`` (the last one may be smaller)."""
        pending: list[Feeds] = []
        for sample in self.samples():
            pending.append(sample)
            if len(pending) == self.batch_size:
                yield _stack(pending)
                pending = []
        if pending:
            yield _stack(pending)


def _stack(samples: list[Feeds]) -> Feeds:
    return {name: np.concatenate([s[name] for s in samples], axis=0) for name in samples[0]}


class ArrayProvider(CalibrationProvider):
    """Samples from a ``.npy`` file (one input) or ``.npz`` file (arrays named like the inputs)."""

    def __init__(
        self, path: Path, inputs: list[TensorSpec], *, num_samples: int, batch_size: int = 1
    ):
        super().__init__(inputs, num_samples=num_samples, batch_size=batch_size)
        self.path = Path(path)
        self.arrays = self._load()

    def _load(self) -> dict[str, np.ndarray]:
        try:
            loaded = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot read calibration arrays from {self.path.name!r}: {exc}",
                hint="save with numpy.save / numpy.savez (no pickled objects)",
            ) from exc
        if isinstance(loaded, np.ndarray):
            if len(self.inputs) != 1:
                raise InputError(
                    f"{self.path.name!r} holds one array but the model has {len(self.inputs)} inputs",
                    hint=f"save an .npz with arrays named {[s.name for s in self.inputs]}",
                )
            arrays = {self.inputs[0].name: loaded}
        else:
            names = list(loaded.files)
            if len(self.inputs) == 1 and self.inputs[0].name not in names:
                key = "x" if "x" in names else names[0]
                arrays = {self.inputs[0].name: loaded[key]}
            else:
                missing = [s.name for s in self.inputs if s.name not in names]
                if missing:
                    raise InputError(
                        f"{self.path.name!r} lacks arrays for inputs {missing} (has {names})",
                        hint="name the arrays in the .npz after the model's inputs",
                    )
                arrays = {s.name: loaded[s.name] for s in self.inputs}
        for spec in self.inputs:
            array = arrays[spec.name]
            expected = tuple(d for d in spec.concrete_shape(1)[1:])
            if tuple(array.shape[1:]) != expected:
                raise InputError(
                    f"calibration array for {spec.name!r} has sample shape {tuple(array.shape[1:])}, "
                    f"the model expects {expected}",
                    hint="store samples stacked along the first axis with the model's input shape",
                )
        count = min(len(a) for a in arrays.values())
        if count == 0:
            raise InputError(
                f"{self.path.name!r} holds no samples", hint="provide at least one sample"
            )
        return {
            name: a.astype(np.dtype(_dtype(self.inputs, name)), copy=False)
            for name, a in arrays.items()
        }

    def samples(self) -> Iterator[Feeds]:
        count = min(len(a) for a in self.arrays.values())
        for index in range(min(self.num_samples, count)):
            yield {name: array[index : index + 1] for name, array in self.arrays.items()}


def _dtype(specs: list[TensorSpec], name: str) -> str:
    return next(s.dtype for s in specs if s.name == name)


class ImageFolderProvider(CalibrationProvider):
    """Images from a folder (recursively), preprocessed like inference inputs."""

    def __init__(
        self,
        folder: Path,
        inputs: list[TensorSpec],
        *,
        num_samples: int,
        batch_size: int = 1,
        preprocessing: Preprocessing | None = None,
    ):
        super().__init__(inputs, num_samples=num_samples, batch_size=batch_size)
        if len(inputs) != 1:
            raise InputError(
                f"image calibration needs a single-input model; this one has {len(inputs)} inputs",
                hint="use an .npz with one array per input instead",
            )
        self.folder = Path(folder)
        self.preprocessing = preprocessing or Preprocessing()
        if not self.folder.is_dir():
            raise InputError(
                f"calibration folder {str(self.folder)!r} does not exist", hint="check the path"
            )
        self.files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise InputError(
                f"calibration folder {str(self.folder)!r} contains no images "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})",
                hint="put 100–500 representative images in it",
            )

    def samples(self) -> Iterator[Feeds]:
        spec = self.inputs[0]
        for path in self.files[: self.num_samples]:
            yield {spec.name: load_image(path, spec, self.preprocessing)}


def load_image(path: Path, spec: TensorSpec, pre: Preprocessing) -> np.ndarray:
    """Read one image file into a (1, ...) float array shaped for ``spec``."""
    from PIL import Image, UnidentifiedImageError

    shape = spec.concrete_shape(1)
    if len(shape) != 4:
        raise InputError(
            f"input {spec.name!r} has shape {shape}; images need a 4-D (N,C,H,W or N,H,W,C) input",
            hint="use .npy/.npz calibration data for non-image models",
        )
    channels, height, width = (
        (shape[1], shape[2], shape[3]) if pre.layout == "NCHW" else (shape[3], shape[1], shape[2])
    )
    try:
        with Image.open(path) as opened:
            converted = opened.convert("L" if channels == 1 else "RGB")
            if pre.resize == "letterbox":
                converted = _letterbox(converted, width, height)
            else:
                converted = converted.resize((width, height))
            array = np.asarray(converted, dtype=np.float32)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(
            f"cannot read image {path.name!r}: {exc}",
            hint="remove or replace unreadable files in the calibration / test folder",
        ) from exc
    if array.ndim == 2:
        array = array[:, :, None]
    if pre.color == "BGR" and channels == 3:
        array = array[:, :, ::-1]
    array = array * pre.scale
    mean = np.asarray(pre.mean, dtype=np.float32)
    std = np.asarray(pre.std, dtype=np.float32)
    array = (array - mean) / std
    if pre.layout == "NCHW":
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array[None].astype(np.float32))


def _letterbox(image: Image.Image, width: int, height: int) -> Image.Image:
    from PIL import Image

    scale = min(width / image.width, height / image.height)
    resized = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    )
    canvas = Image.new(
        image.mode, (width, height), color=114 if image.mode == "L" else (114, 114, 114)
    )
    canvas.paste(resized, ((width - resized.width) // 2, (height - resized.height) // 2))
    return canvas


class GeneratorProvider(CalibrationProvider):
    """Samples drawn from a function ``(rng, spec_list) -> feeds`` (e.g. simulator observations)."""

    def __init__(
        self,
        generate: Callable[[np.random.Generator], Feeds],
        inputs: list[TensorSpec],
        *,
        num_samples: int,
        batch_size: int = 1,
        seed: int = 0,
    ):
        super().__init__(inputs, num_samples=num_samples, batch_size=batch_size)
        self.generate = generate
        self.seed = seed

    def samples(self) -> Iterator[Feeds]:
        rng = np.random.default_rng(self.seed)
        for _ in range(self.num_samples):
            yield self.generate(rng)


def random_provider(
    inputs: list[TensorSpec], *, num_samples: int, seed: int = 0
) -> GeneratorProvider:
    """Synthetic samples from the input signature; only for tests and smoke runs."""
    from embodied_ai_architect.modelio.handle import make_feeds

    counter = iter(range(10**9))
    return GeneratorProvider(
        lambda rng: make_feeds(inputs, batch=1, seed=seed + next(counter)),
        inputs,
        num_samples=num_samples,
        seed=seed,
    )


def provider_from_path(
    path: Path,
    inputs: list[TensorSpec],
    *,
    num_samples: int = 128,
    batch_size: int = 1,
    preprocessing: Preprocessing | None = None,
) -> CalibrationProvider:
    """Pick the provider for ``path``: a folder of images, or an .npy/.npz file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"calibration data {str(path)!r} does not exist", hint="check the path")
    if path.is_dir():
        return ImageFolderProvider(
            path,
            inputs,
            num_samples=num_samples,
            batch_size=batch_size,
            preprocessing=preprocessing,
        )
    if path.suffix in (".npy", ".npz"):
        return ArrayProvider(path, inputs, num_samples=num_samples, batch_size=batch_size)
    raise InputError(
        f"calibration data {path.name!r} is neither an image folder nor an .npy/.npz file",
        hint="pass a folder of images or arrays saved with numpy",
    )
