"""A TorchScript model (what `branes sim train-policy` writes) is stored as a version and loads
back with its signature — pickling a ScriptModule is refused by torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.pipeline.versions import load_artifact, pack_artifact
from embodied_ai_architect.store.artifacts import sha256_file


def test_torchscript_version_round_trips(tmp_path: Path) -> None:
    import torch

    from embodied_ai_architect.modelio.torch_save import save_torchscript
    from embodied_ai_architect.schemas.tensors import TensorSpec

    torch.manual_seed(0)
    module = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh()))
    source = save_torchscript(module, tmp_path / "p.pt", [TensorSpec(name="state", shape=[1, 6])])
    handle = load_model(source)
    packed = pack_artifact(handle, tmp_path / "v0")
    again = load_artifact(packed, sha256_file(packed))
    assert [s.name for s in again.inputs] == ["state"]
    assert again.inputs[0].shape == [1, 6]
    feeds = handle.example_inputs()
    a = next(iter(handle.run(feeds).values()))
    b = next(iter(again.run(feeds).values()))
    assert np.array_equal(a, b)
