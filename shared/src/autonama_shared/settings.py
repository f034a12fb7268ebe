"""Settings shared by the apps: where the broker and the database are.

Each app has its own settings class, a subclass of ``AppSettings`` with its
own ``env_prefix``, nesting these models with ``__``: for the fetcher,
``AUTONAMA_FETCHER_KAFKA__BOOTSTRAP_SERVERS`` sets ``settings.kafka.bootstrap_servers``.
What all apps share may be set once without the app's name,
``AUTONAMA_KAFKA__BOOTSTRAP_SERVERS``; the app's own prefix wins where both are set.
Settings objects are built in ``main()`` (or the API lifespan) and passed down,
never created at import.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from autonama_shared.engine.intervals import INTERVALS
from autonama_shared.errors import ConfigError

__all__ = [
    "COMMITTED_PASSWORDS",
    "AllowedNetworks",
    "AppSettings",
    "Environment",
    "KafkaSettings",
    "PostgresSettings",
    "RetentionSettings",
    "load_settings",
    "refuse_unsafe_defaults",
]

Environment = Literal["development", "test", "production"]

#: Every password that was ever written in this repository (defaults of the compose file
#: and of the scripts, examples), refused in production: anyone can read them.
#: tests/unit/test_settings.py fails when a password is committed that is not here.
COMMITTED_PASSWORDS = frozenset(
    {
        "",
        "changethis",
        "autonama",
        "autonama-writer",
        "autonama-api",
        "autonama-notifier",
        "postgres",
        "password",
        "secret",
        "admin",
        "kafka",
    }
)


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?$"
)


def _networks(text: str) -> str:
    """A comma list of CIDRs, addresses and host names; ``ValueError`` naming a bad entry.

    >>> _networks("127.0.0.1/32, receiver.lan ,fd00::/8")
    '127.0.0.1/32,receiver.lan,fd00::/8'
    >>> _networks("10.0.0.0/33")
    Traceback (most recent call last):
    ...
    ValueError: '10.0.0.0/33' is neither a network (CIDR), an address nor a host name
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            if "/" in item or not _HOST_NAME.match(item):
                raise ValueError(
                    f"{item!r} is neither a network (CIDR), an address nor a host name"
                ) from None
    return ",".join(items)


#: Where the notifier may connect beyond public addresses (``notify/network.py``).
AllowedNetworks = Annotated[
    str,
    AfterValidator(_networks),
    Field(
        max_length=10_000,
        description="Comma list of CIDRs and host names the notifier may reach although "
        "they are loopback, private or link-local (empty: public addresses only).",
    ),
]


