"""Settings of the analyzer service (environment prefix ``AUTONAMA_ANALYZER_``)."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from autonama_shared.settings import AppSettings
from autonama_shared.sources.binance_settings import BinanceSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_ANALYZER_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    group_id: str = "autonama-analyzer"
    replica: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    max_batch: int = Field(default=200, ge=1, le=5000, description="Kline batches per poll.")
    poll_ms: int = Field(default=500, ge=10, le=10_000)
    binance: BinanceSettings = Field(
        # A share of the IP's weight: the fetcher has its own budget beside the analyzers'.
        default_factory=lambda: BinanceSettings(max_weight_per_minute=1000),
        description="Where a live key's window is loaded from when this analyzer lacks it.",
    )
