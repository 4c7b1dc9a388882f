"""A tiny Hugging Face-style vision-language-action (VLA) model.

The layout mirrors real VLAs (OpenVLA, pi0-style): a ``vision_tower`` (SigLIP by default) turns
the image into patch embeddings, a ``projector`` maps them into the language model's width, the
``language_model`` (Llama by default) reads image tokens followed by the instruction tokens, and an
``action_head`` turns the last hidden state into an action chunk ``[batch, horizon, action_dim]``.

It is a real ``PreTrainedModel`` with a ``PreTrainedConfig`` (model_type ``branes_vla``), so a
``config.json`` + ``model.safetensors`` directory loads through the same Hugging Face path as any
other checkpoint once :func:`register_with_transformers` has run (``modelio.hf_io`` calls it).

Example:
    >>> from embodied_ai_architect.models.vla import build_tiny_vla
    >>> model = build_tiny_vla(seed=0)
    >>> actions = model(*model.example_inputs()).actions  # [1, horizon, action_dim]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput

MODEL_TYPE = "branes_vla"
DEFAULT_TEXT_LENGTH = 16  # instruction tokens in example inputs (a short language command)

# Small enough for unit tests (~100 k parameters), same topology as a real VLA.
TINY_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_channels": 3,
    "image_size": 32,
    "patch_size": 8,
    "vision_use_head": False,  # VLAs use every patch embedding, not SigLIP's pooled vector
}
TINY_TEXT = {
    "vocab_size": 128,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
}


@strict
class BranesVLAConfig(PreTrainedConfig):
    """Configuration of :class:`BranesVLAForActionPrediction`.

    Args:
        vision_config: config (or dict with ``model_type``) of the vision tower; SigLIP by default.
        text_config: config (or dict with ``model_type``) of the language model; Llama by default.
        action_dim: degrees of freedom per action (e.g. 7: xyz, rpy, gripper).
        action_horizon: actions predicted per forward pass (an action chunk).
        projector_hidden_act: activation between the projector's two linear layers.
    """

    model_type = MODEL_TYPE
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "vision_config": SubConfigSpec(
            config_class=AutoConfig, model_type="siglip_vision_model", init_kwargs=TINY_VISION
        ),
        "text_config": SubConfigSpec(
            config_class=AutoConfig, model_type="llama", init_kwargs=TINY_TEXT
        ),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    action_dim: int = 7
    action_horizon: int = 4
    projector_hidden_act: str = "gelu"


@dataclass
class BranesVLAOutput(ModelOutput):
    """``actions``: ``[batch, action_horizon, action_dim]``, bounded to [-1, 1] by tanh."""

    actions: torch.Tensor | None = None


class BranesVLAProjector(nn.Module):
    """Two-layer MLP from vision width to language width (as in LLaVA / OpenVLA)."""

    def __init__(self, vision_width: int, text_width: int, activation: str):
        super().__init__()
        from transformers.activations import ACT2FN

        self.linear_1 = nn.Linear(vision_width, text_width)
        self.act = ACT2FN[activation]
        self.linear_2 = nn.Linear(text_width, text_width)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(features)))


class BranesVLAPreTrainedModel(PreTrainedModel):
    config: BranesVLAConfig
    config_class = BranesVLAConfig
    base_model_prefix = "model"
    main_input_name = "pixel_values"
    _supports_sdpa = True


class BranesVLAForActionPrediction(BranesVLAPreTrainedModel):
    """Image + instruction tokens → action chunk. Sub-modules: ``vision_tower``, ``projector``,
    ``language_model``, ``action_head``."""

    def __init__(self, config: BranesVLAConfig):
        super().__init__(config)
        vision_config: Any = config.vision_config
        text_config: Any = config.text_config
        self.vision_tower = AutoModel.from_config(vision_config)
        self.projector = BranesVLAProjector(
            vision_config.hidden_size, text_config.hidden_size, config.projector_hidden_act
        )
        self.language_model = AutoModel.from_config(text_config)
        self.action_head = nn.Linear(
            text_config.hidden_size, config.action_dim * config.action_horizon
        )
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> BranesVLAOutput:
        image_tokens = self.projector(
            self.vision_tower(pixel_values=pixel_values).last_hidden_state
        )
        text_tokens = self.language_model.get_input_embeddings()(input_ids)
        # Image tokens first, then the instruction: the last position has seen everything
        # (causal attention), so it summarises the observation and the command.
        sequence = torch.cat([image_tokens.to(text_tokens.dtype), text_tokens], dim=1)
        # An explicit all-ones mask keeps transformers off its packed-sequence detection
        # (torch.diff), which the TorchScript ONNX exporter cannot map. No KV cache: one forward
        # per control step, and a cache object would leak into exports.
        mask = torch.ones(sequence.shape[:2], dtype=torch.long, device=sequence.device)
        hidden = self.language_model(
            inputs_embeds=sequence, attention_mask=mask, use_cache=False
        ).last_hidden_state
        actions = torch.tanh(self.action_head(hidden[:, -1]))
        return BranesVLAOutput(
            actions=actions.view(-1, self.config.action_horizon, self.config.action_dim)
        )

    def example_inputs(self, text_length: int = DEFAULT_TEXT_LENGTH) -> tuple[torch.Tensor, ...]:
        """Random ``(pixel_values, input_ids)`` matching the config."""
        vision: Any = self.config.vision_config
        text: Any = self.config.text_config
        pixels = torch.randn(1, vision.num_channels, vision.image_size, vision.image_size)
        ids = torch.randint(0, text.vocab_size, (1, text_length), dtype=torch.long)
        return pixels, ids


def register_with_transformers() -> None:
    """Make ``model_type: branes_vla`` resolvable by AutoConfig / AutoModel (idempotent)."""
    AutoConfig.register(MODEL_TYPE, BranesVLAConfig, exist_ok=True)
    AutoModel.register(BranesVLAConfig, BranesVLAForActionPrediction, exist_ok=True)


def build_tiny_vla(
    *,
    seed: int = 0,
    action_dim: int = 7,
    action_horizon: int = 4,
    vision: dict[str, Any] | None = None,
    text: dict[str, Any] | None = None,
) -> BranesVLAForActionPrediction:
    """A randomly initialised tiny VLA (seeded), in eval mode.

    Args:
        seed: torch seed for the random initialisation.
        action_dim / action_horizon: shape of the predicted action chunk.
        vision / text: overrides for the SigLIP vision and Llama text configs.
    """
    register_with_transformers()
    config = BranesVLAConfig(
        vision_config={"model_type": "siglip_vision_model", **TINY_VISION, **(vision or {})},
        text_config={"model_type": "llama", **TINY_TEXT, **(text or {})},
        action_dim=action_dim,
        action_horizon=action_horizon,
    )
    torch.manual_seed(seed)
    model = BranesVLAForActionPrediction(config)
    return model.eval()


def save_tiny_vla_checkpoint(directory: Path | str, *, seed: int = 0, **kwargs: Any) -> Path:
    """Write a tiny VLA as a Hugging Face directory (config.json + model.safetensors).

    Returns the directory. Extra keyword arguments go to :func:`build_tiny_vla`.

    Example:
        >>> path = save_tiny_vla_checkpoint(tmp_path / "vla")  # doctest: +SKIP
        >>> handle = load_model(path)  # doctest: +SKIP
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = build_tiny_vla(seed=seed, **kwargs)
    model.save_pretrained(directory, safe_serialization=True)
    return directory
