"""Reference policy architectures: a state MLP and a small VLA-style transformer.

``TinyVLA``: a 64×64 top-camera image (8×8 patches) + instruction tokens + proprioception
→ 2-layer transformer encoder → tanh action head. It has to find the goal in the image and
ground the colour word of the instruction, because it never sees the goal position.
"""

from __future__ import annotations

import torch
from torch import nn

from embodied_ai_architect.sim.schemas import TOKEN_LENGTH, VOCAB
from embodied_ai_architect.testing.models import MLPPolicy


class AttentionBlock(nn.Module):
    """Pre-norm transformer block with attention written out in plain ops.

    ``nn.MultiheadAttention`` switches to a fused kernel at inference that neither the
    TorchScript tracer nor the ONNX exporter handles, so a saved policy could not be
    re-exported for optimization; these ops trace and export everywhere.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        head_dim = dim // self.heads
        qkv = self.qkv(self.norm1(x)).reshape(batch, length, 3, self.heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        weights = torch.softmax(q @ k.transpose(-2, -1) * head_dim**-0.5, dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(batch, length, dim)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x))


class TinyVLA(nn.Module):
    def __init__(
        self,
        proprio_dim: int = 14,
        act_dim: int = 3,
        image_size: int = 64,
        patch: int = 8,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
    ):
        super().__init__()
        self.image_size = image_size
        self.proprio_dim = proprio_dim
        self.vocab_size = len(VOCAB)
        # Patchify straight from pixels: a full-resolution conv stem cost 5× the training time.
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        patches = (image_size // patch) ** 2
        self.image_pos = nn.Parameter(torch.randn(1, patches, dim) * 0.02)
        self.token_embed = nn.Embedding(self.vocab_size, dim)
        self.text_pos = nn.Parameter(torch.randn(1, TOKEN_LENGTH, dim) * 0.02)
        self.proprio_proj = nn.Linear(proprio_dim, dim)
        self.action_query = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.Sequential(*[AttentionBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.action_head = nn.Linear(dim, act_dim)

    def forward(
        self, image: torch.Tensor, tokens: torch.Tensor, proprio: torch.Tensor
    ) -> torch.Tensor:
        patches = self.patch_embed(image).flatten(2).transpose(1, 2) + self.image_pos
        text = self.token_embed(tokens) + self.text_pos
        query = self.action_query.expand(image.shape[0], -1, -1)
        body = self.proprio_proj(proprio).unsqueeze(1)
        x = self.blocks(torch.cat([query, body, text, patches], dim=1))
        return torch.tanh(self.action_head(self.norm(x[:, 0])))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (
            torch.rand(1, 3, self.image_size, self.image_size),
            torch.zeros(1, TOKEN_LENGTH, dtype=torch.int64),
            torch.zeros(1, self.proprio_dim),
        )


class StatePolicy(MLPPolicy):
    """``testing.models.MLPPolicy`` with its input named ``state`` (drives input mapping)."""

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return super().forward(state)


def build_policy(kind: str, *, state_dim: int, proprio_dim: int, act_dim: int) -> nn.Module:
    from embodied_ai_architect.errors import ConfigError

    if kind == "mlp":
        return StatePolicy(obs_dim=state_dim, act_dim=act_dim, hidden=256, depth=3)
    if kind == "vla":
        return TinyVLA(proprio_dim=proprio_dim, act_dim=act_dim)
    raise ConfigError(f"unknown policy kind {kind!r}", hint="use mlp or vla")
