"""Binance's client settings, apart from the client: a service reads them at start-up
without loading python-binance (the analyzer never talks to Binance over REST in a scan)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["BinanceSettings"]


class BinanceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        default="https://api.binance.com",
        description="REST base URL (no /api suffix): a testnet, a mirror or a local stand-in.",
    )
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    max_concurrency: int = Field(default=8, ge=1, le=64)
    max_weight_per_minute: int = Field(
        default=5000, ge=10, le=6000, description="Budget under Binance's 6000/min IP limit."
    )
    request_timeout: float = Field(default=15.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=30.0, ge=0)
    max_retry_after: float = Field(
        default=3600.0,
        gt=0,
        description="The longest wait a 429 or 418 answer's Retry-After is followed for: an "
        "answer asking for more (a ban of days, or a garbled header) waits this long, then "
        "asks again, instead of stalling every request for as long as it says.",
    )
