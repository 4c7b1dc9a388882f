"""Host probe: what this machine is and which runtime × precision combinations make sense on it.

Everything is read from the machine (``/proc/cpuinfo``, ``nvidia-smi``, package metadata), never
assumed; runtimes are found through their installed distributions without importing them, so
probing stays fast and import-lean.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from embodied_ai_architect.schemas.profile import Capability, HostInfo

# SIMD / matrix features that decide which precisions run fast. x86 names as in /proc/cpuinfo,
# ARM names as in its "Features" line.
RELEVANT_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "amx_fp16",
    "neon",
    "asimd",
    "asimddp",
    "asimdhp",
    "i8mm",
    "bf16",
    "sve",
    "sve2",
)

# runtime key → distributions that provide it (first installed one wins).
RUNTIME_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "openvino": ("openvino",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "tflite": ("ai-edge-litert", "tflite-runtime"),
    "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu13"),
    "nncf": ("nncf",),
    "transformers": ("transformers",),
}


@dataclass(frozen=True)
class CpuFacts:
    model: str
    flags: frozenset[str]


def read_cpu(cpuinfo: str | None = None) -> CpuFacts:
    """Parse ``/proc/cpuinfo`` text (x86 ``flags`` or ARM ``Features``)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    model = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    if not model:
        model = platform.processor() or platform.machine() or "unknown"
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        flags.add("neon")  # Advanced SIMD is mandatory on AArch64
    return CpuFacts(model=model, flags=frozenset(flags))


def _gpu() -> tuple[str | None, float | None]:
    if shutil.which("nvidia-smi") is None:
        return None, None
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    first = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
    name, _, memory = first.partition(",")
    try:
        return name.strip() or None, round(float(memory) / 1024, 1)
    except ValueError:
        return name.strip() or None, None


def installed_runtimes() -> dict[str, str]:
    """runtime → version for every installed runtime (read from package metadata, no import)."""
    found: dict[str, str] = {}
    for runtime, distributions in RUNTIME_DISTRIBUTIONS.items():
        for distribution in distributions:
            try:
                found[runtime] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


@functools.lru_cache(maxsize=1)
def probe_host() -> HostInfo:
    """Describe this machine (cached per process: the hardware does not change under us).

    Example:
        >>> probe_host().cores_logical >= 1
        True
    """
    import psutil

    cpu = read_cpu()
    gpu, gpu_memory = _gpu()
    return HostInfo(
        cpu_model=cpu.model,
        architecture=platform.machine(),
        cores_physical=psutil.cpu_count(logical=False),
        cores_logical=os.cpu_count() or 1,
        cpu_flags=sorted(flag for flag in RELEVANT_FLAGS if flag in cpu.flags),
        memory_gb=round(psutil.virtual_memory().total / 1024**3, 1),
        gpu=gpu,
        gpu_memory_gb=gpu_memory,
        runtimes=installed_runtimes(),
        os=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
    )


