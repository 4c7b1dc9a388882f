from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embodied_ai_architect.data.calibration import (
    ArrayProvider,
    ImageFolderProvider,
    Preprocessing,
    provider_from_path,
    random_provider,
)
from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.tensors import TensorSpec

IMAGE = [TensorSpec(name="images", shape=["batch", 3, 16, 16])]


def _write_images(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{index}.png")


def test_image_folder_batches_and_preprocessing(tmp_path: Path) -> None:
    _write_images(tmp_path / "calib", 5)
    pre = Preprocessing(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    provider = ImageFolderProvider(
        tmp_path / "calib", IMAGE, num_samples=5, batch_size=2, preprocessing=pre
    )
    batches = list(provider.batches())
    assert [b["images"].shape for b in batches] == [(2, 3, 16, 16), (2, 3, 16, 16), (1, 3, 16, 16)]
    values = np.concatenate([b["images"] for b in batches])
    # (pixel/255 - 0.5) / 0.25 lies in [-2, 2]
    assert values.min() >= -2.0 - 1e-6 and values.max() <= 2.0 + 1e-6
    assert values.dtype == np.float32


def test_image_folder_respects_num_samples(tmp_path: Path) -> None:
    _write_images(tmp_path / "calib", 6)
    provider = ImageFolderProvider(tmp_path / "calib", IMAGE, num_samples=3)
    assert sum(b["images"].shape[0] for b in provider.batches()) == 3


def test_empty_folder_and_unreadable_image_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="contains no images"):
        ImageFolderProvider(tmp_path / "empty", IMAGE, num_samples=4)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    provider = ImageFolderProvider(tmp_path / "bad", IMAGE, num_samples=1)
    with pytest.raises(InputError, match=r"cannot read image 'broken.png'"):
        list(provider.samples())


def test_zero_samples_is_refused() -> None:
    with pytest.raises(InputError, match="num_samples must be at least 1"):
        random_provider(IMAGE, num_samples=0)


def test_npz_arrays_named_after_inputs(tmp_path: Path) -> None:
    specs = [
        TensorSpec(name="state", shape=["batch", 6]),
        TensorSpec(name="goal", shape=["batch", 3]),
    ]
    path = tmp_path / "calib.npz"
    np.savez(path, state=np.ones((10, 6)), goal=np.zeros((10, 3)))
    provider = ArrayProvider(path, specs, num_samples=4, batch_size=4)
    (batch,) = list(provider.batches())
    assert batch["state"].shape == (4, 6) and batch["goal"].shape == (4, 3)
    assert batch["state"].dtype == np.float32


def test_array_shape_mismatch_names_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "calib.npy"
    np.save(path, np.ones((4, 3, 8, 8), dtype=np.float32))
    with pytest.raises(InputError, match=r"sample shape \(3, 8, 8\).*expects \(3, 16, 16\)"):
        ArrayProvider(path, IMAGE, num_samples=4)


def test_provider_from_path_dispatch(tmp_path: Path) -> None:
    _write_images(tmp_path / "imgs", 2)
    assert isinstance(provider_from_path(tmp_path / "imgs", IMAGE), ImageFolderProvider)
    with pytest.raises(InputError, match="does not exist"):
        provider_from_path(tmp_path / "missing.npz", IMAGE)
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(InputError, match="neither an image folder"):
        provider_from_path(tmp_path / "data.txt", IMAGE)


def test_random_provider_is_deterministic() -> None:
    first = [s["images"] for s in random_provider(IMAGE, num_samples=3, seed=7).samples()]
    second = [s["images"] for s in random_provider(IMAGE, num_samples=3, seed=7).samples()]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0], first[1])
