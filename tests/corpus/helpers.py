"""Shared helpers of the corpus tests: the manifest's entries as params, their files and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.testing.corpus import CorpusModel, load_manifest, model_path
from embodied_ai_architect.utils.deps import has_package

MANIFEST = load_manifest()


# Large inputs or many layers: a short optimize of these takes minutes on 2 cores, so it runs in
# `make test-slow`; analysis and deployment of them stay in the default run.
HEAVY = frozenset(
    {"yolov8s_fall", "layout_picodet", "ppocr_det", "ppocr_rec", "minilm", "minilm_sharded"}
)

# Another file of a format whose optimize already runs by default (MTCNN O-Net beside the R-
# and P-Net state dicts, Silero VAD opset 15 beside opset 18): their short optimize adds over a
# minute to the default run and no new path, so it runs in `make test-slow`.
OPTIMIZED_ELSEWHERE = frozenset({"mtcnn_onet_state_dict", "silero_vad_onnx_op15"})


def corpus_params(
    *,
    slow: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> list[pytest.param]:  # type: ignore[valid-type]
    """One pytest param per manifest model (those in ``only`` if given, less ``exclude``);
    models needing an absent extra (tensorflow) are marked with that extra's marker, and those
    in ``slow`` with ``slow``, so the default run leaves them to `make test-slow`."""
    params = []
    for entry in MANIFEST.models:
        if (only is not None and entry.id not in only) or entry.id in exclude:
            continue
        marks = [pytest.mark.tf] if entry.requires == "tensorflow" else []
        if entry.id in slow:
            marks.append(pytest.mark.slow)
        params.append(pytest.param(entry, id=entry.id, marks=marks))
    return params


def corpus_file(entry: CorpusModel) -> Path:
    if entry.requires and not has_package(entry.requires):
        pytest.skip(f"{entry.id} needs {entry.requires}")
    path = model_path(entry)
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make corpus` (the set-up of `make test` does)")
    return path


def load_flags(entry: CorpusModel) -> list[str]:
    flags = [f"--input={spec}" for spec in entry.inputs]
    return [*flags, "--arch", entry.arch] if entry.arch else flags
