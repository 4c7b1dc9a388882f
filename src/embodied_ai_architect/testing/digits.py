"""scikit-learn's digits (ships with the package, no download) and a CNN trained on it in seconds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from embodied_ai_architect.testing.models import SmallCNN


@dataclass(frozen=True)
class DigitsSplit:
    """Images as float32 (N, 1, size, size) scaled to [0, 1]; labels as int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(
    image_size: int = 8, test_fraction: float = 0.25, seed: int = 0
) -> DigitsSplit:
    """The 1,797 8×8 digits, optionally upsampled (nearest) to ``image_size``, split reproducibly."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    if image_size != 8:
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        factor = image_size // 8
        images = images.repeat(factor, axis=2).repeat(factor, axis=3)
    labels = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(len(labels) * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    return DigitsSplit(images[train], labels[train], images[test], labels[test])


def train_digits_cnn(
    *,
    epochs: int = 8,
    width: int = 16,
    image_size: int = 8,
    seed: int = 0,
    split: DigitsSplit | None = None,
) -> tuple[SmallCNN, DigitsSplit]:
    """Train a SmallCNN on digits (≈97 % test accuracy after a few seconds on 2 CPU cores)."""
    torch.manual_seed(seed)
    split = split or load_digits_split(image_size=image_size, seed=seed)
    model = SmallCNN(in_channels=1, image_size=image_size, num_classes=10, width=width)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.from_numpy(split.x_train)
    y = torch.from_numpy(split.y_train)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    return model, split


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.inference_mode():
        predictions = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((predictions == y).mean())
