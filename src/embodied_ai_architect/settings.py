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
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Worker processes for jobs."
    )
    num_threads: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 2),
        ge=1,
        description="Intra-op threads used for latency measurements (recorded with every figure).",
    )
    seed: int = Field(default=0, description="Global seed for plans, calibration and search.")
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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.workspace / 'branes.db'}"

    def ensure_workspace(self) -> Path:
        self.workspace.mkdir(parents=True, exist_ok=True)
        return self.workspace


def get_settings() -> Settings:
    """Build settings from the current environment (no caching: no global state)."""
    return Settings()
