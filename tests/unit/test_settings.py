from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from autonama_shared.errors import ConfigError
from autonama_shared.settings import AppSettings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]

REPO = Path(__file__).resolve().parents[2]


class DemoSettings(AppSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_DEMO_", env_nested_delimiter="__", extra="ignore", frozen=True
    )


def script_default(script: str, variable: str) -> str:
    """The default a deploy/local script gives ``variable`` (``X="${X:-default}"``)."""
    text = (REPO / "deploy" / "local" / script).read_text()
    match = re.search(rf'^\s*{variable}="\$\{{{variable}:-([^}}]*)\}}"', text, re.MULTILINE)
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
    with pytest.raises(ConfigError, match="a password committed in Autonama's repository"):
        load_settings(DemoSettings)
    monkeypatch.setenv("AUTONAMA_POSTGRES__PASSWORD", "a-real-secret")
    assert load_settings(DemoSettings).environment == "production"


def test_password_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTONAMA_POSTGRES__PASSWORD", "hunter2-secret")
    settings = load_settings(DemoSettings)
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in settings.postgres.dsn()


def password_values(text: str) -> set[str]:
    """The literal values a text gives to password settings: PASSWORD=value,
    PASSWORD: value, password='value' (not ${...}: the operator's own), and the default of
    ${X_PASSWORD:-value}.
    """
    literal = re.compile(
        r"(?<![{\w])[A-Za-z_]*(?:PASSWORD|password)[A-Za-z_]*[\"']?\s*[:=]\s*[\"']?"
        r"([^\s\"'$}{,;)]+)"
    )
    default = re.compile(r"\$\{[A-Z_]*PASSWORD[A-Z_]*:-([^}]*)\}")
    found = set(literal.findall(text)) | set(default.findall(text))
    # a shell expansion ($(...), $VAR) or an escaped quote is not a value written here
    return {v for v in found if not v.startswith(("$", "\\"))}


def committed_password_values() -> set[str]:
    """Every literal value given to a password setting in what a user copies from: the
    compose file, the scripts, the Makefile, the README and the docs."""
    import subprocess

    files = subprocess.run(
        ["git", "ls-files", "docker-compose.yml", "deploy", "Makefile", "README.md", "docs", ".ci"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found: set[str] = set()
    for name in files:
        path = REPO_ROOT / name
        if path.suffix not in (".png", ".jar") and path.is_file():
            found |= password_values(path.read_text(encoding="utf-8", errors="replace"))
    return found


def test_production_refuses_every_password_committed_here_naming_the_setting() -> None:
    from autonama_shared.settings import (
        COMMITTED_PASSWORDS,
        KafkaSettings,
        PostgresSettings,
        refuse_unsafe_defaults,
    )

    assert password_values("POSTGRES_PASSWORD: autonama-writer") == {"autonama-writer"}
    assert password_values('-v writer_password="${W_PASSWORD:-dflt}"') == {"dflt"}
    assert password_values("X_PASSWORD=${X_PASSWORD:-$(new_password)}") == set()
    values = committed_password_values()
    assert values <= COMMITTED_PASSWORDS, (
        f"add to COMMITTED_PASSWORDS: {values - COMMITTED_PASSWORDS}"
    )
    for value in COMMITTED_PASSWORDS:
        with pytest.raises(ConfigError, match="AUTONAMA_POSTGRES__PASSWORD"):
            refuse_unsafe_defaults("production", PostgresSettings(password=value))
        kafka = KafkaSettings(
            security_protocol="SASL_PLAINTEXT", sasl_username="autonama", sasl_password=value
        )
        with pytest.raises(ConfigError, match="AUTONAMA_KAFKA__SASL_PASSWORD"):
            refuse_unsafe_defaults("production", PostgresSettings(password="x9!long-own"), kafka)
    refuse_unsafe_defaults("production", PostgresSettings(password="x9!long-own"))
