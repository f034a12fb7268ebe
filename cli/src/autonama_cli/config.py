"""Settings of the offline commands: command-line flags > environment > config file > defaults.

The config file (``--config``) is JSON or TOML with the same keys as the flags
(``interval``, ``degree``, ``kstd``, ``days``, ``symbols``, ``top``, ``output``,
``cache_dir``, ``binance.base_url``, ...). Environment variables use the prefix
``AUTONAMA_`` and ``__`` for nesting (``AUTONAMA_BINANCE__BASE_URL``); Binance's
key and secret may also come from ``BINANCE_API_KEY`` / ``BINANCE_API_SECRET``.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from autonama_shared.engine.specs import PriceScale
from autonama_shared.errors import ConfigError
from autonama_shared.sources.binance_settings import BinanceSettings

__all__ = ["ScanConfig", "load_config"]


class ScanConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    interval: str = "1d"
    degree: int = 4
    kstd: float = 2.0
    days: int = 720
    price_scale: PriceScale = "linear"
    symbols: list[str] | None = None
    top: int | None = None
    source: Literal["binance", "files"] = "binance"
    data: Path | None = Field(default=None, description="Candle file or folder (--source files).")
    data_symbol: str | None = Field(default=None, description="Symbol of a freely named file.")
    output: Path = Path("results")
    cache_dir: Path = Path("cache")
    refresh: bool = False
    charts: Path | None = None
    log_file: Path = Path("local_backtest_engine.log")
    concurrency: int = Field(default=8, ge=1, le=64)
    binance: BinanceSettings = BinanceSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive through init_settings, merged beneath the flags by load_config.
        return init_settings, env_settings


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid {path.suffix.lstrip('.')}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table / object of settings")
    return data


def _env_overrides(file_values: dict[str, Any]) -> dict[str, Any]:
    """Drop file values that an environment variable sets (the environment wins)."""
    out = dict(file_values)
    for key in list(out):
        if f"AUTONAMA_{key}".upper() in (k.upper() for k in os.environ):
            del out[key]
    return out


def load_config(config_file: Path | None, flags: dict[str, Any]) -> ScanConfig:
    """Flags (only those given) over environment over the config file over defaults."""
    file_values = _env_overrides(_read_file(config_file)) if config_file else {}
    merged = {**file_values, **{k: v for k, v in flags.items() if v is not None}}
    binance = dict(merged.get("binance") or {})
    for field, env in (("api_key", "BINANCE_API_KEY"), ("api_secret", "BINANCE_API_SECRET")):
        if env in os.environ and field not in binance:
            binance[field] = SecretStr(os.environ[env])
    if binance:
        merged["binance"] = binance
    try:
        return ScanConfig(**merged)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in e.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from e
