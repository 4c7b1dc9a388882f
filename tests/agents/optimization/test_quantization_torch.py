"""torch_int8_dynamic on real modules; bnb_int8 / bnb_nf4 refused up front on CPU-only hosts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.optimization.base import (
    TechniqueContext,
    apply_technique,
    get_technique,
)
from embodied_ai_architect.errors import ConfigError, DependencyError
from embodied_ai_architect.modelio.handle import TorchModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.models import MLPPolicy
from embodied_ai_architect.utils.host import cuda_available


class RecurrentPolicy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(16, 64, batch_first=True)
        self.action_head = nn.Linear(64, 4)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.action_head(self.rnn(obs)[0][:, -1]))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, 8, 16),)


def test_dynamic_int8_policy_stays_torch_smaller_and_faithful(tmp_path: Path) -> None:
    torch.manual_seed(0)
    handle = handle_from_module(MLPPolicy(hidden=256).eval(), name="policy")
    result = apply_technique(
        "torch_int8_dynamic",
        handle,
        TechniqueContext(workdir=tmp_path),
        {"skip_modules": ["action_head"]},
    )
    assert isinstance(result.handle, TorchModelHandle)
    assert result.metrics["quantized_nodes"] == 3  # backbone Linears; the head stays FP32
    assert isinstance(result.handle.module.action_head, nn.Linear)
    assert result.metrics["size_before_bytes"] / result.metrics["size_after_bytes"] > 3
    feeds = handle.example_inputs(batch=64, seed=1)
    before, after = handle.run(feeds)["output"], result.handle.run(feeds)["output"]
    assert np.abs(before - after).max() < 0.05
    assert handle.module.backbone[0].__class__ is nn.Linear  # the source was not modified


def test_dynamic_int8_quantizes_lstm(tmp_path: Path) -> None:
    handle = handle_from_module(RecurrentPolicy().eval(), name="rnn")
    result = apply_technique("torch_int8_dynamic", handle, TechniqueContext(workdir=tmp_path), {})
    assert result.metrics["quantized_nodes"] == 2
    assert "quantized" in type(result.handle.module.rnn).__module__


def test_dynamic_int8_bad_configs(tmp_path: Path) -> None:
    ctx = TechniqueContext(workdir=tmp_path)
    convs = handle_from_module(
        nn.Sequential(nn.Conv2d(3, 4, 3)).eval(), input_shapes=[[1, 3, 8, 8]]
    )
    with pytest.raises(ConfigError, match="no Linear/LSTM/GRU") as info:
        apply_technique("torch_int8_dynamic", convs, ctx, {})
    assert "ort_int8_static" in info.value.hint
    policy = handle_from_module(MLPPolicy().eval())
    with pytest.raises(ConfigError, match="not modules"):
        apply_technique("torch_int8_dynamic", policy, ctx, {"skip_modules": ["nope"]})
    with pytest.raises(ConfigError, match="module_types"):
        apply_technique("torch_int8_dynamic", policy, ctx, {"module_types": ["Conv2d"]})
    # A TorchScript policy has Linear layers, but they cannot be swapped: say so, not "none".
    scripted = handle_from_module(
        torch.jit.script(MLPPolicy().eval()), input_shapes=[list(policy.inputs[0].shape)]
    )
    assert isinstance(scripted, TorchModelHandle) and scripted.is_graph
    with pytest.raises(ConfigError, match="needs an eager nn") as info:
        apply_technique("torch_int8_dynamic", scripted, ctx, {})
    assert "`arch`" in info.value.hint


@pytest.mark.skipif(cuda_available(), reason="checks the refusal on hosts without CUDA")
@pytest.mark.parametrize("name", ["bnb_int8", "bnb_nf4"])
def test_bnb_unavailable_without_cuda_is_refused_before_running(name: str, tmp_path: Path) -> None:
    spec = get_technique(name)
    assert spec.manifest.needs_cuda and spec.manifest.extra == "bnb"
    ok, reason = spec.availability()
    assert not ok
    # The missing CUDA device is named whether or not bitsandbytes is installed.
    assert "needs" in reason and "CUDA device" in reason
    handle = handle_from_module(MLPPolicy().eval())
    workdir = tmp_path / "work"
    with pytest.raises(DependencyError) as info:
        apply_technique(name, handle, TechniqueContext(workdir=workdir), {})
    assert "CUDA device" in info.value.message and info.value.hint
    assert not workdir.exists()  # nothing ran


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA and bitsandbytes")
@pytest.mark.parametrize("name", ["bnb_int8", "bnb_nf4"])
def test_bnb_on_cuda(name: str, tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes")
    torch.manual_seed(0)
    handle = handle_from_module(MLPPolicy(hidden=256).eval())
    result = apply_technique(
        name, handle, TechniqueContext(workdir=tmp_path), {"skip_modules": ["action_head"]}
    )
    assert result.metrics["quantized_nodes"] == 3
    feeds = handle.example_inputs(batch=8, seed=1)
    assert np.abs(handle.run(feeds)["output"] - result.handle.run(feeds)["output"]).max() < 0.1
