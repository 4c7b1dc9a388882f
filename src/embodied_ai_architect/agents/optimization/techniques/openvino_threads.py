"""OpenVINO's inference thread count as a measured runtime decision (``ort_threads``' twin).

On the 2-vCPU AMX Xeon the PP-OCR direction classifier (16 M MACs) ran 0.64 ms on OpenVINO with
one thread and 0.79 ms with two (interleaved): at batch 1 a small model loses time to the
thread pool. The count is recorded in the IR (``rt_info`` ``branes/threads``, see
:func:`~embodied_ai_architect.modelio.openvino_io.pinned_threads`), so the version, the registry,
the deployment package and anyone loading the IR with ``load_openvino`` run it that way; the
search keeps it only if it measures faster.
"""

from __future__ import annotations

from typing import ClassVar

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import thread_count_field
from embodied_ai_architect.agents.optimization.quant.openvino_convert import (
    ir_bytes,
    read_ir,
    save_and_load,
)
from embodied_ai_architect.modelio.handle import Framework, ModelHandle
from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle

TECHNIQUE = "openvino_threads"


class OpenVinoThreadsConfig(TechniqueConfig):
    """The INFERENCE_NUM_THREADS the version's OpenVINO model is compiled with.

    Example:
        >>> OpenVinoThreadsConfig(intra_op_threads=1).intra_op_threads
        1
    """

    technique: ClassVar[str] = TECHNIQUE

    intra_op_threads: int = thread_count_field(
        "OpenVINO inference threads of the version (INFERENCE_NUM_THREADS)"
    )


@register_technique(
    OpenVinoThreadsConfig,
    TechniqueManifest(
        family=TechniqueFamily.RUNTIME,
        description="OpenVINO inference thread count, chosen by measurement (the weights are "
        "unchanged; the IR records the count, and the version and its deployment run with it).",
        input_frameworks=[Framework.OPENVINO],
        output_framework=Framework.OPENVINO,
        runtime="openvino",
        requires=["openvino"],
        extra="openvino",
    ),
)
def openvino_threads(
    handle: ModelHandle, config: OpenVinoThreadsConfig, ctx: TechniqueContext
) -> TechniqueResult:
    assert isinstance(handle, OpenVinoModelHandle)  # the manifest takes OpenVINO models only
    before = handle.threads or ctx.threads
    ctx.emit(50, f"OpenVINO with {config.intra_op_threads} inference thread(s)")
    xml = ctx.path("openvino_threads.xml")
    out = save_and_load(
        read_ir(handle),  # keeps the IR's other rt_info, e.g. its pinned compute precision
        xml,
        handle,
        ctx,
        fp16=False,
        inference_precision=handle.inference_precision,
        threads=config.intra_op_threads,
    )
    return TechniqueResult(
        handle=out,
        changes=[
            f"OpenVINO inference threads {before} → {config.intra_op_threads} (weights unchanged)"
        ],
        metrics={
            "intra_op_threads_before": float(before),
            "intra_op_threads": float(config.intra_op_threads),
            "size_before_bytes": ir_bytes(handle.xml_path),
            "size_after_bytes": ir_bytes(xml),
        },
    )