class KafkaSettings(BaseModel):
    """How to reach the Kafka cluster, and the names of the topics. With
    ``security_protocol`` SASL_PLAINTEXT or SASL_SSL every client of every service
    authenticates with ``sasl_mechanism`` (SCRAM-SHA-256 by default) as ``sasl_username``;
    the password is a secret, never logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of brokers."
    )
    client_id: str = Field(default="autonama", description="Client id reported to the broker.")
    topic_prefix: str = Field(
        default="autonama.",
        description="Prefix of every topic name (lets several stacks or tests share a broker).",
    )
    partitions: int = Field(
        default=6,
        ge=6,
        description="Partitions of the klines and signals topics: the most analyzer replicas "
        "that can share the work.",
    )
    max_message_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024 * 1024, description="Largest event (a long window)."
    )
    replication_factor: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Replicas of every partition of the topics the services create: 3 on "
        "a cluster of three brokers (`make up KAFKA_BROKERS=3`), 1 on one broker.",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="Replicas that must hold a write before it is acknowledged (producers "
        "send with acks=all): by default one less than replication_factor, at least 1, so "
        "that one broker down stops nothing and no write rests on one broker alone.",
    )
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        default="PLAINTEXT",
        description="PLAINTEXT only on loopback or a private network; SASL_SSL in production.",
    )
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-256"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: str | None = Field(
        default=None, description="CA bundle that signs the brokers' certificates (SSL)."
    )

    @model_validator(mode="after")
    def _sasl_has_a_user(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            raise ValueError(f"{self.security_protocol} needs kafka.sasl_username and password")
        if (self.min_insync_replicas or 1) > self.replication_factor:
            raise ValueError(
                f"kafka.min_insync_replicas ({self.min_insync_replicas}) is more than "
                f"kafka.replication_factor ({self.replication_factor}): no write could succeed"
            )
        return self

    @property
    def min_insync(self) -> int:
        """``min_insync_replicas``, or its default.

        >>> KafkaSettings().min_insync, KafkaSettings(replication_factor=3).min_insync
        (1, 2)
        """
        return self.min_insync_replicas or max(1, self.replication_factor - 1)

    def client_options(self) -> dict[str, Any]:
        """The security options of every aiokafka client (producer, consumer, admin).

        >>> KafkaSettings().client_options()
        {'security_protocol': 'PLAINTEXT'}
        >>> sorted(KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="u",
        ...        sasl_password="p").client_options())
        ['sasl_mechanism', 'sasl_plain_password', 'sasl_plain_username', 'security_protocol']
        """
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.endswith("SSL"):
            import ssl

            options["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        return options

    def topic(self, name: str) -> str:
        """The full name of topic ``name`` under this prefix.

        >>> KafkaSettings(topic_prefix="t1.").topic("signals")
        't1.signals'
        """
        return f"{self.topic_prefix}{name}"


class PostgresSettings(BaseModel):
    """How to reach PostgreSQL. The password is a secret: never printed or logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=5433, ge=1, le=65535)
    database: str = "autonama"
    user: str = "autonama"
    password: SecretStr = SecretStr("")
    db_schema: str = Field(
        default="public",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema that holds Autonama's tables (tests use one schema each).",
    )
    min_pool_size: int = Field(default=1, ge=0)
    max_pool_size: int = Field(default=10, ge=1)
    migrate: bool = Field(
        default=True,
        description="Apply the migrations at start-up (the owner's login). False: wait "
        "until the owner has (`autonama migrate`), as a writer's or reader's login must.",
    )

    @model_validator(mode="after")
    def _pool_sizes(self) -> PostgresSettings:
        if self.min_pool_size > self.max_pool_size:
            raise ValueError("min_pool_size must not exceed max_pool_size")
        return self

    def dsn(self) -> str:
        """The connection URL *without* the password (safe to log); pass the password apart."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def refuse_unsafe_defaults(
    environment: Environment, postgres: PostgresSettings, kafka: KafkaSettings | None = None
) -> None:
    """Stop a production app that runs with a password anyone can read in this repository
    (``COMMITTED_PASSWORDS``), naming the setting.

    >>> refuse_unsafe_defaults("development", PostgresSettings())
    >>> refuse_unsafe_defaults("production", PostgresSettings(password="autonama-writer"))
    Traceback (most recent call last):
    ...
    autonama_shared.errors.ConfigError: AUTONAMA_POSTGRES__PASSWORD is empty or a password ...
    """
    if environment != "production":
        return
    if postgres.password.get_secret_value() in COMMITTED_PASSWORDS:
        raise ConfigError(
            "AUTONAMA_POSTGRES__PASSWORD is empty or a password committed in Autonama's "
            "repository (anyone can read it); set a password of your own in production"
        )
    if (
        kafka is not None
        and kafka.security_protocol.startswith("SASL")
        and kafka.sasl_password.get_secret_value() in COMMITTED_PASSWORDS
    ):
        raise ConfigError(
            "AUTONAMA_KAFKA__SASL_PASSWORD is empty or a password committed in Autonama's "
            "repository; set a password of your own in production"
        )


#: How long each interval's signals and windows are kept by default, in days (an interval
#: not named is kept forever: 1d and longer).
DEFAULT_SIGNAL_DAYS: dict[str, int | None] = {
    **dict.fromkeys(("1m", "3m", "5m"), 30),
    **dict.fromkeys(("15m", "30m"), 90),
    **dict.fromkeys(("1h", "2h", "4h", "6h", "8h", "12h"), 365),
}


class RetentionSettings(BaseModel):
    """What is kept, and how often the retention job runs (``AUTONAMA_RETENTION__...``).
    Alerts, the current state, scans and subscriptions are never pruned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signals_days: dict[str, Annotated[int, Field(ge=1, le=100_000)] | None] = Field(
        default_factory=lambda: dict(DEFAULT_SIGNAL_DAYS),
        description="Days of signals and windows kept per interval (JSON); an interval not "
        "named, or null, is kept forever. Whole partitions are dropped: up to one "
        "partition's span (a day for 1m to 30m, a month for 1h to 12h) more is kept.",
    )
    deliveries_days: int = Field(
        default=30, ge=1, le=100_000, description="Days finished deliveries are kept."
    )
    every_minutes: float = Field(default=60, gt=0, le=24 * 60)

    @field_validator("signals_days")
    @classmethod
    def _intervals(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        unknown = sorted(set(value) - set(INTERVALS))
        if unknown:
            raise ValueError(
                f"unknown interval(s) {', '.join(unknown)}; one of {', '.join(INTERVALS)}"
            )
        return value

    def days_of(self, interval: str) -> int | None:
        """The days ``interval``'s signals are kept; None: forever."""
        return self.signals_days.get(interval)


S = TypeVar("S", bound="AppSettings")


class AppSettings(BaseSettings):
    """What every app has: its environment, log level, broker and database.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="AUTONAMA_<APP>_", ...)``.
    """

    model_config = SettingsConfigDict(
        env_prefix="AUTONAMA_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    environment: Environment = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    retention: RetentionSettings = RetentionSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The app's own prefix first, then the common AUTONAMA_ prefix.
        common = EnvSettingsSource(settings_cls, env_prefix="AUTONAMA_", env_nested_delimiter="__")
        return init_settings, env_settings, common, dotenv_settings, file_secret_settings


def load_settings(cls: type[S]) -> S:
    """Build ``cls`` from the environment; a bad value is a ``ConfigError`` naming it."""
    try:
        settings = cls()
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"invalid settings for {cls.__name__}: {problems}") from e
    refuse_unsafe_defaults(settings.environment, settings.postgres, settings.kafka)
    return settings
