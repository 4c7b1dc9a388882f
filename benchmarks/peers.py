"""Peers benchmark: `branes optimize` against one-call peer tools on the same model, data and bound.

Per model (``--models``), on one FP32 ONNX file that every tool gets:

* ORT ``quantize_static`` (QDQ defaults, calibrated on the calibration split) and
  ``quantize_dynamic`` (defaults);
* NNCF default ``nncf.quantize`` (OpenVINO IR from ``ov.convert_model``; ``Core.read_model``
  of MiniLM's ONNX made NNCF 3.4 fail with a KeyError on a position-embedding Gather) and NNCF ``quantize_with_accuracy_control``
  (``validation_fn`` = the task fidelity below on the validation split, the same max drop);
* Olive (``OnnxStaticQuantization`` with its defaults, same calibration data) when ``olive-ai``
  is installed, else a line saying it was skipped and why;
* ``branes optimize`` (``embodied_ai_architect.pipeline.run_optimize``: calibration split as
  ``calibration_data``, validation split as ``eval_data``, ``--max-accuracy-drop``).

Then, in this one process: every artifact is loaded (ONNX Runtime for ONNX, the OpenVINO runtime
for IR), timed in interleaved rounds (round-robin, the order rotated each round, warm-up first,
batch 1, 2 threads; p50 = the median of the per-round medians) and scored on held-out samples that
no tool calibrated or validated on: the Evaluation agent's task fidelity
(``agents.evaluation.accuracy.FidelityEvaluator`` with the analysed output head: detector class
agreement on confident anchors + mAP@0.5, top-1 agreement, embedding cosine, action error) and an
independent check computed here (per-anchor class agreement, top-1 agreement, masked mean-pooled
sentence cosine, action cosine). The script also measures this host's FP32 and INT8 GEMM peak (ONNX
Runtime MatMul / MatMulInteger u8s8, 2 threads) and prints the share each candidate reaches
(2 × MACs from the analysis profile / p50).

Data: crops of the two photos that ship in scikit-learn (``load_sample_images``; the detector
gets the corpus photos with people in them instead, ``corpus/manifest.yaml`` images), sentences of
scikit-learn's dataset descriptions tokenized with MiniLM's own tokenizer.json, observations of
the MuJoCo reach expert for the policies. Nothing is downloaded.

Policies (``reach_mlp_policy``, ``reach_vla_policy``) are judged in closed loop: every artifact
runs on the seeded scenes of ``reach-v0/smoke`` and the row reports success, Δ points against
the original and speed-up (``peers_policies.py``); ``branes optimize`` gets the suite as
``eval_sim`` and NNCF accuracy control the closed-loop success as its ``validation_fn``.

    .venv/bin/python benchmarks/peers.py --models ppocr_cls minilm --samples 24 --rounds 5

Writes benchmarks/results/peers.json and prints a Markdown table. The VM is noisy: compare rows
within one run only, and name the host with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import statistics
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from peers_policies import (  # policies: judged in closed loop
    POLICY_MODELS,
    best_peers,
    runtime_label,
)
from peers_policies import SUITE as SIM_SUITE

THREADS = 2
RESULTS = Path(__file__).parent / "results" / "peers.json"
ALL_MODELS = (
    "yolov8s_fall",
    "ppocr_cls",
    "orientation_cls",
    "minilm",
    "vit_small",
    "reach_mlp_policy",
    "reach_vla_policy",
)
ALL_TOOLS = (
    "ort_static",
    "ort_dynamic",
    "openvino",
    "nncf",
    "nncf_accuracy_control",
    "olive",
    "branes",
)
Feeds = dict[str, np.ndarray]


# --------------------------------------------------------------------------- host


def cpu_flags() -> list[str]:
    try:
        line = next(
            ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")
        )
    except (OSError, StopIteration):
        return []
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return [flag for flag in wanted if flag in line.split()]


def cpu_name() -> str:
    with contextlib.suppress(OSError, StopIteration):
        line = next(
            ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln
        )
        return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("onnxruntime", "openvino", "nncf", "olive-ai", "onnx", "torch", "transformers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _ort_session(path: str | bytes, threads: int = THREADS) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def gemm_peaks(size: int = 1024, runs: int = 12) -> dict[str, float]:
    """FP32 (MatMul) and INT8 (MatMulInteger u8 × s8) GEMM throughput of ORT, 2 threads."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    out: dict[str, float] = {"size": float(size)}
    for label, a_type, b_array, op in (
        ("fp32_gflops", TensorProto.FLOAT, rng.standard_normal((size, size), np.float32), "MatMul"),
        (
            "int8_gops",
            TensorProto.UINT8,
            rng.integers(-128, 127, (size, size)).astype(np.int8),
            "MatMulInteger",
        ),
    ):
        out_type = TensorProto.FLOAT if op == "MatMul" else TensorProto.INT32
        graph = helper.make_graph(
            [helper.make_node(op, ["a", "b"], ["y"])],
            "gemm",
            [helper.make_tensor_value_info("a", a_type, [size, size])],
            [helper.make_tensor_value_info("y", out_type, [size, size])],
            [numpy_helper.from_array(b_array, "b")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        session = _ort_session(model.SerializeToString())
        a = (
            rng.standard_normal((size, size), np.float32)
            if op == "MatMul"
            else rng.integers(0, 255, (size, size)).astype(np.uint8)
        )
        for _ in range(3):
            session.run(None, {"a": a})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            session.run(None, {"a": a})
            times.append(time.perf_counter() - start)
        # The best run: a peak, not a typical figure (the VM is shared).
        out[label] = 2 * size**3 / min(times) / 1e9
    return out


# --------------------------------------------------------------------------- data


def corpus_photos() -> list[np.ndarray]:
    """The corpus photos (people, a cup, a cat: ``make corpus`` extracts them from pinned
    scikit-image and matplotlib wheels), as uint8 RGB arrays."""
    from PIL import Image

    from embodied_ai_architect.testing.corpus import image_paths

    photos = []
    for path in image_paths():
        with Image.open(path) as image:
            photos.append(np.asarray(image.convert("RGB")))
    return photos


def photo_crops(
    count: int, height: int, width: int, seed: int, photos: list[np.ndarray] | None = None
) -> np.ndarray:
    """uint8 (count, height, width, 3) random crops of ``photos`` (default: scikit-learn's two
    sample photos, a temple and a flower)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = photos or load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        ph, pw = photo.shape[:2]
        aspect = width / height
        scale = rng.uniform(0.35, 1.0)
        ch = int(min(ph, pw / aspect) * scale)
        cw = int(ch * aspect)
        top = int(rng.integers(0, ph - ch + 1))
        left = int(rng.integers(0, pw - cw + 1))
        image = Image.fromarray(photo[top : top + ch, left : left + cw])
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < 0.25:
            image = image.transpose(Image.Transpose.ROTATE_180)
        crops.append(np.asarray(image.resize((width, height), Image.Resampling.BILINEAR)))
    return np.stack(crops)


def sentences(count: int, seed: int) -> list[str]:
    """Sentences of the dataset descriptions that ship inside scikit-learn."""
    import sklearn

    descr = Path(sklearn.__file__).parent / "datasets" / "descr"
    text = " ".join(p.read_text(errors="ignore") for p in sorted(descr.glob("*.rst")))
    text = re.sub(r"[`*:=|_\-]{2,}|\s+", " ", text)
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text)]
    found = [s for s in found if 6 <= len(s.split()) <= 40 and not s.startswith("..")]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(found))
    return [found[i] for i in order[:count]]


# --------------------------------------------------------------------------- models


@dataclass
class Prepared:
    """One model as every tool gets it: an FP32 ONNX file and samples in three disjoint splits."""

    name: str
    onnx_path: Path
    family: str | None
    calibration: list[Feeds]
    validation: list[Feeds]
    held_out: list[Feeds]
    note: str = ""
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # held-out attention masks
    load_inputs: list[str] = field(default_factory=list)  # branes --input overrides


def _split(samples: list[Feeds], n: int) -> tuple[list[Feeds], list[Feeds], list[Feeds]]:
    return samples[:n], samples[n : 2 * n], samples[2 * n : 3 * n]


def _fix_dims(src: Path, dst: Path, dims: dict[str, list[int | str]]) -> Path:
    """Copy ``src`` with its input dims fixed (a dynamic H × W becomes the data's size)."""
    import onnx

    model = onnx.load(str(src))
    for value in model.graph.input:
        if value.name in dims:
            for dim, new in zip(value.type.tensor_type.shape.dim, dims[value.name], strict=True):
                if isinstance(new, int):
                    dim.ClearField("dim_param")
                    dim.dim_value = new
                else:
                    dim.ClearField("dim_value")
                    dim.dim_param = new
    onnx.save(model, str(dst))
    return dst


def _corpus_path(model_id: str) -> Path:
    from embodied_ai_architect.testing.corpus import load_manifest, model_path

    entry = next(e for e in load_manifest().models if e.id == model_id)
    path = Path(model_path(entry))
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `make corpus`")
    return path


def _images(raw: np.ndarray, mean: float | list[float], std: float | list[float]) -> np.ndarray:
    x = raw.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def prepare(name: str, work: Path, n: int, seed: int) -> Prepared:
    work.mkdir(parents=True, exist_ok=True)
    total = 3 * n
    if name == "yolov8s_fall":
        # Photos with people: the temple and flower gave 8 detections in 48 crops (run 7).
        x = _images(photo_crops(total, 640, 640, seed, corpus_photos()), 0.0, 1.0)
        samples = [{"images": x[i : i + 1]} for i in range(total)]
        return Prepared(name, _corpus_path(name), "detector", *_split(samples, n))
    if name == "ppocr_cls":
        x = _images(photo_crops(total, 48, 192, seed), 0.5, 0.5)
        path = _fix_dims(_corpus_path(name), work / "ppocr_cls.onnx", {"x": ["N", 3, 48, 192]})
        samples = [{"x": x[i : i + 1]} for i in range(total)]
        return Prepared(name, path, "cnn_classifier", *_split(samples, n))
    if name == "orientation_cls":
        x = _images(
            photo_crops(total, 224, 224, seed), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        )
        samples = [{"x": x[i : i + 1]} for i in range(total)]
        return Prepared(name, _corpus_path(name), "cnn_classifier", *_split(samples, n))
    if name == "minilm":
        return _prepare_minilm(work, n, seed)
    if name == "vit_small":
        return _prepare_vit(work, n, seed)
    if name in POLICY_MODELS:
        from peers_policies import policy_samples, vla_policy_path

        mlp = name == "reach_mlp_policy"
        path = _corpus_path(name).with_suffix(".onnx") if mlp else vla_policy_path()
        samples = policy_samples(path, total, seed)
        family = "mlp_policy" if mlp else "transformer_policy"
        note = f"judged in closed loop ({path.name})"
        return Prepared(name, path, family, *_split(samples, n), note=note)
    raise ValueError(f"unknown model {name!r}; known: {', '.join(ALL_MODELS)}")


SEQ = 64


def _prepare_minilm(work: Path, n: int, seed: int) -> Prepared:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    directory = _corpus_path("minilm")
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.enable_truncation(SEQ)
    tokenizer.enable_padding(length=SEQ)
    samples: list[Feeds] = []
    for text in sentences(3 * n, seed):
        enc = tokenizer.encode(text)
        samples.append(
            {
                "input_ids": np.asarray([enc.ids], np.int64),
                "attention_mask": np.asarray([enc.attention_mask], np.int64),
                "token_type_ids": np.asarray([enc.type_ids], np.int64),
            }
        )
    path = work / "minilm.onnx"
    if not path.exists():
        model = AutoModel.from_pretrained(str(directory)).eval()

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = model

            def forward(self, ids: Any, mask: Any, types: Any) -> Any:
                return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

        example = tuple(torch.from_numpy(samples[0][k]) for k in samples[0])
        torch.onnx.export(
            Encoder(),
            example,
            str(path),
            input_names=list(samples[0]),
            output_names=["last_hidden_state"],
            opset_version=17,
            dynamo=False,
        )
    return Prepared(
        "minilm",
        path,
        "transformer_encoder",
        *_split(samples, n),
        note=f"HF safetensors → ONNX (torch TorchScript-based exporter, seq {SEQ})",
    )


def export_image_classifier(model: Any, sample: dict[str, np.ndarray], path: Path) -> None:
    """A transformers image classifier as FP32 ONNX: ``pixel_values`` in, ``logits`` out."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, pixels: Any) -> Any:
            return self.inner(pixel_values=pixels).logits

    torch.onnx.export(
        Logits(),
        (torch.from_numpy(sample["pixel_values"]),),
        str(path),
        input_names=["pixel_values"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
    )


def _prepare_vit(work: Path, n: int, seed: int) -> Prepared:
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    x = _images(photo_crops(3 * n, 224, 224, seed), 0.5, 0.5)
    samples = [{"pixel_values": x[i : i + 1]} for i in range(3 * n)]
    path = work / "vit_small.onnx"
    if not path.exists():
        torch.manual_seed(0)
        config = ViTConfig(
            hidden_size=384,
            num_hidden_layers=12,
            num_attention_heads=6,
            intermediate_size=1536,
            image_size=224,
            patch_size=16,
            num_labels=1000,
        )
        export_image_classifier(ViTForImageClassification(config).eval(), samples[0], path)
    return Prepared(
        "vit_small",
        path,
        "vit",
        *_split(samples, n),
        note="ViT-S/16 from a transformers ViTConfig, random weights",
    )


# --------------------------------------------------------------------------- runners


@dataclass
class Candidate:
    tool: str
    path: Path | None = None
    runtime: str = ""  # onnxruntime | openvino
    wall_s: float | None = None
    error: str | None = None
    note: str = ""
    attempts: list[str] = field(default_factory=list)  # branes: every attempt and its reason
    run: Callable[[Feeds], list[np.ndarray]] | None = None
    p50_ms: float | None = None
    size_mb: float | None = None
    int8: bool = False
    fidelity: dict[str, Any] = field(default_factory=dict)
    # Peers ship a file; branes ships a package whose deployment record also names the
    # intra-op thread count it chose by measurement (ort_threads), and it is timed with it.
    threads: int = THREADS
    # branes' IRs compile in the precision their package pins; peers' get the plugin default.
    precision: str | None = None


def _ort_runner(path: Path, threads: int = THREADS) -> Callable[[Feeds], list[np.ndarray]]:
    session = _ort_session(str(path), threads)
    names = [i.name for i in session.get_inputs()]

    def run(feeds: Feeds) -> list[np.ndarray]:
        values = list(feeds.values())
        return list(session.run(None, dict(zip(names, values, strict=True))))

    return run


def _ov_runner(
    xml: Path, threads: int = THREADS, precision: str | None = None
) -> Callable[[Feeds], list[np.ndarray]]:
    """``precision``: INFERENCE_PRECISION_HINT (None: the plugin's default, which is BF16 on
    CPUs with AMX / AVX512-BF16 — what a peer's IR gets from a plain ``compile_model``)."""
    import openvino as ov

    core = ov.Core()
    config: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
    }
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(str(xml), "CPU", config)
    request = compiled.create_infer_request()
    count = len(compiled.outputs)

    def run(feeds: Feeds) -> list[np.ndarray]:
        result = request.infer(list(feeds.values()))
        return [np.array(result[compiled.output(i)]) for i in range(count)]

    return run


def _artifact_size(path: Path) -> float:
    if path.suffix == ".xml":
        return (path.stat().st_size + path.with_suffix(".bin").stat().st_size) / 1e6
    extra = path.with_name(path.name + ".data")
    return (path.stat().st_size + (extra.stat().st_size if extra.exists() else 0)) / 1e6


_INT8_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "QLinearConv",
    "QLinearMatMul",
}


def _is_int8(path: Path) -> bool:
    if path.suffix == ".xml":
        text = path.read_text(errors="ignore")
        return "FakeQuantize" in text or 'element_type="i8"' in text or 'element_type="u8"' in text
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(node.op_type in _INT8_OPS for node in model.graph.node)


def load_candidate(candidate: Candidate) -> None:
    assert candidate.path is not None
    path = candidate.path
    if path.name.endswith(".ir.tar"):
        target = Path(tempfile.mkdtemp(prefix="peers-ir-"))
        with tarfile.open(path) as archive:
            archive.extractall(target, filter="data")
        path = next(target.glob("*.xml"))
        candidate.path = path
    if path.suffix == ".xml":
        candidate.runtime = "openvino"
        if candidate.tool == "branes":
            # As its package loads it: in the precision it was measured and validated at.
            from embodied_ai_architect.modelio.openvino_io import load_openvino

            candidate.precision = load_openvino(path).inference_precision
        candidate.run = _ov_runner(path, candidate.threads, candidate.precision)
    elif path.suffix == ".onnx":
        candidate.runtime = "onnxruntime"
        candidate.run = _ort_runner(path, candidate.threads)
    else:
        raise RuntimeError(f"artifact {path.name} is neither ONNX nor OpenVINO IR")
    candidate.size_mb = round(_artifact_size(path), 3)
    candidate.int8 = _is_int8(path)


# --------------------------------------------------------------------------- tools


class _Reader:
    """ORT CalibrationDataReader over a list of feeds."""

    def __init__(self, samples: list[Feeds]):
        self.samples = iter(samples)

    def get_next(self) -> Feeds | None:
        return next(self.samples, None)


def tool_ort_static(model: Prepared, out: Path) -> Path:
    from onnxruntime.quantization import quantize_static

    target = out / "ort_static.onnx"
    quantize_static(str(model.onnx_path), str(target), _Reader(model.calibration))
    return target


def tool_ort_dynamic(model: Prepared, out: Path) -> Path:
    from onnxruntime.quantization import quantize_dynamic

    target = out / "ort_dynamic.onnx"
    quantize_dynamic(str(model.onnx_path), str(target))
    return target


def tool_openvino(model: Prepared, out: Path) -> Path:
    """Plain conversion (``ovc``'s defaults: FP16 weights on disk), compiled with the plugin's
    defaults like every peer IR: BF16 compute on CPUs with AMX / AVX512-BF16."""
    import openvino as ov

    target = out / "openvino.xml"
    ov.save_model(ov.convert_model(str(model.onnx_path)), str(target))
    return target


def tool_nncf(model: Prepared, out: Path) -> Path:
    import nncf
    import openvino as ov

    ov_model = ov.convert_model(str(model.onnx_path))
    quantized = nncf.quantize(ov_model, nncf.Dataset(model.calibration))
    target = out / "nncf.xml"
    ov.save_model(quantized, str(target))
    return target


def tool_nncf_accuracy_control(
    model: Prepared,
    out: Path,
    score: Callable[[list[int], list[list[np.ndarray]]], float],
    closed_loop: Callable[[Any, Any], float] | None = None,
) -> Path:
    """``closed_loop``: a policy's validation_fn (success on the sim suite) instead of ``score``."""
    import nncf
    import openvino as ov

    items = list(enumerate(model.validation))

    def validate(compiled: Any, data: Any) -> float:
        if closed_loop is not None:
            return closed_loop(compiled, data)
        chosen, outputs = [], []
        for index, feeds in data:
            result = compiled(list(feeds.values()))
            outputs.append([np.array(result[o]) for o in compiled.outputs])
            chosen.append(index)
        return score(chosen, outputs)

    extra: dict[str, Any] = {}
    if AC_ITERATIONS is not None:  # cap the revert loop (NNCF's default: until the bound holds)
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

        extra["advanced_accuracy_restorer_parameters"] = AdvancedAccuracyRestorerParameters(
            max_num_iterations=AC_ITERATIONS
        )
    ov_model = ov.convert_model(str(model.onnx_path))
    quantized = nncf.quantize_with_accuracy_control(
        ov_model,
        nncf.Dataset(model.calibration),
        nncf.Dataset(items, lambda item: item[1]),
        validate,
        max_drop=DROP / 100,
        drop_type=nncf.DropType.ABSOLUTE,
        **extra,
    )
    target = out / "nncf_ac.xml"
    ov.save_model(quantized, str(target))
    return target


_OLIVE_SCRIPT = """
import numpy as np
from olive.data.registry import Registry


class _Samples:
    def __init__(self, path):
        data = np.load(path)
        self.arrays = {k: data[k] for k in data.files}
        self.count = len(next(iter(self.arrays.values())))

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return {k: v[index] for k, v in self.arrays.items()}, 0


@Registry.register_dataset("DATASET")
def peers_npz(path, **kwargs):
    return _Samples(path)
"""


def olive_missing() -> str | None:
    try:
        import olive  # noqa: F401
    except ImportError as exc:
        return f"olive-ai not installed ({exc}); `pip install .[bench]` adds it"
    return None


def tool_olive(model: Prepared, out: Path) -> Path:
    from olive.workflows import run as olive_run

    script = out / "olive_user_script.py"
    dataset = f"peers_npz_{model.name}"  # one registry per process: a name per model
    script.write_text(_OLIVE_SCRIPT.replace("DATASET", dataset))
    calib = out / "olive_calibration.npz"
    np.savez(
        calib,
        **{k: np.concatenate([s[k] for s in model.calibration]) for k in model.calibration[0]},
    )
    config = {
        "input_model": {"type": "ONNXModel", "model_path": str(model.onnx_path)},
        "systems": {
            "local_system": {
                "type": "LocalSystem",
                "accelerators": [
                    {"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}
                ],
            }
        },
        "data_configs": [
            {
                "name": "calibration",
                "user_script": str(script),
                "load_dataset_config": {"type": dataset, "path": str(calib)},
                "dataloader_config": {"batch_size": 1},
            }
        ],
        "passes": {"quantize": {"type": "OnnxStaticQuantization", "data_config": "calibration"}},
        "host": "local_system",
        "target": "local_system",
        "cache_dir": str(out / "olive_cache"),
        "output_dir": str(out / "olive_out"),
        "log_severity_level": 3,
    }
    olive_run(config)
    found = sorted((out / "olive_out").rglob("*.onnx"))
    if not found:
        raise RuntimeError("Olive finished without an ONNX model in its output folder")
    return found[0]


def tool_branes(
    model: Prepared, out: Path, attempts: int, eval_sim: str | None = None
) -> tuple[Path, str, list[str], int]:
    """``eval_sim``: a policy's suite; its closed-loop success is then the bounded accuracy.
    Returns the chosen artifact, the decision, every attempt and the chosen thread count."""
    from embodied_ai_architect.pipeline import run_optimize
    from embodied_ai_architect.schemas.constraints import Budget, Constraints
    from embodied_ai_architect.schemas.results import OptimizeRequest

    def stack(samples: list[Feeds]) -> Feeds:
        return {k: np.concatenate([s[k] for s in samples]) for k in samples[0]}

    calib, evaluation = out / "branes_calibration.npz", out / "branes_eval.npz"
    np.savez(calib, **stack(model.calibration))
    np.savez(evaluation, **stack(model.validation))
    request = OptimizeRequest(
        model_path=model.onnx_path,
        constraints=Constraints(max_accuracy_drop=DROP, budget=Budget(max_attempts=attempts)),
        calibration_data=calib,
        eval_data=None if eval_sim else evaluation,
        eval_sim=eval_sim,
        out_dir=out / "branes_run",
        model_memory=False,
    )
    report = run_optimize(request)
    chosen = report.best or report.baseline
    decision = report.decision or report.summary
    tried = [
        f"{a.step_id}: {a.technique} {a.config or ''} {a.status.value}"
        + (
            f" (selection fidelity {a.metrics.accuracy:.4f})"
            if a.metrics and a.metrics.accuracy is not None
            else ""
        )
        + f": {a.reason}"
        for a in report.attempts
    ]
    if report.headroom is not None:  # the report's own "why not faster", for the verdicts
        tried.append(f"headroom: {report.headroom.explanation}")
    threads = chosen.metrics.threads or THREADS
    note = f"{chosen.technique or 'original'}: {decision}"[:400]
    return Path(chosen.path), note, tried, threads


DROP = 2.0  # points of task fidelity (set from --drop)
AC_ITERATIONS: int | None = None  # NNCF accuracy control's max_num_iterations (--ac-iterations)


# --------------------------------------------------------------------------- fidelity


def _handle(name: str, run: Callable[[Feeds], list[np.ndarray]], sample: Feeds) -> Any:
    """The minimal ModelHandle the Evaluation agent's ``run_dataset`` needs (batch 1)."""
    from embodied_ai_architect.schemas.tensors import TensorSpec

    inputs = [
        TensorSpec(name=k, shape=[1, *v.shape[1:]], dtype=str(v.dtype)) for k, v in sample.items()
    ]

    def run_feeds(feeds: Feeds) -> dict[str, np.ndarray]:
        return {str(i): o for i, o in enumerate(run(feeds))}

    return SimpleNamespace(name=name, inputs=inputs, run=run_feeds)


def _stack(samples: list[Feeds]) -> Feeds:
    return {k: np.concatenate([s[k] for s in samples]) for k in samples[0]}


def agent_fidelity(
    head: Any, samples: list[Feeds], want: list[list[np.ndarray]], got: list[list[np.ndarray]]
) -> tuple[float, dict[str, Any]]:
    """The Evaluation agent's FidelityEvaluator on precomputed outputs (original vs version)."""
    from embodied_ai_architect.agents.evaluation.accuracy import FidelityEvaluator

    by_want = iter(want)
    by_got = iter(got)
    reference = _handle("original", lambda _f: next(by_want), samples[0])
    version = _handle("version", lambda _f: next(by_got), samples[0])
    evaluator = FidelityEvaluator(_stack(samples), head=head)
    score = evaluator.evaluate(version, reference=reference)
    return score.value, score.details


def independent_check(
    kind: str, samples: list[Feeds], want: list[list[np.ndarray]], got: list[list[np.ndarray]]
) -> dict[str, float]:
    """A check written here, apart from the agent's code."""
    a = np.concatenate([w[0] for w in want]).astype(np.float64)
    b = np.concatenate([g[0] for g in got]).astype(np.float64)
    if kind == "detector":  # (N, 4 + C, A): per-anchor class agreement where the original is sure
        sa, sb = a[:, 4:, :], b[:, 4:, :]
        confident = sa.max(axis=1) >= 0.25
        if confident.sum() < 50:  # photos without the detector's classes: its top 50 anchors
            flat = np.argsort(-sa.max(axis=1), axis=None)[:50]
            confident = np.zeros(sa.max(axis=1).size, bool)
            confident[flat] = True
            confident = confident.reshape(sa.shape[0], sa.shape[2])
        agree = sa.argmax(axis=1) == sb.argmax(axis=1)
        # Same class AND still confident: with 2 classes, zeroed scores keep the argmax.
        kept = agree & (sb.max(axis=1) >= 0.25)
        cos = (sa * sb).sum() / max(np.linalg.norm(sa) * np.linalg.norm(sb), 1e-30)
        box = np.abs(a[:, :4] - b[:, :4]).mean() / max(np.abs(a[:, :4]).mean(), 1e-30)
        return {
            "check": float(kept[confident].mean()),
            "check_metric": "confident anchors kept (same class, score ≥ 0.25)",
            "class_agreement": float(agree[confident].mean()),
            "score_cosine": float(cos),
            "box_rel_error": float(box),
            "anchors": float(confident.sum()),
        }
    if kind == "embedding":  # masked mean pooling, as sentence-transformers does
        masks = np.concatenate([s["attention_mask"] for s in samples]).astype(np.float64)
        ea = (a * masks[..., None]).sum(1) / masks.sum(1, keepdims=True)
        eb = (b * masks[..., None]).sum(1) / masks.sum(1, keepdims=True)
        ea /= np.linalg.norm(ea, axis=1, keepdims=True)
        eb /= np.linalg.norm(eb, axis=1, keepdims=True)
        cos = (ea * eb).sum(1)
        sim_a, sim_b = ea @ ea.T, eb @ eb.T
        np.fill_diagonal(sim_a, -np.inf)
        np.fill_diagonal(sim_b, -np.inf)
        return {
            "check": float(cos.mean()),
            "check_metric": "sentence cosine (masked mean pool)",
            "min_cosine": float(cos.min()),
            "nearest_neighbour_agreement": float((sim_a.argmax(1) == sim_b.argmax(1)).mean()),
        }
    if kind == "action":
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        cos = (a * b).sum(1) / np.maximum(na * nb, 1e-30)
        return {
            "check": float(cos.mean()),
            "check_metric": "action cosine",
            "action_mae": float(np.abs(a - b).mean()),
            "action_max_error": float(np.abs(a - b).max()),
        }
    a2, b2 = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return {
        "check": float((a2.argmax(1) == b2.argmax(1)).mean()),
        "check_metric": "top-1 agreement",
        "cosine": float(
            (
                (a2 * b2).sum(1)
                / np.maximum(np.linalg.norm(a2, axis=1) * np.linalg.norm(b2, axis=1), 1e-30)
            ).mean()
        ),
    }


# --------------------------------------------------------------------------- timing


def interleaved_p50(
    candidates: list[Candidate], feeds: Feeds, rounds: int, runs: int, warmup: int
) -> None:
    live = [c for c in candidates if c.run is not None]
    for c in live:
        assert c.run is not None
        for _ in range(warmup):
            c.run(feeds)
    per_round: dict[str, list[float]] = {c.tool: [] for c in live}
    for r in range(rounds):
        order = live[r % len(live) :] + live[: r % len(live)]
        for c in order:
            assert c.run is not None
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                c.run(feeds)
                times.append(time.perf_counter() - start)
            per_round[c.tool].append(statistics.median(times) * 1000)
    for c in live:
        c.p50_ms = round(statistics.median(per_round[c.tool]), 4)


# --------------------------------------------------------------------------- one model


def _head_and_macs(model: Prepared) -> tuple[Any, int | None, str | None]:
    from embodied_ai_architect.agents.analysis.agent import analyze_model
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.agents.evaluation.heads import classify_outputs
    from embodied_ai_architect.schemas.analysis import AnalysisRequest
    from embodied_ai_architect.settings import get_settings

    profile = None
    try:
        profile = analyze_model(
            AnalysisRequest(model_path=model.onnx_path, measure_latency=False, sensitivity_top_k=0),
            AgentContext(settings=get_settings()),
        )
    except Exception as exc:  # the head then comes from the output shapes; MACs stay unknown
        print(f"  analysis failed ({type(exc).__name__}: {exc}); MACs unknown", flush=True)
    family = model.family
    head = None
    if profile is not None:
        head = profile.family.head
        family = profile.family.family.value
    # A policy is scored on its action: the analysis reads the VLA (image + tokens + proprio,
    # tanh action) as a transformer_encoder with an embedding head.
    if head is None or head.kind.value == "other" or model.name in POLICY_MODELS:
        run = _ort_runner(model.onnx_path)
        outs = run(model.held_out[0])
        head = classify_outputs(
            [list(o.shape) for o in outs],
            [list(v.shape) for v in model.held_out[0].values()],
            family=model.family,
            values=outs,
        )
    macs = profile.macs if profile is not None else None
    return head, macs, family


def _kind(head: Any) -> str:
    value = head.kind.value if head is not None else "other"
    return {"detector": "detector", "embedding": "embedding", "action": "action"}.get(
        value, "other"
    )


def bench_model(name: str, args: argparse.Namespace, peaks: dict[str, float]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"peers-{name}-"))
    print(f"\n## {name}", flush=True)
    model = prepare(name, work, args.samples, args.seed)
    head, macs, family = _head_and_macs(model)
    kind = _kind(head)
    print(
        f"  head {head.kind.value if head else '?'} ({kind}), MACs {macs}, family {family}, "
        f"splits {len(model.calibration)}/{len(model.validation)}/{len(model.held_out)}",
        flush=True,
    )
    original = Candidate("original FP32", path=model.onnx_path)
    load_candidate(original)
    assert original.run is not None
    val_want = [original.run(s) for s in model.validation]

    def val_score(chosen: list[int], outputs: list[list[np.ndarray]]) -> float:
        samples = [model.validation[i] for i in chosen]
        return agent_fidelity(head, samples, [val_want[i] for i in chosen], outputs)[0]

    policy = name in POLICY_MODELS
    closed_loop_validation = None
    if policy:
        from peers_policies import nncf_closed_loop_validation, policy_inputs

        closed_loop_validation = nncf_closed_loop_validation(policy_inputs(model.onnx_path))
    candidates = [original]
    for tool in args.tools:
        out = work / tool
        out.mkdir(exist_ok=True)
        candidate = Candidate(tool)
        started = time.perf_counter()
        try:
            if tool == "olive" and (missing := olive_missing()):
                candidate.error = f"skipped: {missing}"
                print(f"  {tool}: {candidate.error}", flush=True)
                candidates.append(candidate)
                continue
            with _quiet(args.verbose):
                if tool == "ort_static":
                    candidate.path = tool_ort_static(model, out)
                elif tool == "ort_dynamic":
                    candidate.path = tool_ort_dynamic(model, out)
                elif tool == "openvino":
                    candidate.path = tool_openvino(model, out)
                elif tool == "nncf":
                    candidate.path = tool_nncf(model, out)
                elif tool == "nncf_accuracy_control":
                    candidate.path = tool_nncf_accuracy_control(
                        model, out, val_score, closed_loop_validation
                    )
                elif tool == "olive":
                    candidate.path = tool_olive(model, out)
                elif tool == "branes":
                    candidate.path, candidate.note, candidate.attempts, candidate.threads = (
                        tool_branes(model, out, args.attempts, SIM_SUITE if policy else None)
                    )
            candidate.wall_s = round(time.perf_counter() - started, 1)
            load_candidate(candidate)
        except Exception as exc:  # a benchmark records every failure and goes on
            candidate.wall_s = round(time.perf_counter() - started, 1)
            candidate.error = f"{type(exc).__name__}: {exc}"[:300]
            candidate.run = None
            if args.verbose:
                traceback.print_exc()
        status = candidate.error or f"{candidate.runtime} {candidate.path}"
        print(f"  {tool}: {candidate.wall_s} s → {status}", flush=True)
        candidates.append(candidate)

    # Held-out fidelity: samples no tool saw.
    want = [original.run(s) for s in model.held_out]
    for c in candidates:
        if c.run is None:
            continue
        try:
            got = [c.run(s) for s in model.held_out]
            value, details = agent_fidelity(head, model.held_out, want, got)
            check = independent_check(kind, model.held_out, want, got)
            c.fidelity = {"agent": round(value, 4), "agent_details": details, **check}
        except Exception as exc:
            c.fidelity = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    interleaved_p50(candidates, model.held_out[0], args.rounds, args.runs, args.warmup)
    rows = [_row(c, macs, peaks) for c in candidates]
    comparison = _compare(rows)
    if policy:  # judged by closed-loop success, every artifact on the same seeded scenes
        from peers_policies import annotate, closed_loop, compare_success, policy_inputs

        runs = {c.tool: c.run for c in candidates if c.run is not None}
        loops = closed_loop(runs, policy_inputs(model.onnx_path))  # type: ignore[arg-type]
        annotate(rows, loops)
        comparison = {"action_fidelity": comparison, **compare_success(rows, DROP)}
        for r in rows:
            print(f"  {r['tool']}: success {r.get('success')}, p50 {r['p50_ms']} ms", flush=True)
    return {
        "model": name,
        "note": model.note,
        "family": family,
        "head": head.model_dump(mode="json") if head is not None else None,
        "macs": macs,
        "samples": {
            "calibration": len(model.calibration),
            "validation": len(model.validation),
            "held_out": len(model.held_out),
        },
        "rows": rows,
        "comparison": comparison,
    }


@contextlib.contextmanager
def _quiet(verbose: bool) -> Any:
    if verbose:
        yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def _row(c: Candidate, macs: int | None, peaks: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tool": c.tool,
        "runtime": c.runtime,
        "threads": c.threads,
        "inference_precision": c.precision
        or ("plugin default" if c.runtime == "openvino" else None),
        "artifact": str(c.path) if c.path else None,
        "p50_ms": c.p50_ms,
        "size_mb": c.size_mb,
        "int8": c.int8,
        "wall_s": c.wall_s,
        "fidelity": c.fidelity.get("agent"),
        "check": c.fidelity.get("check"),
        "check_metric": c.fidelity.get("check_metric"),
        "fidelity_details": c.fidelity,
        "error": c.error,
        "note": c.note,
    }
    if c.attempts:
        row["attempts"] = c.attempts
    if macs and c.p50_ms:
        gflops = 2 * macs / (c.p50_ms / 1000) / 1e9
        row["gflops"] = round(gflops, 2)
        row["fp32_peak_share"] = round(gflops / peaks["fp32_gflops"], 4)
        row["int8_peak_share"] = round(gflops / peaks["int8_gops"], 4)
    return row


def _compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """branes' p50 over the best peer's: at equal-or-better held-out fidelity, and within the bound."""
    branes = next((r for r in rows if r["tool"] == "branes" and r["p50_ms"]), None)
    peers = [
        r for r in rows if r["tool"] not in ("branes", "original FP32") and r["p50_ms"] is not None
    ]
    floor = 1 - DROP / 100
    out: dict[str, Any] = {"floor": floor}
    if branes is None or branes["fidelity"] is None:
        return out
    out["branes_meets_bound"] = branes["fidelity"] >= floor
    original = next(r for r in rows if r["tool"] == "original FP32")
    if original["p50_ms"]:
        out["branes_vs_original"] = round(branes["p50_ms"] / original["p50_ms"], 3)
    return out | best_peers(branes, peers, "fidelity", floor)


# --------------------------------------------------------------------------- output


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model | tool | runtime | p50 ms | MB | held-out fidelity (agent) | independent check "
        "| wall s | % FP32 / INT8 peak | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        if "error" in result:
            lines.append(
                f"| {result['model']} | – | – | – | – | – | – | – | – | {result['error']} |"
            )
            continue
        for i, r in enumerate(result["rows"]):
            peak = (
                f"{100 * r['fp32_peak_share']:.1f} / {100 * r['int8_peak_share']:.1f}"
                if r.get("fp32_peak_share") is not None
                else "–"
            )
            check = f"{r['check']:.4f} ({r['check_metric']})" if r.get("check") is not None else "–"
            note = r["error"] or (r["note"][:90] if r["note"] else "")
            lines.append(
                f"| {result['model'] if i == 0 else ''} | {r['tool']} | {runtime_label(r, THREADS)} "
                f"| {_fmt(r['p50_ms'], 4 if (r['p50_ms'] or 1) < 1 else 2)} | {_fmt(r['size_mb'])} | {_fmt(r['fidelity'], 4)} "
                f"| {check} | {_fmt(r['wall_s'], 1)} | {peak} | {note.replace('|', '/')} |"
            )
    lines.append("")
    lines.append(
        "| model | branes p50 / original | best peer at ≥ branes' fidelity (ratio branes/peer) "
        "| best peer within the bound (ratio) | branes meets bound |"
    )
    lines.append("| --- | --- | --- | --- | --- |")
    for result in results:
        comp = result.get("comparison", {})

        def cell(key: str, comp: dict[str, Any] = comp) -> str:
            entry = comp.get(key)
            return (
                f"{entry['peer']} {entry['peer_p50_ms']:.2f} ms ({entry['ratio']:.2f})"
                if entry
                else "–"
            )

        lines.append(
            f"| {result['model']} | {_fmt(comp.get('branes_vs_original'))} | {cell('equal_or_better')} "
            f"| {cell('within_bound')} | {_fmt(comp.get('branes_meets_bound'))} |"
        )
    if any(r.get("model") in POLICY_MODELS for r in results):
        from peers_policies import policy_markdown

        lines += ["", policy_markdown(results)]
    return "\n".join(lines)


def main() -> int:
    global DROP, AC_ITERATIONS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["yolov8s_fall", "ppocr_cls", "minilm"])
    parser.add_argument("--tools", nargs="+", default=list(ALL_TOOLS), choices=ALL_TOOLS)
    parser.add_argument("--samples", type=int, default=32, help="per split (3 splits)")
    parser.add_argument("--drop", type=float, default=2.0, help="max fidelity drop, points")
    parser.add_argument("--attempts", type=int, default=8, help="branes max_attempts")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=10, help="timed runs per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ac-iterations",
        type=int,
        default=None,
        help="cap NNCF accuracy control's revert iterations (default: NNCF's own)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    DROP, AC_ITERATIONS = args.drop, args.ac_iterations
    if "all" in args.models:
        args.models = list(ALL_MODELS)
    os.environ.setdefault("EAA_NUM_THREADS", str(THREADS))
    os.environ.setdefault("EAA_WORKSPACE", tempfile.mkdtemp(prefix="peers-workspace-"))

    started = time.perf_counter()
    peaks = gemm_peaks()
    host = {
        "cpu": cpu_name(),
        "flags": cpu_flags(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "threads": THREADS,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": sys.version.split()[0],
        "versions": versions(),
        "gemm_peak": peaks,
    }
    print(json.dumps(host, indent=1), flush=True)
    results: list[dict[str, Any]] = []

    def write() -> dict[str, Any]:
        # After every model, so a long run that is stopped keeps what it measured.
        host["load_average_end"] = os.getloadavg()
        payload = {
            "host": host,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "results": results,
            "markdown": markdown(results),
            "seconds": round(time.perf_counter() - started, 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=1, default=str))
        return payload

    for name in args.models:
        try:
            results.append(bench_model(name, args, peaks))
        except Exception as exc:
            print(f"  {name} failed: {type(exc).__name__}: {exc}", flush=True)
            if args.verbose:
                traceback.print_exc()
            results.append({"model": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
        write()
    payload = write()
    print("\n" + payload["markdown"])
    print(f"\nwrote {args.out} ({payload['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
