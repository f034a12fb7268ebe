"""Settings of the alerts_api service (environment prefix `AUTONAMA_ALERTS_API_`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from autonama_shared.settings import AppSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_ALERTS_API_", env_nested_delimiter="__", extra="ignore", frozen=True
    )
