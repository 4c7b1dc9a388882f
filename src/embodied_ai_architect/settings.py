"""Runtime settings, read from ``EAA_*`` environment variables (pydantic-settings).

Nothing in the code base hard-codes a path: everything derives from ``workspace``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_workspace() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "branes"


class Settings(BaseSettings):
    """Platform settings. Every field can be set as ``EAA_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="EAA_", extra="ignore")

    workspace: Path = Field(
        default_factory=_default_workspace,
        description="Directory holding artifacts, reports, the SQLite database and caches.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file inside the workspace.",
    )
    api_token: str | None = Field(
        default=None, description="Token required by mutating API endpoints (Bearer)."
    )
    public_reads: bool = Field(
        default=True, description="Whether read-only API endpoints may be called without a token."
    )
    max_model_bytes: int = Field(
        default=8 * 1024**3,
        gt=0,
        description="Largest model file accepted (bytes); larger files are refused up front.",
    )
    max_data_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="Largest evaluation / calibration data upload (bytes), also the limit on "
        "its arrays' size in memory.",
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Worker processes for jobs."
    )
    num_threads: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 2),
        ge=1,
        description="Intra-op threads used for latency measurements (recorded with every figure).",
    )
    seed: int = Field(default=0, description="Global seed for plans, calibration and search.")
    search_workers: int = Field(
        default=1,
        ge=1,
        description="Processes (or Ray tasks) that apply and fidelity-check a search step's "
        "candidates in parallel; 1 = one after another. Latency timing stays serialized.",
    )
    backup_dir: Path | None = Field(default=None, description="Local directory for DB backups.")
    backup_s3_bucket: str | None = Field(default=None, description="S3 bucket for DB backups.")
    backup_s3_endpoint: str | None = Field(default=None, description="S3-compatible endpoint URL.")
    backup_retention: int = Field(default=7, ge=1, description="How many backups to keep.")
    backup_s3_prefix: str = Field(
        default="branes-backups/", description="Key prefix for backups in the S3 bucket."
    )
    backup_zstd_level: int = Field(
        default=19, ge=1, le=22, description="zstd level for backups (high: they are small)."
    )
    artifact_s3_bucket: str | None = Field(
        default=None,
        description="S3 bucket holding every artifact by content hash (the workspace becomes a "
        "cache): lets Ray workers on other nodes work without a shared filesystem.",
    )
    artifact_s3_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint URL for artifacts (MinIO, Ceph, ...)."
    )
    artifact_s3_prefix: str = Field(
        default="branes-artifacts/", description="Key prefix of artifacts in their bucket."
    )
    pg_bin_dir: Path | None = Field(
        default=None,
        description="Directory of pg_dump / psql for PostgreSQL backups (default: the newest "
        "/usr/lib/postgresql/*/bin, else PATH); at least the server's major version.",
    )
    job_memory_mb: int | None = Field(
        default=None,
        ge=64,
        description="Address-space limit per job worker process (MiB); None = unlimited.",
    )
    job_cpu_seconds: int | None = Field(
        default=None, ge=1, description="CPU-time limit per job worker process; None = unlimited."
    )
    job_timeout_s: float | None = Field(
        default=None, gt=0, description="Wall-clock limit per job; the worker is killed after it."
    )
    job_cpus: str | None = Field(
        default=None,
        pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$",
        description="CPUs local job worker processes may run on, e.g. '1' or '2-7,9' (Linux "
        "CPU list); None = all. Leaves the rest to the API on a small host.",
    )
    job_max_input_mb: int = Field(
        default=1024,
        ge=1,
        description="Largest total size of one job's input tensors (MiB, FP32) accepted at submit; "
        "jobs whose estimate also exceeds EAA_JOB_MEMORY_MB are refused before queueing.",
    )
    max_json_bytes: int = Field(
        default=1024**2,
        ge=1024,
        description="Largest JSON request body (bytes); larger ones get 413 before being parsed.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time a client has to send a request's headers before the connection closes.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest pause between two chunks of a request body before it is cut (408).",
    )
    keep_alive_timeout_s: int = Field(
        default=5, ge=1, description="Idle keep-alive connections are closed after this."
    )
    max_connections_per_client: int = Field(
        default=64,
        ge=1,
        description="Open connections one client address may hold; more get 429 + Retry-After.",
    )
    max_connections: int = Field(
        default=1024,
        ge=1,
        description="Open connections in total; more get 503 + Retry-After.",
    )
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where jobs run: 'local' spawned processes, or 'ray' tasks on a Ray cluster.",
    )
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster to join: 'auto', 'host:6379' or 'ray://host:10001' "
        "(None starts a local Ray instance).",
    )
    ray_cpus_per_job: float = Field(default=1.0, gt=0, description="CPUs one Ray job requests.")
    ray_worker_workspace: Path | None = Field(
        default=None,
        description="Workspace path on Ray worker nodes. Default: the server's (a shared mount "
        "at the same path everywhere). With EAA_ARTIFACT_S3_BUCKET it may be node-local: "
        "artifacts then come and go through the bucket.",
    )
    ray_max_retries: int = Field(
        default=1,
        ge=0,
        le=5,
        description="Retries of an analyze/deploy job whose Ray worker was lost; optimize jobs "
        "commit versions as they go and are never retried (they fail with the reason).",
    )

    @field_validator("workspace")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("api_token")
    @classmethod
    def _token_not_blank(cls, value: str | None) -> str | None:
        # An empty token would pass "is a token configured?" and match an empty ?token=.
        if value is not None and not value.strip():
            raise ValueError("EAA_API_TOKEN is set but empty; unset it or set a real token")
        return value

    @property
    def job_cpu_set(self) -> frozenset[int] | None:
        """EAA_JOB_CPUS as CPU numbers ('2-4,7' -> {2, 3, 4, 7}); None when unset."""
        if self.job_cpus is None:
            return None
        cpus: set[int] = set()
        for part in self.job_cpus.split(","):
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
        return frozenset(cpus)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.workspace / 'branes.db'}"

    def ensure_workspace(self) -> Path:
        self.workspace.mkdir(parents=True, exist_ok=True)
        return self.workspace


def get_settings() -> Settings:
    """Build settings from the current environment (no caching: no global state).

    Raises ConfigError naming the EAA_* variable when one is invalid.
    """
    from pydantic import ValidationError

    from embodied_ai_architect.errors import ConfigError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "EAA_" + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(
            f"invalid setting {name}: {first['msg']}",
            hint=f"fix or unset {name} in the environment",
        ) from None
