"""Toy architectures with ``example_inputs()``: CNNs, a ViT, a detector and control policies.

Shapes follow well-known models (ResNet-18, ViT-S/16, YOLO-style heads) at configurable width
so the same code serves quick tests (tiny) and benchmarks (real size).
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """A compact image classifier (digits-sized by default: 1×8×8, 10 classes)."""

    def __init__(
        self, in_channels: int = 1, image_size: int = 8, num_classes: int = 10, width: int = 16
    ):
        super().__init__()
        self.image_size = image_size
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width * 2, 3, padding=1, bias=False),
            nn.BatchNorm2d(width * 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width * 2, width * 4, 3, padding=1, bias=False),
            nn.BatchNorm2d(width * 4),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(width * 4, width * 4),
            nn.ReLU(),
            nn.Linear(width * 4, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, self.in_channels, self.image_size, self.image_size),)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class ResNet18(nn.Module):
    """ResNet-18 topology (11.7 M parameters at width 64, 224×224, 1000 classes)."""

    def __init__(
        self, num_classes: int = 1000, width: int = 64, image_size: int = 224, in_channels: int = 3
    ):
        super().__init__()
        self.image_size = image_size
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, width * 2, width * 4, width * 8]
        layers: list[nn.Module] = []
        cin = width
        for index, cout in enumerate(widths):
            stride = 1 if index == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, self.in_channels, self.image_size, self.image_size),)


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """A ViT (ViT-S/16 at dim=384, depth=12, heads=6, 224×224: 22 M parameters)."""

    def __init__(
        self,
        image_size: int = 32,
        patch_size: int = 8,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        self.image_size = image_size
        self.in_channels = in_channels
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        tokens = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, self.in_channels, self.image_size, self.image_size),)


class MLPPolicy(nn.Module):
    """A state → action MLP policy with a tanh-bounded action head."""

    def __init__(self, obs_dim: int = 16, act_dim: int = 4, hidden: int = 256, depth: int = 3):
        super().__init__()
        self.obs_dim = obs_dim
        layers: list[nn.Module] = []
        width = obs_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.backbone = nn.Sequential(*layers)
        self.action_head = nn.Linear(width, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.action_head(self.backbone(obs)))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, self.obs_dim),)


class TransformerPolicy(nn.Module):
    """Observation history (T×obs_dim) → transformer encoder → action."""

    def __init__(
        self,
        obs_dim: int = 16,
        act_dim: int = 4,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        horizon: int = 8,
    ):
        super().__init__()
        self.obs_dim = obs_dim
        self.horizon = horizon
        self.obs_proj = nn.Linear(obs_dim, dim)
        self.pos_embed = nn.Parameter(torch.randn(1, horizon, dim) * 0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads) for _ in range(depth)])
        self.action_head = nn.Linear(dim, act_dim)

    def forward(self, obs_history: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.obs_proj(obs_history) + self.pos_embed)
        return torch.tanh(self.action_head(x[:, -1]))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, self.horizon, self.obs_dim),)


class TinyDetector(nn.Module):
    """A YOLO-shaped single-scale detector: CNN backbone, box head (pixels) and class-score head."""

    def __init__(
        self, num_classes: int = 8, width: int = 16, image_size: int = 64, in_channels: int = 3
    ):
        super().__init__()
        self.image_size = image_size
        self.in_channels = in_channels
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 2, 1),
            nn.BatchNorm2d(width),
            nn.SiLU(),
            nn.Conv2d(width, width * 2, 3, 2, 1),
            nn.BatchNorm2d(width * 2),
            nn.SiLU(),
            nn.Conv2d(width * 2, width * 4, 3, 2, 1),
            nn.BatchNorm2d(width * 4),
            nn.SiLU(),
        )
        self.box_head = nn.Conv2d(width * 4, 4, 1)
        self.cls_head = nn.Conv2d(width * 4, num_classes, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(images)
        boxes = torch.sigmoid(self.box_head(features)).flatten(2).transpose(1, 2) * self.image_size
        scores = torch.sigmoid(self.cls_head(features)).flatten(2).transpose(1, 2)
        return boxes, scores

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, self.in_channels, self.image_size, self.image_size),)


def build_small_cnn(**kwargs: int) -> SmallCNN:
    return SmallCNN(**kwargs)


def build_resnet18(**kwargs: int) -> ResNet18:
    return ResNet18(**kwargs)


def build_vit(**kwargs: int) -> TinyViT:
    return TinyViT(**kwargs)


def build_mlp_policy(**kwargs: int) -> MLPPolicy:
    return MLPPolicy(**kwargs)


def build_transformer_policy(**kwargs: int) -> TransformerPolicy:
    return TransformerPolicy(**kwargs)


def build_detector(**kwargs: int) -> TinyDetector:
    return TinyDetector(**kwargs)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
