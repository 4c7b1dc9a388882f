"""Validate a deployed artifact against the ONNX Runtime FP32 baseline, sample by sample.

Every output is compared on its own (a detector's boxes would otherwise hide broken class
scores): max absolute difference, relative L2 error and, for classifier-shaped outputs
(``[batch, classes]``), arg-max agreement. The run passes when every output of every sample is
within the relative tolerance (and the top-1 agreement floor, when one is set).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from embodied_ai_architect.errors import DeploymentError, InputError
from embodied_ai_architect.schemas.deployment import (
    OutputComparison,
    SampleComparison,
    ValidationConfig,
    ValidationResult,
)
from embodied_ai_architect.schemas.profile import LatencyStats

if TYPE_CHECKING:
    from embodied_ai_architect.agents.deployment.targets.base import DeployContext
    from embodied_ai_architect.modelio.handle import Feeds, ModelHandle
    from embodied_ai_architect.schemas.tensors import TensorSpec


def iter_test_samples(
    config: ValidationConfig, inputs: list[TensorSpec], *, seed: int = 0
) -> Iterator[tuple[str, Feeds]]:
    """(source label, batch-1 feeds) pairs from the test data, or random inputs if allowed."""
    from embodied_ai_architect.data.calibration import (
        ArrayProvider,
        ImageFolderProvider,
        provider_from_path,
    )

    if config.test_data_path is None:
        if not config.allow_random_inputs:  # also enforced by ValidationConfig
            raise InputError(
                "validation needs test data",
                hint="give `validation.test_data_path`",
                field="validation.test_data_path",
            )
        from embodied_ai_architect.modelio.handle import make_feeds

        for index in range(config.num_samples):
            yield "random", make_feeds(inputs, batch=1, seed=seed + index)
        return
    provider = provider_from_path(
        config.test_data_path,
        inputs,
        num_samples=config.num_samples,
        preprocessing=config.preprocessing,
    )
    for index, feeds in enumerate(provider.samples()):
        if isinstance(provider, ImageFolderProvider):
            label = str(provider.files[index].relative_to(provider.folder))
        elif isinstance(provider, ArrayProvider):
            label = f"{provider.path.name}[{index}]"
        else:
            label = f"sample {index}"
        yield label, feeds


def compare_outputs(
    baseline: dict[str, np.ndarray], deployed: dict[str, np.ndarray]
) -> list[OutputComparison]:
    """Compare outputs position by position (runtimes may rename them)."""
    if len(baseline) != len(deployed):
        raise DeploymentError(
            f"the deployed model returns {len(deployed)} outputs, the baseline {len(baseline)}",
            hint="the conversion changed the model's interface; report it with the model",
        )
    comparisons = []
    for (name, want), got in zip(baseline.items(), deployed.values(), strict=True):
        want64 = np.asarray(want, dtype=np.float64)
        got64 = np.asarray(got, dtype=np.float64)
        if want64.shape != got64.shape:
            if want64.size != got64.size:
                raise DeploymentError(
                    f"output {name!r} has shape {got64.shape} after deployment, "
                    f"{want64.shape} in the baseline",
                    hint="the target changed the output layout; report it with the model",
                )
            got64 = got64.reshape(want64.shape)
        diff = want64 - got64
        max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
        norm = float(np.linalg.norm(want64))
        # A near-zero reference makes the ratio meaningless: fall back to the absolute error.
        relative = float(np.linalg.norm(diff)) / norm if norm > 1e-12 else max_abs
        top1 = None
        if want64.ndim == 2 and want64.shape[1] > 1:
            top1 = bool(np.array_equal(want64.argmax(axis=1), got64.argmax(axis=1)))
        comparisons.append(
            OutputComparison(
                output=name, max_abs_diff=max_abs, relative_l2=relative, top1_match=top1
            )
        )
    return comparisons


def _deployed_feeds(feeds: Feeds, baseline: ModelHandle, deployed: ModelHandle) -> Feeds:
    """Rename inputs positionally (TFLite / OpenVINO may name them differently)."""
    return {
        dst.name: feeds[src.name] for src, dst in zip(baseline.inputs, deployed.inputs, strict=True)
    }


def validate_artifact(
    deployed: ModelHandle,
    baseline: ModelHandle,
    config: ValidationConfig,
    ctx: DeployContext,
    *,
    runtime: str | None = None,
) -> ValidationResult:
    """Run baseline and deployed model on each test sample; compare; time both.

    ``runtime`` labels the deployed latency figures (handles do not always know their runtime).
    """
    from embodied_ai_architect.agents.evaluation.latency import measure_latency

    if len(deployed.inputs) != len(baseline.inputs):
        raise DeploymentError(
            f"the deployed model takes {len(deployed.inputs)} inputs, the baseline "
            f"{len(baseline.inputs)}",
            hint="the conversion changed the model's interface; report it with the model",
        )
    samples: list[SampleComparison] = []
    first_feeds: Feeds | None = None
    for index, (label, feeds) in enumerate(
        iter_test_samples(config, baseline.inputs, seed=ctx.seed)
    ):
        if first_feeds is None:
            first_feeds = feeds
        want = baseline.run(feeds)
        got = deployed.run(_deployed_feeds(feeds, baseline, deployed))
        samples.append(
            SampleComparison(index=index, source=label, outputs=compare_outputs(want, got))
        )
        ctx.emit(60 * (index + 1) / config.num_samples, f"compared sample {index + 1}")
    if first_feeds is None:
        raise InputError("no test samples were read", hint="check the test data path")
    ctx.emit(65, "timing the baseline (ONNX Runtime FP32)")
    baseline_latency = measure_latency(
        baseline, threads=ctx.threads, runs=config.latency_runs, feeds=first_feeds
    )
    ctx.emit(80, "timing the deployed artifact")
    deployed_latency = measure_latency(
        deployed,
        threads=ctx.threads,
        runs=config.latency_runs,
        feeds=_deployed_feeds(first_feeds, baseline, deployed),
    )
    if runtime is not None:
        deployed_latency = deployed_latency.model_copy(update={"runtime": runtime})
    return summarize(samples, config, baseline_latency, deployed_latency)


def summarize(
    samples: list[SampleComparison],
    config: ValidationConfig,
    baseline_latency: LatencyStats,
    deployed_latency: LatencyStats,
) -> ValidationResult:
    """Aggregate per-sample comparisons into a verdict (pure: tested without any runtime)."""
    all_outputs = [o for s in samples for o in s.outputs]
    per_output: dict[str, float] = {}
    for comparison in all_outputs:
        per_output[comparison.output] = max(
            per_output.get(comparison.output, 0.0), comparison.relative_l2
        )
    tops = [o.top1_match for o in all_outputs if o.top1_match is not None]
    top1 = sum(tops) / len(tops) if tops else None
    limit = config.tolerance_percent / 100
    reasons = [
        f"output {name!r}: relative error {value * 100:.3g} % exceeds {config.tolerance_percent} %"
        for name, value in per_output.items()
        if value > limit
    ]
    if (
        config.min_top1_agreement is not None
        and top1 is not None
        and top1 < config.min_top1_agreement
    ):
        reasons.append(
            f"top-1 agreement {top1:.3f} is below the required {config.min_top1_agreement:.3f}"
        )
    relatives = [o.relative_l2 for o in all_outputs]
    return ValidationResult(
        passed=not reasons,
        reasons=reasons,
        tolerance_percent=config.tolerance_percent,
        num_samples=len(samples),
        data_source=str(config.test_data_path) if config.test_data_path else "random inputs",
        max_abs_diff=max((o.max_abs_diff for o in all_outputs), default=0.0),
        max_relative_diff=max(relatives, default=0.0),
        mean_relative_diff=float(np.mean(relatives)) if relatives else 0.0,
        top1_agreement=top1,
        per_output_max_relative_diff=per_output,
        baseline_latency=baseline_latency,
        deployed_latency=deployed_latency,
        speedup=baseline_latency.p50_ms / max(deployed_latency.p50_ms, 1e-9),
        samples=samples,
    )
