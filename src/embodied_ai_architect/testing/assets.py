"""Files the deployment tests and demos need: a traced wide CNN and folders of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_wide_cnn(path: Path, *, width: int = 48, image_size: int = 64) -> Path:
    """Trace a conv net wide enough that INT8 kernels beat FP32 (toy nets are overhead-bound)
    and save it as TorchScript at ``path``."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, width, 3, 2, 1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width * 2, 3, 1, 1),
        nn.BatchNorm2d(width * 2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width * 2, width * 2, 3, 1, 1),
        nn.BatchNorm2d(width * 2),
        nn.ReLU(),
        nn.Conv2d(width * 2, width * 4, 3, 2, 1),
        nn.BatchNorm2d(width * 4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width * 4, 10),
    ).eval()
    torch.jit.trace(model, torch.randn(1, 3, image_size, image_size)).save(str(path))
    return path


def write_images(folder: Path, count: int, *, size: int = 64, seed: int = 0) -> Path:
    """Smooth random RGB PNGs (blurred noise looks more like photos than white noise)."""
    from PIL import Image, ImageFilter

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(1.5))
        image.save(folder / f"img_{index:03d}.png")
    return folder
