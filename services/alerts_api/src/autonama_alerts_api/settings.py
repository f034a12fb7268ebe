"""Settings of the alerts API (environment prefix ``AUTONAMA_ALERTS_API_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from autonama_shared.settings import AppSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_ALERTS_API_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    read_role: str = Field(
        default="autonama_reader", description="The database role the API reads through."
    )
    dashboard_port: int | None = Field(
        default=3001,
        ge=0,
        le=65535,
        description="Second port on which the same app serves the dashboard (/alerts); 0: none.",
    )
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_queue_size: int = Field(
        default=256, ge=1, description="Alerts buffered per stream client before it is dropped."
    )
    sse_poll_seconds: float = Field(
        default=5.0, gt=0, description="Fallback check for new alerts if a NOTIFY was missed."
    )
