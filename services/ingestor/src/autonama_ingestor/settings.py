"""Settings of the ingestor service (environment prefix ``AUTONAMA_INGESTOR_``)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from autonama_shared.settings import AppSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_INGESTOR_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    group_id: str = "autonama-ingestor"
    replica: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    max_batch: int = Field(default=2000, ge=1, le=50_000, description="Events per transaction.")
    poll_ms: int = Field(default=500, ge=10, le=10_000)
    watch_files: bool = True
    drop_folder: Path = Path("results")
    poll_seconds: float = Field(default=2.0, gt=0)
    settle_seconds: float = Field(
        default=1.0, ge=0, description="A file must stay unchanged this long before it is read."
    )
    max_file_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    relay_alerts: bool = Field(
        default=True, description="Publish committed alerts to the alerts topic (notifier)."
    )
    relay_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    outcomes_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How often the alerts' outcomes are scored again from the closes stored "
        "since (README: How alerts are scored).",
    )
