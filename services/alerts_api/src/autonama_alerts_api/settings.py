"""Settings of the alerts API (environment prefix ``AUTONAMA_ALERTS_API_``)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from autonama_shared.settings import AllowedNetworks, AppSettings

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
    subscriptions_role: str = Field(
        default="autonama_subscriptions",
        description="The database role through which the API manages subscriptions.",
    )
    dashboard_port: int | None = Field(
        default=3001,
        ge=0,
        le=65535,
        description="Second port on which the same app serves the dashboard (/alerts); 0: none.",
    )
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_queue_size: int = Field(
        default=1_024,
        ge=1,
        description="Alerts buffered per stream client before it is dropped (more than the "
        "500 alerts the stream reads at a time: a burst of the live market never drops a "
        "client that keeps up).",
    )
    sse_poll_seconds: float = Field(
        default=5.0, gt=0, description="Fallback check for new alerts if a NOTIFY was missed."
    )
    auth: Literal["write", "all", "off"] = Field(
        default="write",
        description="write: what writes or starts work needs a write token, reads are open; "
        "all: reads need a read token too; off: no tokens (only on a loopback address).",
    )
    max_scan_candles: int = Field(
        default=20_000_000,
        ge=1,
        description="Budget of one scan request: symbols x candles in the window.",
    )
    max_backtest_work: int = Field(
        default=50_000_000,
        ge=1,
        description="Budget of one backtest request: symbols x combinations x bars of history.",
    )
    writes_per_minute: int = Field(
        default=30, ge=1, description="Scan and backtest requests one token may make a minute."
    )
    access_log: bool = Field(
        default=False,
        description="A log line per request (uvicorn's access log); /metrics counts requests "
        "either way. Off by default: measured, it costs a quarter of the requests a second.",
    )
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Server processes sharing the ports, each with its own pool and LISTEN; "
        "0: one per core (a second process doubles what /v1/alerts serves here, bench/api.py).",
    )
    allowed_networks: AllowedNetworks = Field(
        default="",
        validation_alias=AliasChoices("allowed_networks", "AUTONAMA_NOTIFIER_ALLOWED_NETWORKS"),
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the API answers to (the Host header; JSON list, '*.x.org' "
        "for subdomains). Empty: the address it listens on, and localhost when that is a "
        "loopback address; a page that rebinds its own name to this address is refused.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Addresses of the reverse proxies whose X-Forwarded-For / -Proto are "
        "believed (comma list, as uvicorn's forwarded_allow_ips); empty: none, the client "
        "is the peer of the connection.",
    )
    sse_max_clients: int = Field(
        default=2_000, ge=1, description="Open streams per API process, in all."
    )
    sse_max_per_address: int = Field(
        default=20, ge=1, description="Open streams per API process from one client address."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (none by default).",
    )

    def hosts(self) -> list[str]:
        """The Host allow-list in force (``allowed_hosts``, or the bound address's names).

        >>> Settings(host="127.0.0.1").hosts()
        ['127.0.0.1', 'localhost', '::1', '[::1]']
        >>> Settings(host="10.0.0.5").hosts()
        ['10.0.0.5']
        """
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        if _loopback(self.host):
            return list(dict.fromkeys([self.host, "127.0.0.1", "localhost", "::1", "[::1]"]))
        if self.host in ("0.0.0.0", "::"):  # noqa: S104 (every address: name them to narrow)
            return ["*"]
        return [self.host]

    @model_validator(mode="after")
    def _no_open_api_off_loopback(self) -> Settings:
        if self.auth == "off" and not _loopback(self.host):
            raise ValueError(
                f"auth 'off' is refused on {self.host}: anyone who reaches it could start "
                "work; bind to 127.0.0.1 or set AUTONAMA_ALERTS_API_AUTH=write"
            )
        return self


def _loopback(host: str) -> bool:
    """
    >>> _loopback("127.0.0.1"), _loopback("::1"), _loopback("localhost"), _loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
