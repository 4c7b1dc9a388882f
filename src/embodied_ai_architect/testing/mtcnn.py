"""MTCNN's three stages (Zhang et al. 2016), written from the paper's layer table.

The corpus loads facenet-pytorch's pretrained state dicts (``pnet.pt``, ``rnet.pt``, ``onet.pt``)
into these modules through ``--arch embodied_ai_architect.testing.mtcnn:onet``: a real example of
"a state dict plus a known architecture". The parameter names match those files
(``conv1``, ``prelu1``, ``pool1``, ..., ``dense4``, ``conv4_1``, ...).
"""

from __future__ import annotations

import torch
from torch import nn

# One convolution stage: in channels, out channels, kernel, and the max-pool kernel after it
# (stride 2, ceil mode) or None.
Stage = tuple[int, int, int, int | None]


class _Stages(nn.Module):
    """``conv{i}`` → ``prelu{i}`` (→ ``pool{i}``) stages, numbered from 1 as in the paper."""

    input_size = 0

    def _add_stages(self, stages: list[Stage]) -> None:
        self._pooled = [pool is not None for *_, pool in stages]
        for index, (inputs, outputs, kernel, pool) in enumerate(stages, start=1):
            setattr(self, f"conv{index}", nn.Conv2d(inputs, outputs, kernel_size=kernel))
            setattr(self, f"prelu{index}", nn.PReLU(outputs))
            if pool is not None:
                setattr(self, f"pool{index}", nn.MaxPool2d(pool, 2, ceil_mode=True))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        for index, pooled in enumerate(self._pooled, start=1):
            x = getattr(self, f"prelu{index}")(getattr(self, f"conv{index}")(x))
            if pooled:
                x = getattr(self, f"pool{index}")(x)
        return x

    def example_inputs(self) -> tuple[torch.Tensor]:
        return (torch.rand(1, 3, self.input_size, self.input_size),)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, W·H·C), the Caffe order the pretrained dense weights expect."""
    return x.permute(0, 3, 2, 1).flatten(1)


class PNet(_Stages):
    """Proposal net: fully convolutional, face probability + box offsets per 12×12 window."""

    input_size = 12

    def __init__(self) -> None:
        super().__init__()
        self._add_stages([(3, 10, 3, 2), (10, 16, 3, None), (16, 32, 3, None)])
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._features(x)
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(_Stages):
    """Refine net: 24×24 crops → face probability + box offsets."""

    input_size = 24

    def __init__(self) -> None:
        super().__init__()
        self._add_stages([(3, 28, 3, 3), (28, 48, 3, 3), (48, 64, 2, None)])
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu4(self.dense4(_flatten(self._features(x))))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(_Stages):
    """Output net: 48×48 crops → box offsets, five landmarks, face probability."""

    input_size = 48

    def __init__(self) -> None:
        super().__init__()
        self._add_stages([(3, 32, 3, 3), (32, 64, 3, 3), (64, 64, 3, 2), (64, 128, 2, None)])
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.prelu5(self.dense5(_flatten(self._features(x))))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


def pnet() -> PNet:
    return PNet()


def rnet() -> RNet:
    return RNet()


def onet() -> ONet:
    return ONet()