@functools.lru_cache(maxsize=1)
def openvino_cpu_capabilities() -> tuple[str, ...] | None:
    """What OpenVINO's CPU plugin itself says it can run here (FP32, INT8, FP16, BF16, ...);
    None when the plugin cannot be loaded. Asked, not inferred from flags."""
    try:
        import openvino

        core = openvino.Core()
        return tuple(str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # any failure means "not usable here"; the matrix says why
        return None


# Per precision, the CPU features that make it fast, checked in order: each rule lists
# alternatives ("a+b": both flags needed), whether the precision is then fast, and why.
HardwareRule = tuple[tuple[str, ...], bool, str]

_INT8_RULES: tuple[HardwareRule, ...] = (
    (("amx_int8+amx_tile",), True, "AMX-INT8 tiles: INT8 GEMM far above FP32"),
    (("avx512_vnni", "avx_vnni"), True, "VNNI dot-product instructions: INT8 GEMM ~2-4× FP32"),
    (
        ("i8mm", "asimddp"),
        True,
        "ARM dot-product / i8mm instructions: INT8 GEMM well above FP32",
    ),
    (
        ("avx2",),
        False,
        "AVX2 without VNNI: INT8 runs on emulated integer kernels, ≤2× over FP32 at best; "
        "dynamic INT8 convolutions (ConvInteger) are slower than FP32",
    ),
    ((), False, "no SIMD integer dot-product support found: INT8 mostly saves size"),
)
_FP16_RULES: tuple[HardwareRule, ...] = (
    (("avx512_fp16", "amx_fp16"), True, "native FP16 arithmetic (AVX512-FP16 / AMX-FP16)"),
    (("asimdhp",), True, "ARMv8.2 half-precision SIMD"),
    (("f16c",), False, "F16C only converts FP16↔FP32: FP16 halves size, compute stays FP32"),
    ((), False, "no FP16 support found on this CPU"),
)
_BF16_RULES: tuple[HardwareRule, ...] = (
    (("amx_bf16", "avx512_bf16"), True, "native BF16 dot products (AVX512-BF16 / AMX-BF16)"),
    (("bf16",), True, "ARM BF16 instructions"),
    ((), False, "no BF16 instructions: BF16 would be emulated"),
)
# OpenVINO's BF16 beats its FP32 only with AMX tiles. On a 2-vCPU AVX512-BF16 Xeon without AMX
# (where the plugin itself defaults to BF16) it was slower on every model timed: YOLOv8s 235 vs
# 212 ms, the PP-OCR classifier 1.28 vs 0.91 ms (docs/benchmarks.md, run 18).
_OPENVINO_BF16_RULES: tuple[HardwareRule, ...] = (
    (("amx_bf16",), True, "AMX-BF16 tiles"),
    (
        ("avx512_bf16",),
        False,
        "AVX512-BF16 dot products but no AMX: OpenVINO's BF16 measured slower than its FP32 "
        "on every model timed on such a CPU",
    ),
    (("bf16",), True, "ARM BF16 instructions"),
    ((), False, "no BF16 instructions: BF16 would be emulated"),
)


def _hardware(flags: set[str], rules: tuple[HardwareRule, ...]) -> tuple[bool, str]:
    """The first rule one of whose alternatives this CPU has (a rule without any: the rest)."""
    for alternatives, fast, reason in rules:
        if not alternatives or any(set(a.split("+")) <= flags for a in alternatives):
            return fast, reason
    raise AssertionError("every rule table ends with a catch-all rule")


def openvino_bf16(flags: frozenset[str] | None = None) -> tuple[bool, str]:
    """Whether OpenVINO computes BF16 natively on this CPU, and why (its plugin must list BF16
    and the CPU must have BF16 dot products; emulated BF16 is slower than FP32)."""
    flags = read_cpu().flags if flags is None else flags
    fast, reason = _hardware(set(flags), _OPENVINO_BF16_RULES)
    caps = openvino_cpu_capabilities()
    if caps is None:
        return False, "OpenVINO's CPU plugin did not load"
    if "BF16" not in caps:
        return False, f"OpenVINO's CPU plugin lists no BF16 ({', '.join(caps)}): {reason}"
    return fast, reason


def capability_matrix(host: HostInfo) -> list[Capability]:
    """Runtime × precision → available / fast / why, from the host's flags and runtimes."""
    flags = set(host.cpu_flags)
    runtimes = host.runtimes
    int8_fast, int8_reason = _hardware(flags, _INT8_RULES)
    fp16_fast, fp16_reason = _hardware(flags, _FP16_RULES)
    bf16_fast, bf16_reason = _hardware(flags, _BF16_RULES)
    ov_bf16_fast, ov_bf16_reason = _hardware(flags, _OPENVINO_BF16_RULES)
    fp32_reason = (
        "AVX-512 FP32 kernels"
        if "avx512f" in flags
        else "AVX2+FMA FP32 kernels"
        if {"avx2", "fma"} <= flags
        else "NEON FP32 kernels"
        if "neon" in flags
        else "scalar/SSE FP32 kernels"
    )
    fp32_fast = bool({"avx2", "avx512f", "neon"} & flags)
    rows: list[Capability] = []

    def add(runtime: str, precision: str, available: bool, fast: bool, reason: str) -> None:
        rows.append(
            Capability(
                runtime=runtime,
                precision=precision,
                available=available,
                fast=available and fast,
                reason=reason,
            )
        )

    def missing(runtime: str) -> str:
        return f"{runtime} is not installed"

    has = {name: name in runtimes for name in RUNTIME_DISTRIBUTIONS}
    add(
        "onnxruntime",
        "fp32",
        has["onnxruntime"],
        fp32_fast,
        fp32_reason if has["onnxruntime"] else missing("onnxruntime"),
    )
    add(
        "onnxruntime",
        "fp16",
        has["onnxruntime"],
        False,
        "the CPU execution provider has few FP16 kernels and inserts casts; FP16 mainly halves "
        f"size ({fp16_reason})"
        if has["onnxruntime"]
        else missing("onnxruntime"),
    )
    add(
        "onnxruntime",
        "int8",
        has["onnxruntime"],
        int8_fast,
        int8_reason if has["onnxruntime"] else missing("onnxruntime"),
    )
    add(
        "onnxruntime",
        "int4",
        has["onnxruntime"],
        False,
        "weight-only MatMulNBits: ~4-8× smaller Linear weights, dequantized at run time "
        "(measured not faster than FP32 on CPU)"
        if has["onnxruntime"]
        else missing("onnxruntime"),
    )
    add("torch", "fp32", has["torch"], fp32_fast, fp32_reason if has["torch"] else missing("torch"))
    add(
        "torch",
        "int8",
        has["torch"],
        int8_fast,
        f"dynamic INT8 Linear (fbgemm/qnnpack); {int8_reason}"
        if has["torch"]
        else missing("torch"),
    )
    add("torch", "bf16", has["torch"], bf16_fast, bf16_reason if has["torch"] else missing("torch"))
    ov_caps = openvino_cpu_capabilities() if has["openvino"] else None
    ov = ov_caps is not None
    ov_says = f"OpenVINO CPU plugin reports {', '.join(ov_caps)}" if ov_caps else ""
    ov_missing = (
        missing("openvino") if not has["openvino"] else "OpenVINO's CPU plugin did not load"
    )
    add("openvino", "fp32", ov, fp32_fast, f"{ov_says}; {fp32_reason}" if ov else ov_missing)
    add(
        "openvino",
        "int8",
        ov and "INT8" in (ov_caps or []),
        int8_fast or "avx2" in flags,
        (
            f"{ov_says}; {int8_reason}"
            + (
                "; OpenVINO's own AVX2 u8 kernels measured ~2× over FP32 on CNNs"
                if "avx2" in flags and not int8_fast
                else ""
            )
        )
        if ov
        else ov_missing,
    )
    ov_fp16 = ov and "FP16" in (ov_caps or [])
    add(
        "openvino",
        "fp16",
        ov_fp16,
        fp16_fast,
        (
            f"{ov_says}: FP16 inference precision on this CPU ({fp16_reason})"
            if ov_fp16
            else f"OpenVINO FP16 not native on this CPU ({ov_says}); FP16 IRs run upcast to FP32"
        )
        if ov
        else ov_missing,
    )
    ov_bf16 = ov and "BF16" in (ov_caps or [])
    add(
        "openvino",
        "bf16",
        ov_bf16,
        ov_bf16_fast,
        (
            f"{ov_says} ({ov_bf16_reason})"
            if ov_bf16
            else f"no BF16 in OpenVINO's CPU plugin ({ov_says})"
        )
        if ov
        else ov_missing,
    )
    tflite = has["tflite"] or has["tensorflow"]
    add(
        "tflite",
        "fp32",
        tflite,
        fp32_fast,
        "XNNPACK FP32 delegate" if tflite else missing("tflite (ai-edge-litert)"),
    )
    add(
        "tflite",
        "int8",
        tflite,
        int8_fast,
        f"XNNPACK INT8; {int8_reason}" if tflite else missing("tflite (ai-edge-litert)"),
    )
    gpu = host.gpu is not None
    trt_reason = (
        "TensorRT on the NVIDIA GPU"
        if has["tensorrt"] and gpu
        else missing("tensorrt")
        if gpu
        else "no NVIDIA GPU on this host"
        if has["tensorrt"]
        else "tensorrt is not installed and no NVIDIA GPU is present"
    )
    for precision in ("fp32", "fp16", "int8"):
        add("tensorrt", precision, has["tensorrt"] and gpu, True, trt_reason)
    return rows
