"""Autonama's exceptions, named for what the caller must do.

    AutonamaError                  root of everything this package raises
    ├── ConfigError                bad settings or arguments: stop at start-up, fix the input
    ├── DataError                  bad market data or a bad file: report it
    │                              for that symbol / file, go on with the rest
    ├── TemporaryError             the outside world is unavailable now: retry with backoff
    ├── FatalError                 the service cannot work at all (a table or privilege is
    │                              missing): stop, never blame the record at hand
    └── MigrationError             the schema cannot be brought up to date: stop at start-up

Third-party errors (asyncpg, aiokafka, aiohttp, ...) are translated into these
at the boundary with ``raise ... from e``, so the core never sees them.
"""

from __future__ import annotations

__all__ = [
    "AutonamaError",
    "ConfigError",
    "DataError",
    "FatalError",
    "MigrationError",
    "TemporaryError",
]


class AutonamaError(Exception):
    """Root of every exception that Autonama raises on purpose."""

    #: True when trying the same thing again later may succeed.
    retriable: bool = False


class ConfigError(AutonamaError):
    """Settings or arguments are invalid: the message names the setting and the allowed values."""


class DataError(AutonamaError):
    """Market data or an input file is unusable: the message names the symbol or file and why."""


class TemporaryError(AutonamaError):
    """A dependency (exchange, broker, database) is unavailable now; retry with backoff."""

    retriable = True


class FatalError(AutonamaError):
    """Nothing can be handled until an operator acts: the worker stops (and is restarted)."""


class MigrationError(AutonamaError):
    """The schema could not be migrated; the database is left at the last good version."""
