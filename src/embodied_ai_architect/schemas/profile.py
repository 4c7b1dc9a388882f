"""ModelProfile: everything the Analysis agent learns about a model."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from embodied_ai_architect.schemas.tensors import TensorSpec


class ArchitectureFamily(StrEnum):
    CNN_CLASSIFIER = "cnn_classifier"
    DETECTOR = "detector"
    VIT = "vit"
    TRANSFORMER_ENCODER = "transformer_encoder"
    DECODER_LLM = "decoder_llm"
    VLA = "vla"
    SEGMENTATION = "segmentation"  # dense per-pixel maps: segmentation, text detection (DBNet)
    SEQUENCE_RECOGNIZER = "sequence_recognizer"  # per-position class distributions (CTC OCR)
    MLP_POLICY = "mlp_policy"
    TRANSFORMER_POLICY = "transformer_policy"
    OTHER = "other"


class HeadKind(StrEnum):
    """What the model's outputs mean: decides how fidelity to the original is measured."""

    DETECTOR = "detector"  # boxes + class scores (one YOLO-style tensor, or separate outputs)
    DENSE_MAP = "dense_map"  # (N, K, H, W) at the input's spatial size: masks, text maps
    CLASS_SCORES = "class_scores"  # (N, C) logits / probabilities
    SEQUENCE = "sequence"  # (N, T, V): a distribution over V symbols at each of T positions
    EMBEDDING = "embedding"  # (N, D) or (N, T, D) feature vectors
    ACTION = "action"  # (N, A) continuous actions of a control policy
    OTHER = "other"


class OutputHead(BaseModel):
    """How to read the outputs, with the shape facts that decided it."""

    kind: HeadKind
    layout: str = Field(
        default="",
        description="boxes_first (N, 4+C, A), anchors_first_objectness (N, A, 5+C), "
        "split (boxes and scores apart), multilevel (per-level scores + box distributions), "
        "map, vector, tokens.",
    )
    output: int = Field(default=0, ge=0, description="Index of the output it reads.")
    scores_output: int | None = Field(
        default=None, description="Split detectors: index of the class-score output."
    )
    classes: int | None = Field(default=None, description="Classes / channels / dimension.")
    levels: list[list[int]] = Field(
        default_factory=list,
        description="Multi-level detectors (PicoDet / GFL style): [score output, box output, "
        "stride] per level; box outputs hold 4 × bins distance distributions (0: stride unknown).",
    )
    image_size: list[int] | None = Field(
        default=None, description="Input height and width the anchors are laid on."
    )
    evidence: str = ""


class FamilyDetection(BaseModel):
    family: ArchitectureFamily
    confidence: float = Field(ge=0, le=1)
    evidence: list[str] = Field(description="Structural facts that decided the family.")
    components: dict[str, str] = Field(
        default_factory=dict,
        description="Named sub-modules found, e.g. vision_tower → module path (VLA parts).",
    )
    head: OutputHead | None = Field(
        default=None, description="What the outputs mean (task-aware fidelity reads it)."
    )


class DtypeBytes(BaseModel):
    dtype: str
    parameters: int = Field(ge=0)
    bytes: int = Field(ge=0)


class LayerInfo(BaseModel):
    name: str
    op_type: str = Field(description="Module class (torch) or op type (ONNX).")
    parameters: int = Field(ge=0)
    macs: int | None = Field(default=None, ge=0)
    output_shape: list[int] | None = None


class OpCount(BaseModel):
    op_type: str
    count: int = Field(ge=0)
    parameters: int = Field(ge=0)
    parameter_share: float = Field(ge=0, le=1, description="Fraction of all parameters.")


class LatencyStats(BaseModel):
    runtime: str = Field(description="onnxruntime, torch, openvino, ...")
    p50_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)
    mean_ms: float = Field(ge=0)
    runs: int = Field(ge=1)
    warmup: int = Field(ge=0)
    threads: int = Field(ge=1)
    batch_size: int = Field(default=1, ge=1)
    peak_memory_mb: float | None = Field(default=None, ge=0)


class LayerSensitivity(BaseModel):
    layer: str
    op_type: str
    metric: str = Field(description="How the damage was measured, e.g. 'relative L2 error'.")
    score: float = Field(description="Output error when only this layer is quantized to INT8.")


class HostInfo(BaseModel):
    cpu_model: str
    architecture: str
    cores_physical: int | None = None
    cores_logical: int
    cpu_flags: list[str] = Field(
        description="Relevant SIMD flags found (avx2, avx512f, vnni, ...)."
    )
    memory_gb: float
    gpu: str | None = None
    gpu_memory_gb: float | None = None
    runtimes: dict[str, str] = Field(
        description="Installed runtimes and their versions (torch, onnxruntime, openvino, ...)."
    )
    os: str
    python: str


class Capability(BaseModel):
    runtime: str
    precision: str
    available: bool
    fast: bool = Field(description="Whether hardware acceleration exists for it on this host.")
    reason: str


class Opportunity(BaseModel):
    technique: str = Field(description="Registered technique name the opportunity points at.")
    title: str
    rationale: str = Field(description="The numbers behind the suggestion.")
    expected_gain: str
    score: float = Field(ge=0, description="Higher is more promising; used to rank.")


class ModelProfile(BaseModel):
    """The Analysis agent's output, stored with every model version."""

    schema_version: int = 1
    model_name: str
    source_format: str
    framework: str
    file_bytes: int = Field(ge=0)
    sha256: str | None = None
    parameters: int = Field(ge=0)
    parameter_bytes: int = Field(ge=0)
    by_dtype: list[DtypeBytes]
    macs: int | None = Field(default=None, ge=0, description="Multiply-accumulates for batch 1.")
    foldable_batchnorms: int | None = Field(
        default=None,
        ge=0,
        description="BatchNorm layers that directly consume a Conv output (foldable into it); "
        "None: not counted (profiles written before the field existed).",
    )
    flops: int | None = Field(default=None, ge=0)
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    op_census: list[OpCount]
    layers: list[LayerInfo] = Field(description="Largest layers by parameters (top N).")
    family: FamilyDetection
    latency: list[LatencyStats] = Field(default_factory=list)
    peak_memory_mb: float | None = None
    sensitivity: list[LayerSensitivity] = Field(default_factory=list)
    host: HostInfo
    capabilities: list[Capability] = Field(default_factory=list)
    opportunities: list[Opportunity] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    analysis_seconds: float = Field(default=0, ge=0)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
