"""Applying one candidate technique to a version: which version it reads, and whether it can.

A technique reads the current version, or else its nearest ancestor in a framework the technique
takes (an INT8 conversion reads the ONNX model an OpenVINO FP32 version came from); a torch model
given to an ONNX technique is exported once per version (``RunState.as_onnx``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.agents.optimization.base import (
    TechniqueContext,
    TechniqueFamily,
    apply_technique,
    can_take,
    get_technique,
)
from embodied_ai_architect.agents.planning.planner import EXPORT_ONNX
from embodied_ai_architect.errors import InputError
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS, declared_threads
from embodied_ai_architect.pipeline.near_miss import COMPACTION
from embodied_ai_architect.schemas.results import StepCandidate

if TYPE_CHECKING:
    from embodied_ai_architect.pipeline.state import RunState


def readable_source(state: RunState, technique: str, parent: str) -> str:
    """The version a technique reads: the parent, or else its nearest ancestor the technique
    can take (an INT8 conversion reads the ONNX model an OpenVINO FP32 version came from, and
    the result is compared with that FP32 version)."""
    if technique == EXPORT_ONNX:
        return parent
    manifest = get_technique(technique).manifest
    vid: str | None = parent
    while vid is not None:
        if can_take(manifest, state.registry.handle(vid).framework):
            return vid
        vid = state.registry.get(vid).parent
    return parent


def inapplicable(state: RunState, candidate: StepCandidate, parent: str) -> str | None:
    """Why ``candidate`` cannot take the current version or any ancestor (a planning fact)."""
    if candidate.technique == EXPORT_ONNX:
        return None
    made = state.registry.get(parent)
    same = made.technique == candidate.technique and made.config == dict(candidate.config)
    if same and candidate.technique == COMPACTION:
        # A near miss got it early (pipeline/near_miss.py): a second pass rewrites nothing.
        return f"{parent} is already the output of {COMPACTION} with these settings"
    manifest = get_technique(candidate.technique).manifest
    if manifest.family is not TechniqueFamily.QUANTIZATION:
        # Only a precision conversion may start from an ancestor (an INT8 of the ONNX model an
        # OpenVINO FP32 version came from competes with that version). A session setting or a
        # clean-up applied to an ancestor would time a different model and discard the step
        # that made the parent (ort_threads / onnx_graph_optimize on an OpenVINO INT8 winner
        # timed its FP32 ONNX original, 4.7× slower, and rolled it back).
        handle = state.registry.handle(parent)
        framework = handle.framework
        if can_take(manifest, framework):
            wanted = candidate.config.get(DECLARED_THREADS)
            if wanted is not None and declared_threads(handle) == wanted:
                # The runtime step may already have pinned it (OpenVINO FP32 on 1 thread for a
                # small model): timing the same count again only measures noise.
                return f"the current version {parent} already runs on {wanted} thread(s)"
            return None
        if manifest.family is TechniqueFamily.RUNTIME:
            return (
                f"sets {manifest.runtime} session options; the current version {parent} runs "
                f"on {framework.value}"
            )
        return (
            f"rewrites {'/'.join(f.value for f in manifest.input_frameworks)} models; the "
            f"current version {parent} runs on {framework.value}"
        )
    source = readable_source(state, candidate.technique, parent)
    framework = state.registry.handle(source).framework
    if can_take(manifest, framework):
        return None
    return (
        f"takes {[f.value for f in manifest.input_frameworks]} models; the current version "
        f"{parent} and its ancestors are {framework.value}"
    )


def apply_candidate(
    state: RunState,
    candidate: StepCandidate,
    parent: str,
    workdir: Path,
    span: tuple[float, float],
) -> ModelHandle:
    handle = state.registry.handle(parent)
    if candidate.technique == EXPORT_ONNX:
        return state.as_onnx(parent, handle)
    spec = get_technique(candidate.technique)
    accepts = spec.manifest.input_frameworks
    if not can_take(spec.manifest, handle.framework):
        raise InputError(
            f"{candidate.technique} takes {[f.value for f in accepts]} models; the current "
            f"version {parent} is {handle.framework.value}",
            hint="the planner orders torch-only steps first; this step is skipped",
        )
    if handle.framework not in accepts:  # a torch model for an ONNX technique
        handle = state.as_onnx(parent, handle)
    ctx = TechniqueContext(
        workdir=workdir,
        sink=state.bus,
        seed=state.seed,
        threads=state.threads,
        calibration=state.calibration(handle) if spec.manifest.needs_data != "none" else None,
        training_data=state.training_data,
        profile=state.profile,
        span=span,
        # NAS runs that many trials at once (techniques/nas.py, parallel_trials).
        extras={"reference": state.registry.handle("v0"), "search_workers": state.search_workers},
    )
    config: dict[str, Any] = dict(candidate.config)
    return apply_technique(candidate.technique, handle, ctx, config).handle
