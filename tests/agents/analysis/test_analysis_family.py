"""Family detection decides from structure and records the evidence that decided it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.analysis.family import detect_family, find_components
from embodied_ai_architect.agents.analysis.onnx_stats import analyze_onnx
from embodied_ai_architect.agents.analysis.torch_stats import analyze_torch
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import ModelHandle, TorchModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.profile import ArchitectureFamily, FamilyDetection
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.testing import models


def _family(handle: ModelHandle) -> FamilyDetection:
    structure = (
        analyze_torch(handle) if isinstance(handle, TorchModelHandle) else analyze_onnx(handle)  # type: ignore[arg-type]
    )
    feeds = handle.example_inputs()
    outputs = [
        TensorSpec(name=k, shape=list(v.shape), dtype=str(v.dtype))
        for k, v in handle.run(feeds).items()
    ]
    return detect_family(structure, handle, outputs, feeds)


@pytest.mark.parametrize(
    ("builder", "family", "clue"),
    [
        (models.build_small_cnn, ArchitectureFamily.CNN_CLASSIFIER, "convolution layer"),
        (models.build_vit, ArchitectureFamily.VIT, "kernel [8, 8] = stride [8, 8]"),
        (models.build_mlp_policy, ArchitectureFamily.MLP_POLICY, "only Linear layers"),
        (models.build_transformer_policy, ArchitectureFamily.TRANSFORMER_POLICY, "continuous"),
        (models.build_detector, ArchitectureFamily.DETECTOR, "box-like output [1, 64, 4]"),
    ],
)
def test_toy_models_get_their_family_with_evidence(builder, family, clue) -> None:  # type: ignore[no-untyped-def]
    detection = _family(handle_from_module(builder()))
    assert detection.family is family, detection.evidence
    assert any(clue in item for item in detection.evidence), detection.evidence


def test_a_patchless_attention_model_on_images_is_not_called_a_vit() -> None:
    """A conv with kernel ≠ stride before attention is no patch embedding: not a ViT."""

    class ConvAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, stride=1, padding=1)
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.head = nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.stem(x).flatten(2).transpose(1, 2)
            return self.head(self.attn(tokens, tokens, tokens, need_weights=False)[0].mean(1))

    detection = _family(handle_from_module(ConvAttention(), input_shapes=[[1, 3, 8, 8]]))
    assert detection.family is not ArchitectureFamily.VIT


def test_detector_family_is_found_on_the_onnx_graph_too(tmp_path: Path) -> None:
    handle = handle_from_module(models.build_detector())
    detection = _family(export_onnx(handle, tmp_path / "det.onnx"))
    assert detection.family is ArchitectureFamily.DETECTOR
    assert any("box-like" in item for item in detection.evidence)


def test_vit_family_is_found_on_the_onnx_graph(tmp_path: Path) -> None:
    handle = handle_from_module(models.build_vit())
    detection = _family(export_onnx(handle, tmp_path / "vit.onnx"))
    assert detection.family is ArchitectureFamily.VIT
    assert any("Softmax" in item for item in detection.evidence), detection.evidence


def _token_handle(module: nn.Module, vocab: int, length: int = 8) -> TorchModelHandle:
    return TorchModelHandle(
        module.eval(),
        name="lm",
        source_format=ModelFormat.TORCH_ZIP,
        path=None,
        inputs=[TensorSpec(name="input_ids", shape=[1, length], dtype="int64", low=0, high=vocab)],
    )


def test_gpt2_shaped_decoder_is_a_decoder_llm_by_the_causality_probe() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=96, n_positions=16, n_embd=32, n_layer=1, n_head=2)
    config.use_cache = False
    # 12 tokens: the probe runs on the first 8 only (the short path).
    detection = _family(_token_handle(GPT2LMHeadModel(config), vocab=96, length=12))
    assert detection.family is ArchitectureFamily.DECODER_LLM, detection.evidence
    assert any(item.startswith("causal:") for item in detection.evidence)
    assert any("vocabulary size 96" in item for item in detection.evidence)


def test_bert_shaped_encoder_is_not_a_decoder() -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=96,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    detection = _family(_token_handle(BertModel(config, add_pooling_layer=False), vocab=96))
    assert detection.family is ArchitectureFamily.TRANSFORMER_ENCODER, detection.evidence
    assert any(item.startswith("bidirectional") for item in detection.evidence)


def test_vla_components_are_found_in_the_module_tree() -> None:
    from embodied_ai_architect.models.vla import build_tiny_vla

    handle = handle_from_module(build_tiny_vla(seed=0), name="vla")
    detection = _family(handle)
    assert detection.family is ArchitectureFamily.VLA
    assert detection.components == {
        "vision_tower": "vision_tower",
        "projector": "projector",
        "language_model": "language_model",
        "action_head": "action_head",
    }
    assert any("patch embedding" in item for item in detection.evidence)


@pytest.mark.parametrize("exported", [False, True])
def test_a_small_vla_is_told_by_what_it_reads_and_writes(tmp_path: Path, exported: bool) -> None:
    """The simulator's VLA (image + instruction tokens + state → 3 actions) has no separate
    vision tower and language model, and its ONNX export keeps no module names: it was profiled
    as a transformer encoder, and its actions were then judged as embeddings."""
    from embodied_ai_architect.agents.evaluation.heads import HeadKind, classify_outputs
    from embodied_ai_architect.sim.models import build_policy

    torch.manual_seed(0)
    module = build_policy("vla", state_dim=10, proprio_dim=6, act_dim=3).eval()
    handle: ModelHandle = handle_from_module(module, name="vla")
    if exported:
        handle = export_onnx(handle, tmp_path / "vla.onnx")
    detection = _family(handle)
    assert detection.family is ArchitectureFamily.VLA, detection.evidence
    assert any("an action vector" in item for item in detection.evidence)
    head = classify_outputs([[1, 3]], [[1, 3, 64, 64], [1, 8], [1, 6]], family="vla")
    assert head is not None and head.kind is HeadKind.ACTION


def test_renamed_parts_are_still_found_but_a_model_without_an_action_head_is_no_vla() -> None:
    class Captioner(nn.Module):  # vision + language, no action head
        def __init__(self) -> None:
            super().__init__()
            self.image_encoder = nn.Sequential(nn.Conv2d(3, 8, 4, 4))
            self.text_decoder = nn.Embedding(50, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.image_encoder(x).flatten(1)

    structure = analyze_torch(handle_from_module(Captioner(), input_shapes=[[1, 3, 8, 8]]))
    components = find_components(structure)
    assert components == {"vision_tower": "image_encoder", "language_model": "text_decoder"}
    detection = _family(handle_from_module(Captioner(), input_shapes=[[1, 3, 8, 8]]))
    assert detection.family is not ArchitectureFamily.VLA


def test_unrecognised_structure_is_other_with_the_reason() -> None:
    module = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU())  # image → image
    detection = _family(handle_from_module(module, input_shapes=[[1, 3, 8, 8]]))
    assert detection.family is ArchitectureFamily.OTHER
    assert "no family rule matched" in detection.evidence[-1]


def test_a_fixed_length_token_model_is_probed_at_full_length() -> None:
    """A model that only accepts its exact sequence length still gets a causality verdict."""

    class FixedLengthCausal(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 16)
            self.pos = nn.Parameter(torch.randn(1, 12, 16))
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.head = nn.Linear(16, 50)

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            x = self.embed(input_ids) + self.pos  # fails for any length but 12
            mask = torch.triu(torch.ones(12, 12, dtype=torch.bool), diagonal=1)
            return self.head(self.attn(x, x, x, attn_mask=mask, need_weights=False)[0])

    from embodied_ai_architect.agents.analysis.family import probe_causal

    handle = _token_handle(FixedLengthCausal(), vocab=50, length=12)
    feeds = handle.example_inputs()
    assert probe_causal(handle, feeds, "input_ids") is True
