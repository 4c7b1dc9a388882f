"""The Analysis agent: load a model, measure everything the planner needs, return a ModelProfile."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from embodied_ai_architect.agents.analysis.family import detect_family
from embodied_ai_architect.agents.analysis.host import capability_matrix, probe_host
from embodied_ai_architect.agents.analysis.opportunities import (
    OpportunityInputs,
    WeightReader,
    find_opportunities,
)
from embodied_ai_architect.agents.analysis.runtime_probe import RuntimeReport, measure_runtimes
from embodied_ai_architect.agents.analysis.sensitivity import layer_sensitivity
from embodied_ai_architect.agents.analysis.structure import ModelStructure
from embodied_ai_architect.agents.base import Agent, AgentContext
from embodied_ai_architect.errors import (
    AnalysisError,
    DependencyError,
    EAAError,
    ExportError,
    describe,
    first_line,
)
from embodied_ai_architect.modelio.handle import (
    Feeds,
    ModelHandle,
    OnnxModelHandle,
    TorchModelHandle,
    torch_threads,
)
from embodied_ai_architect.modelio.tflite_io import TFLiteModelHandle
from embodied_ai_architect.schemas.analysis import EXAMPLES, AnalysisRequest
from embodied_ai_architect.schemas.profile import LayerSensitivity, ModelProfile
from embodied_ai_architect.schemas.progress import EventKind
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


class AnalysisAgent(Agent[AnalysisRequest, ModelProfile]):
    """Profiles a model: size, MACs, census, family, latency, sensitivity, host, opportunities.

    Example:
        >>> from embodied_ai_architect.settings import get_settings
        >>> agent = AnalysisAgent(AgentContext(settings=get_settings()))
        >>> profile = agent.execute(AnalysisRequest(example="mlp_policy"))  # doctest: +SKIP
    """

    name = "analysis"
    stage = "analysis"

    def run(self, request: AnalysisRequest) -> ModelProfile:
        started = time.perf_counter()
        threads = request.threads or self.ctx.settings.num_threads
        handle = self._resolve(request, threads)
        self.emit_progress(10, f"loaded {handle.name} ({handle.framework.value})")
        with (
            tempfile.TemporaryDirectory(prefix="branes-analysis-") as tmp,
            torch_threads(threads, handle),
        ):
            workdir = Path(tmp)
            onnx_handle = handle if isinstance(handle, OnnxModelHandle) else None
            warnings: list[str] = []
            if not isinstance(handle, TorchModelHandle | OnnxModelHandle | TFLiteModelHandle):
                # TF / Keras / OpenVINO: the graph is read from their ONNX export. TFLite files
                # are read from their own flatbuffer (no TensorFlow needed).
                onnx_handle = self._export(handle, workdir, threads)
            graph_source = (
                handle if isinstance(handle, TorchModelHandle | TFLiteModelHandle) else onnx_handle
            )
            assert graph_source is not None  # an ONNX handle or export exists for non-torch models
            feeds = handle.example_inputs(batch=1, seed=self.ctx.seed)
            structure = _structure(graph_source, feeds)
            warnings.extend(structure.warnings)
            self.emit_progress(
                30,
                f"{structure.parameters:,} parameters, {(structure.macs or 0) / 1e6:.1f} M MACs",
                {"parameters": structure.parameters, "macs": structure.macs},
            )
            reference = structure.outputs if structure.outputs is not None else _run(handle, feeds)
            outputs = [
                TensorSpec(name=name, shape=list(value.shape), dtype=str(value.dtype))
                for name, value in reference.items()
            ]
            family = detect_family(structure, handle, outputs, feeds, reference)
            self.emit_progress(40, f"family: {family.family.value}", {"family": family.family})

            def measure_sensitivity() -> list[LayerSensitivity]:
                # The layers were read from graph_source: perturb that graph's weights.
                subject, subject_feeds, subject_reference = _sensitivity_subject(
                    handle, graph_source, feeds, reference
                )
                return layer_sensitivity(
                    subject,
                    structure,
                    subject_feeds,
                    subject_reference,
                    request.sensitivity_top_k,
                    on_layer=lambda i, n, name: self.emit_progress(
                        40 + 20 * i / max(n, 1), f"INT8 sensitivity {i + 1}/{n}: {name}"
                    ),
                )

            sensitivity: list[LayerSensitivity] = []
            if request.sensitivity_top_k:
                sensitivity = self._optional("INT8 sensitivity", measure_sensitivity, [], warnings)
            self.emit_progress(60, f"sensitivity of {len(sensitivity)} layer(s) measured")

            runtime = RuntimeReport()
            if request.measure_latency:
                runtime = self._optional(
                    "latency",
                    lambda: self._latency(request, handle, onnx_handle, workdir, threads),
                    RuntimeReport(),
                    warnings,
                )
                warnings.extend(runtime.warnings)
            self.emit_progress(85, "host capabilities and optimization opportunities")
            host = probe_host()
            capabilities = capability_matrix(host)
            opportunities = find_opportunities(
                OpportunityInputs(
                    structure=structure,
                    family=family,
                    capabilities=capabilities,
                    sensitivity=sensitivity,
                    latency=runtime.latency,
                    graph_optimization=runtime.graph_optimization,
                    read_weight=_weight_reader(graph_source),
                )
            )
        size, digest = _file_facts(handle.path)
        peaks = [s.peak_memory_mb for s in runtime.latency if s.peak_memory_mb is not None]
        return ModelProfile(
            model_name=handle.name,
            source_format=handle.source_format.value,
            framework=handle.framework.value,
            file_bytes=size,
            sha256=digest,
            parameters=structure.parameters,
            parameter_bytes=structure.parameter_bytes,
            by_dtype=structure.by_dtype(),
            macs=structure.macs,
            foldable_batchnorms=structure.foldable_batchnorms,
            flops=structure.flops,
            inputs=handle.inputs,
            outputs=outputs,
            op_census=structure.census(),
            layers=structure.top_layers(request.top_layers),
            family=family,
            latency=runtime.latency,
            peak_memory_mb=max(peaks) if peaks else None,
            sensitivity=sensitivity,
            host=host,
            capabilities=capabilities,
            opportunities=opportunities,
            warnings=warnings,
            analysis_seconds=round(time.perf_counter() - started, 3),
        )

    def _latency(
        self,
        request: AnalysisRequest,
        handle: ModelHandle,
        onnx_handle: OnnxModelHandle | None,
        workdir: Path,
        threads: int,
    ) -> RuntimeReport:
        warnings: list[str] = []
        if onnx_handle is None:
            onnx_handle = self._export(handle, workdir, threads, required=False)
            if onnx_handle is None:
                warnings.append(
                    "ONNX export failed: no ONNX Runtime latency (see the progress log)"
                )
        runtime = measure_runtimes(
            handle,
            onnx_handle,
            threads=threads,
            runs=request.runs,
            warmup=request.warmup,
            max_seconds=request.max_latency_seconds,
            on_step=lambda message: self.emit_progress(70, message),
        )
        self.emit_progress(
            80,
            "latency: " + ", ".join(f"{s.runtime} p50 {s.p50_ms:.3g} ms" for s in runtime.latency),
            {"latency": [s.model_dump() for s in runtime.latency]},
        )
        runtime.warnings[:0] = warnings
        return runtime

    def _optional(
        self, section: str, compute: Callable[[], T], default: T, warnings: list[str]
    ) -> T:
        """Run an optional section; its failure becomes a warning, the rest of the profile stays.

        Model-specific failures (EAAError: an op a runtime lacks, an export that does not
        reproduce) and the runtimes' own exceptions are expected on real exports; each is
        reported with its reason on the progress stream and in the profile.
        """
        try:
            return compute()
        except Exception as exc:
            reason = first_line(exc)
            message = f"{section} skipped: {reason}"
            warnings.append(message)
            self.emit_progress(60, message, kind=EventKind.WARNING)
            return default

    def _resolve(self, request: AnalysisRequest, threads: int) -> ModelHandle:
        if request.handle is not None:
            handle: ModelHandle = request.handle
            return handle
        if request.example is not None:
            from embodied_ai_architect.modelio.torch_io import handle_from_module, import_factory

            module = import_factory(EXAMPLES[request.example])()
            return handle_from_module(
                module, name=request.example, input_shapes=request.load.input_shapes
            )
        from embodied_ai_architect.modelio.loader import load_model

        assert request.model_path is not None  # guaranteed by the request validator
        return load_model(request.model_path, request.load, threads=threads)

    def _export(
        self, handle: ModelHandle, workdir: Path, threads: int, *, required: bool = True
    ) -> OnnxModelHandle | None:
        from embodied_ai_architect.modelio.export import export_onnx

        self.emit_progress(66, "exporting to ONNX")
        try:
            return export_onnx(handle, workdir / f"{handle.name}.onnx", threads=threads)
        except (ExportError, DependencyError) as exc:
            if required:
                raise
            # Not silent: the warning reaches the progress stream and the profile.
            self.emit_progress(66, f"ONNX export failed: {exc}", kind=EventKind.WARNING)
            return None


def _sensitivity_subject(
    handle: ModelHandle, graph_source: ModelHandle, feeds: Feeds, reference: Feeds
) -> tuple[ModelHandle, Feeds, Feeds]:
    """The model whose weights sensitivity perturbs, with its feeds and unperturbed outputs.

    That is the graph the layers were read from: for TF / Keras / OpenVINO models, their ONNX
    export (the structure names its nodes and weights). Its inputs may be named differently
    from the source's, so feeds follow the source's input order, and the reference is the
    export's own output."""
    if graph_source is handle:
        return handle, feeds, reference
    renamed = {
        graph.name: feeds[source.name]
        for source, graph in zip(handle.inputs, graph_source.inputs, strict=True)
    }
    return graph_source, renamed, graph_source.run(renamed)


