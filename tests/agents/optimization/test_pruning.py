"""prune_magnitude and prune_structured on the toy families and the trained digits CNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.agents.optimization.sparse_store import load_sparse_state
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.testing.digits import accuracy, train_digits_cnn
from embodied_ai_architect.testing.models import (
    MLPPolicy,
    ResNet18,
    SmallCNN,
    TinyDetector,
    TinyViT,
    TransformerPolicy,
    count_parameters,
)


def _ctx(tmp_path: Path, **kwargs: object) -> TechniqueContext:
    return TechniqueContext(workdir=tmp_path / "work", **kwargs)  # type: ignore[arg-type]


def test_magnitude_pruning_reaches_sparsity_and_stores_compactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    handle = handle_from_module(MLPPolicy(hidden=128), name="policy")
    result = apply_technique("prune_magnitude", handle, _ctx(tmp_path), {"sparsity": 0.8})
    assert result.metrics["sparsity"] == pytest.approx(0.8, abs=1e-3)
    # CSR with 16-bit column indices: ~0.2 × (4 + 2) bytes per weight instead of 4 → < 40 %.
    assert result.metrics["csr_bytes"] < 0.4 * result.metrics["dense_bytes"]
    assert result.metrics["sparse_file_bytes"] < 0.4 * result.metrics["dense_bytes"]
    # Pruning is permanent (no masks / hooks left) and the caller's model is untouched.
    module = result.handle.module
    assert not any(name.endswith("_mask") for name, _ in module.named_buffers())
    assert float((handle.module.backbone[0].weight == 0).float().mean()) < 0.01
    # The compact artifact unpacks to exactly the pruned weights.
    restored = MLPPolicy(hidden=128)
    restored.load_state_dict(load_sparse_state(Path(result.handle.metadata["sparse_artifact"])))
    feeds = handle.example_inputs(batch=4)
    np.testing.assert_allclose(
        restored(torch.from_numpy(feeds["obs"])).detach().numpy(),
        result.handle.run(feeds)["output"],
        atol=1e-6,
    )


def test_magnitude_layer_scope_prunes_every_layer_equally(tmp_path: Path) -> None:
    handle = handle_from_module(SmallCNN(), name="cnn")
    result = apply_technique(
        "prune_magnitude", handle, _ctx(tmp_path), {"sparsity": 0.5, "scope": "layer"}
    )
    for layer in result.handle.module.modules():
        if isinstance(layer, torch.nn.Conv2d | torch.nn.Linear):
            assert float((layer.weight == 0).float().mean()) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"sparsity": 1.5}, "sparsity"),
        ({"sparsity": 0}, "sparsity"),
        ({"sparsity": 0.5, "ignore": ["nope"]}, "do not exist"),
    ],
)
def test_magnitude_bad_configs_are_config_errors(
    tmp_path: Path, config: dict[str, object], match: str
) -> None:
    handle = handle_from_module(SmallCNN(), name="cnn")
    with pytest.raises(ConfigError, match=match) as info:
        apply_technique("prune_magnitude", handle, _ctx(tmp_path), config)
    assert info.value.hint


@pytest.mark.parametrize(
    "factory",
    [
        lambda: ResNet18(width=16, image_size=64, num_classes=10),
        lambda: TinyDetector(),
        lambda: MLPPolicy(),
        lambda: TinyViT(),
        lambda: TransformerPolicy(),
    ],
    ids=["resnet18", "detector", "mlp_policy", "vit", "transformer_policy"],
)
def test_structured_pruning_shrinks_every_family_and_keeps_outputs(
    tmp_path: Path, factory: object
) -> None:
    torch.manual_seed(0)
    model = factory()  # type: ignore[operator]
    handle = handle_from_module(model, name="m")
    feeds = handle.example_inputs(batch=2)
    before = handle.run(feeds)
    result = apply_technique("prune_structured", handle, _ctx(tmp_path), {"ratio": 0.5})
    after = result.handle.run(feeds)
    assert [v.shape for v in after.values()] == [v.shape for v in before.values()]
    assert result.handle.inputs == handle.inputs
    assert result.metrics["params_after"] < 0.75 * result.metrics["params_before"]
    assert result.handle.path is not None and result.handle.path.exists()
    # The saved artifact goes back through the intake (no pickle) with a dynamic batch.
    reloaded = load_model(result.handle.path)
    assert reloaded.inputs[0].shape[0] == "batch"
    bigger = reloaded.example_inputs(batch=3)
    for want, got in zip(
        result.handle.run(bigger).values(), reloaded.run(bigger).values(), strict=True
    ):
        assert got.shape[0] == 3
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_structured_pruning_halves_pruned_layers(tmp_path: Path) -> None:
    """A 2-hidden-layer MLP at 50 %: every hidden width halves, the action head stays."""
    model = MLPPolicy(obs_dim=16, act_dim=4, hidden=128, depth=2)
    result = apply_technique(
        "prune_structured", handle_from_module(model), _ctx(tmp_path), {"ratio": 0.5}
    )
    pruned = result.handle.module
    widths = [layer.out_features for layer in pruned.backbone if isinstance(layer, torch.nn.Linear)]
    assert widths == [64, 64]
    assert pruned.action_head.out_features == 4
    expected = (16 * 64 + 64) + (64 * 64 + 64) + (64 * 4 + 4)
    assert count_parameters(pruned) == expected


def test_structured_pruning_removes_attention_heads(tmp_path: Path) -> None:
    model = TinyViT(dim=64, heads=4, depth=2)
    result = apply_technique(
        "prune_structured", handle_from_module(model), _ctx(tmp_path), {"ratio": 0.5}
    )
    assert result.metrics["heads_before"] == 8
    assert result.metrics["heads_after"] == 4
    attention = result.handle.module.blocks[0].attn
    assert attention.num_heads == 2 and attention.q_proj.out_features == 32
    assert result.handle.module.blocks[0].mlp[0].out_features == 128  # MLP neurons halved


def test_structured_pruning_keeps_resnet_residuals_consistent(tmp_path: Path) -> None:
    model = ResNet18(width=8, image_size=32, num_classes=10)
    result = apply_technique(
        "prune_structured", handle_from_module(model), _ctx(tmp_path), {"ratio": 0.5}
    )
    block = result.handle.module.layer2[0]
    # The residual add forces conv2 and the downsample to agree: both pruned to the same width.
    assert block.conv2.out_channels == block.downsample[0].out_channels == 8
    assert block.bn2.num_features == 8
    assert result.handle.module.fc.out_features == 10


@pytest.mark.parametrize("ratio", [0, 1, 1.2])
def test_structured_ratio_out_of_range_is_config_error(tmp_path: Path, ratio: float) -> None:
    with pytest.raises(ConfigError, match="ratio"):
        apply_technique(
            "prune_structured", handle_from_module(SmallCNN()), _ctx(tmp_path), {"ratio": ratio}
        )


def test_structured_pruning_refuses_onnx_models(tmp_path: Path) -> None:
    from embodied_ai_architect.modelio.export import export_onnx

    onnx_handle = export_onnx(handle_from_module(SmallCNN()), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="torch"):
        apply_technique("prune_structured", onnx_handle, _ctx(tmp_path), {"ratio": 0.5})


def test_structured_pruning_digits_cnn_with_finetune_keeps_accuracy(tmp_path: Path) -> None:
    """Digits CNN, 30 % structured pruning + 1 epoch fine-tune: within 3 points of the original."""
    model, split = train_digits_cnn(epochs=6, seed=0)
    original = accuracy(model, split.x_test, split.y_test)
    events: list[ProgressEvent] = []
    result = apply_technique(
        "prune_structured",
        handle_from_module(model, name="digits"),
        _ctx(tmp_path, training_data=(split.x_train, split.y_train), sink=events.append),
        {"ratio": 0.3, "finetune_epochs": 1},
    )
    pruned = accuracy(result.handle.module, split.x_test, split.y_test)
    assert original > 0.9
    assert pruned >= original - 0.03, (original, pruned)
    assert result.metrics["params_after"] < 0.6 * result.metrics["params_before"]
    assert "holdout_score_finetuned" in result.metrics
    assert any("fine-tune epoch 1/1" in e.message for e in events)


def test_finetune_of_a_multi_output_model_is_refused_before_pruning(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((8, 3, 64, 64)).astype(np.float32)
    ctx = _ctx(tmp_path, training_data=(x, np.zeros(8, dtype=np.int64)))
    with pytest.raises(ConfigError, match="single-output"):
        apply_technique("prune_structured", handle_from_module(TinyDetector()), ctx, {"ratio": 0.5})


def test_magnitude_finetune_keeps_pruned_weights_at_zero(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = MLPPolicy(hidden=64, depth=2)
    x = np.random.default_rng(0).standard_normal((256, 16)).astype(np.float32)
    with torch.inference_mode():
        y = teacher(torch.from_numpy(x)).numpy()  # float targets: regression (MSE)
    result = apply_technique(
        "prune_magnitude",
        handle_from_module(teacher),
        _ctx(tmp_path, training_data=(x, y)),
        {"sparsity": 0.6, "finetune_epochs": 3, "finetune_lr": 1e-2},
    )
    assert result.metrics["sparsity"] == pytest.approx(0.6, abs=1e-3)  # zeros did not regrow
    assert any("fine-tuned 3 epoch" in change for change in result.changes)
