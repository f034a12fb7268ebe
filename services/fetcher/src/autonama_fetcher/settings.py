"""Settings of the fetcher service (environment prefix `AUTONAMA_FETCHER_`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from autonama_shared.settings import AppSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_FETCHER_", env_nested_delimiter="__", extra="ignore", frozen=True
    )
