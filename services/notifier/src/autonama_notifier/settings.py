"""Settings of the notifier service (environment prefix ``AUTONAMA_NOTIFIER_``)."""

from __future__ import annotations

import os
import socket

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from autonama_shared.settings import AllowedNetworks, AppSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_NOTIFIER_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    group_id: str = "autonama-notifier"
    replica: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    max_batch: int = Field(default=500, ge=1, le=10_000, description="Alerts per poll.")
    poll_ms: int = Field(default=200, ge=10, le=10_000)
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The dashboard's address, for the chart link in each message.",
    )
    concurrency: int = Field(default=200, ge=1, le=2000, description="Deliveries in flight.")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Per attempt.")
    lease_seconds: float = Field(
        default=60.0, gt=0, description="A claimed delivery is another replica's after this."
    )
    retry_base_seconds: float = Field(default=2.0, gt=0, description="First retry's wait.")
    retry_max_delay_seconds: float = Field(default=3600.0, gt=0, description="Longest wait.")
    max_age_seconds: float = Field(
        default=86_400.0, gt=0, description="A delivery not made by then fails for good (24 h)."
    )
    disable_after: int = Field(
        default=50,
        ge=1,
        description="Deliveries failed in a row (each after its retries, or refused) that "
        "disable a subscription.",
    )
    poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="Look for due retries at least this often."
    )
    per_subscription: int = Field(
        default=20,
        ge=1,
        le=2000,
        description="Deliveries of one subscription in flight at once (all replicas): a slow "
        "receiver holds this many slots at most, never every one.",
    )
    apprise_workers: int = Field(
        default=8, ge=1, le=64, description="Apprise worker processes (sends at once)."
    )
    apprise_per_subscription: int = Field(
        default=2, ge=1, le=64, description="Apprise sends of one subscription at once."
    )
    allowed_networks: AllowedNetworks = ""

    @model_validator(mode="after")
    def _lease_covers_an_attempt(self) -> Settings:
        if self.lease_seconds <= 2 * self.timeout_seconds:
            raise ValueError(
                "AUTONAMA_NOTIFIER_LEASE_SECONDS must exceed twice "
                "AUTONAMA_NOTIFIER_TIMEOUT_SECONDS (a claimed delivery may wait for one send of "
                "its subscription, then be sent): else it would be taken over and sent twice"
            )
        return self
