"""`branes analyze` on every corpus model: exit 0, parameters equal to an independent count, the
family the manifest expects, and no optional section silently missing."""

from __future__ import annotations

import json

import pytest

from cli_runner import Run
from corpus.helpers import corpus_file, corpus_params, load_flags
from embodied_ai_architect.testing.corpus import CorpusModel

pytestmark = pytest.mark.corpus


def _independent_count(entry: CorpusModel) -> int:
    """Parameters from the model's own framework where the manifest defers to it."""
    if entry.id == "reach_mlp_policy":
        import torch

        module = torch.jit.load(str(corpus_file(entry)))
        return sum(p.numel() for p in module.parameters())
    return entry.parameters


@pytest.mark.parametrize("entry", corpus_params())
def test_analyze_exits_0_with_true_parameters_and_family(entry: CorpusModel, branes) -> None:  # type: ignore[no-untyped-def]
    path = corpus_file(entry)
    run: Run = branes(
        "analyze", str(path), "--json", "--runs", "5", "--sensitivity", "3", *load_flags(entry)
    )
    assert run.returncode == 0, run.stderr[-2000:]
    profile = json.loads(run.stdout)
    assert profile["parameters"] == _independent_count(entry)
    assert profile["family"]["family"] == entry.family, profile["family"]["evidence"]
    assert profile["latency"], profile["warnings"]
    assert profile["macs"] and profile["macs"] > 0
    assert all("skipped" not in warning for warning in profile["warnings"]), profile["warnings"]
    assert len(profile["sensitivity"]) == 3, profile["warnings"]
