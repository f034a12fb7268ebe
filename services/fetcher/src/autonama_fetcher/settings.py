"""Settings of the fetcher service (environment prefix ``AUTONAMA_FETCHER_``)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from autonama_shared.messaging.events import ScanParams
from autonama_shared.settings import AppSettings
from autonama_shared.sources.binance_settings import BinanceSettings
from autonama_shared.sources.watches import WatchSettings

__all__ = ["Schedule", "Settings"]


class Schedule(BaseModel):
    """A scan started by the fetcher itself a few seconds after every close of ``params.interval``.

    ``AUTONAMA_FETCHER_SCHEDULES='[{"name": "core-4h", "params": {"interval": "4h",
    "days": 720, "degree": 4, "kstd": 2.0}}, {"name": "top100-1d", "top": 100,
    "params": {"interval": "1d", "days": 720, "degree": 4, "kstd": 2.0}}]'``
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    params: ScanParams
    symbols: list[str] | None = None
    top: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_universe(self) -> Schedule:
        if self.symbols is not None and self.top is not None:
            raise ValueError("a schedule takes symbols or top, not both")
        return self


class Settings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_FETCHER_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    group_id: str = "autonama-fetcher"
    replica: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    source: Literal["binance"] = "binance"
    binance: BinanceSettings = BinanceSettings()
    cache_dir: Path = Path("cache")
    concurrency: int = Field(default=8, ge=1, le=64)
    schedules: list[Schedule] = Field(default_factory=list)
    live: bool = Field(
        default=True,
        description="Follow the live market: the default watch if enabled, and stored ones.",
    )
    watch: WatchSettings = Field(
        default_factory=WatchSettings,
        description="The live market (AUTONAMA_WATCH__ENABLED=true, __SYMBOLS, __INTERVALS...)",
    )
    outcome_bars_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often the bars that open alert outcomes lack (keys not followed "
        "live) are caught up from the candle cache and Binance; 0: never.",
    )
    outcome_bars_symbols: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Symbols caught up a round at most (one klines request each, at most).",
    )
    schedule_delay_seconds: float = Field(
        default=5.0, ge=0, description="Seconds after a candle close before the scan starts."
    )