def _structure(handle: ModelHandle, feeds: Feeds) -> ModelStructure:
    if isinstance(handle, TorchModelHandle):
        from embodied_ai_architect.agents.analysis.torch_stats import analyze_torch

        return analyze_torch(handle, feeds)
    if isinstance(handle, OnnxModelHandle):
        from embodied_ai_architect.agents.analysis.onnx_stats import analyze_onnx

        return analyze_onnx(handle)
    if isinstance(handle, TFLiteModelHandle):
        from embodied_ai_architect.agents.analysis.tflite_stats import analyze_tflite

        return analyze_tflite(handle)
    raise AnalysisError(
        f"cannot read the structure of a {handle.framework.value} model directly",
        hint="convert it to ONNX and analyze the .onnx file",
    )


def _run(handle: ModelHandle, feeds: Feeds) -> Feeds:
    try:
        return handle.run(feeds)
    except EAAError:
        raise
    except Exception as exc:  # the model's own error, reported with the shapes that caused it
        raise AnalysisError(
            f"running {handle.name!r} on example inputs "
            f"{ {k: list(v.shape) for k, v in feeds.items()} } failed: {describe(exc)}",
            hint="check the input shapes (`input_shapes`) match what the model expects",
            field="input_shapes",
        ) from exc


def _weight_reader(handle: ModelHandle) -> WeightReader | None:
    if isinstance(handle, TorchModelHandle):
        tensors: dict[str, torch.Tensor] = dict(handle.module.named_parameters())
        tensors.update(dict(handle.module.named_buffers()))

        def read_torch(name: str) -> np.ndarray | None:
            tensor = tensors.get(name)
            return None if tensor is None else tensor.detach().float().cpu().numpy()

        return read_torch
    if isinstance(handle, OnnxModelHandle):
        import onnx
        from onnx import numpy_helper

        initializers = {i.name: i for i in onnx.load(str(handle.onnx_path)).graph.initializer}

        def read_onnx(name: str) -> np.ndarray | None:
            init = initializers.get(name)
            return None if init is None else numpy_helper.to_array(init)

        return read_onnx
    return None


def _file_facts(path: Path | None) -> tuple[int, str | None]:
    """(bytes on disk, sha256 of a single file); directories are summed and not hashed."""
    if path is None or not Path(path).exists():
        return 0, None
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()), None
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


def analyze_model(request: AnalysisRequest, ctx: AgentContext) -> ModelProfile:
    """The one entry point the CLI, the REST API and the LLM tools call.

    Example:
        >>> from embodied_ai_architect.settings import get_settings
        >>> ctx = AgentContext(settings=get_settings())
        >>> profile = analyze_model(AnalysisRequest(example="cnn", measure_latency=False), ctx)  # doctest: +SKIP
        >>> profile.family.family  # doctest: +SKIP
        <ArchitectureFamily.CNN_CLASSIFIER: 'cnn_classifier'>
    """
    if not isinstance(request, AnalysisRequest):
        from embodied_ai_architect.errors import InputError

        raise InputError(
            f"analyze_model needs an AnalysisRequest, not {type(request).__name__}",
            hint="build one with AnalysisRequest(model_path=...) or AnalysisRequest(example=...)",
        )
    return AnalysisAgent(ctx).execute(request)
