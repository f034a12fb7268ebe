from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from autonama_shared.errors import ConfigError
from autonama_shared.settings import AppSettings, load_settings

REPO = Path(__file__).resolve().parents[2]


class DemoSettings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_DEMO_", env_nested_delimiter="__", extra="ignore", frozen=True
    )


def script_default(script: str, variable: str) -> str:
    """The default a deploy/local script gives ``variable`` (``X="${X:-default}"``)."""
    text = (REPO / "deploy" / "local" / script).read_text()
    match = re.search(rf'^{variable}="\$\{{{variable}:-([^}}]*)\}}"', text, re.MULTILINE)
    assert match, f"{variable} has no default in {script}"
    return match.group(1)


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of the box, the apps find what deploy/local starts."""
    for name in ("AUTONAMA_KAFKA__BOOTSTRAP_SERVERS", "AUTONAMA_POSTGRES__PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(DemoSettings)
    kafka = f"{script_default('kafka.sh', 'KAFKA_HOST')}:{script_default('kafka.sh', 'KAFKA_PORT')}"
    assert settings.kafka.bootstrap_servers == kafka
    assert settings.postgres.port == int(script_default("postgres.sh", "PG_PORT"))
    assert settings.postgres.database == script_default("postgres.sh", "PG_DB")
    assert settings.postgres.user == script_default("postgres.sh", "PG_USER")


def test_common_prefix_applies_and_app_prefix_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTONAMA_KAFKA__BOOTSTRAP_SERVERS", "common:9092")
    monkeypatch.setenv("AUTONAMA_POSTGRES__HOST", "db.common")
    monkeypatch.setenv("AUTONAMA_DEMO_POSTGRES__HOST", "db.demo")
    settings = load_settings(DemoSettings)
    assert settings.kafka.bootstrap_servers == "common:9092"
    assert settings.postgres.host == "db.demo"


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTONAMA_DEMO_POSTGRES__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"postgres\.port"):
        load_settings(DemoSettings)


def test_production_refuses_the_development_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTONAMA_ENVIRONMENT", "production")
    monkeypatch.setenv("AUTONAMA_POSTGRES__PASSWORD", "autonama")
    with pytest.raises(ConfigError, match="development default"):
        load_settings(DemoSettings)
    monkeypatch.setenv("AUTONAMA_POSTGRES__PASSWORD", "a-real-secret")
    assert load_settings(DemoSettings).environment == "production"


def test_password_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTONAMA_POSTGRES__PASSWORD", "hunter2-secret")
    settings = load_settings(DemoSettings)
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in settings.postgres.dsn()
