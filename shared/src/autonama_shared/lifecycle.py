"""What every service process shares: logging, SIGTERM as a stop event, quiet backoff.

``run_service`` loads the settings, sets up logging, turns SIGTERM / SIGINT
into an ``asyncio.Event`` and runs the service's ``main(settings, stop)``.
``Stopped`` (raised while waiting for a dependency when ``stop`` came first)
ends the process quietly with exit 0. ``Backoff`` waits exponentially longer
(0.5 s doubling up to 30 s) between attempts and logs one line per step while
a dependency is away, and one when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from autonama_shared.errors import AutonamaError, ConfigError, TemporaryError
from autonama_shared.retry import backoff_seconds
from autonama_shared.untrusted import printable

if TYPE_CHECKING:
    from autonama_shared.settings import AppSettings

__all__ = [
    "Backoff",
    "QuietRepeats",
    "Stopped",
    "retry_until_ready",
    "run_service",
    "supervise",
    "wait_for_any",
    "wait_or_stop",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stopped(AutonamaError):
    """``stop`` was set while waiting or working: leave without committing, quietly."""


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` unless ``stop`` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def wait_for_any(seconds: float, *events: asyncio.Event) -> None:
    """Sleep ``seconds`` unless one of ``events`` (a stop, a wake-up) is set first."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


class Backoff:
    """Exponential waits between attempts at one dependency, logged once per step.

    >>> b = Backoff("db", first=0.5, cap=2.0)
    >>> [b.next_delay() for _ in range(4)]
    [0.5, 1.0, 2.0, 2.0]
    """

    def __init__(
        self,
        what: str,
        *,
        first: float = 0.5,
        cap: float = 30.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.what = what
        self.first = first
        self.cap = cap
        self.log = logger or log
        self._attempts = 0
        self._since: float | None = None

    def next_delay(self) -> float:
        self._attempts += 1
        return backoff_seconds(self._attempts, base=self.first, cap=self.cap, jitter=False)

    async def failed(self, stop: asyncio.Event, error: BaseException) -> None:
        """Log this failure (one line per backoff step) and wait the step's delay."""
        if self._since is None:
            self._since = time.monotonic()
        delay = self.next_delay()
        self.log.warning("%s: %s; retrying in %.1f s", self.what, error, delay)
        await wait_or_stop(stop, delay)

    def succeeded(self) -> None:
        """Reset; log once that the dependency is back if it had been failing."""
        if self._since is not None:
            self.log.info("%s: back after %.1f s", self.what, time.monotonic() - self._since)
        self._since = None
        self._attempts = 0


async def retry_until_ready(
    stop: asyncio.Event, what: str, attempt: Callable[[], Awaitable[T]]
) -> T:
    """``await attempt()`` until it does not raise ``TemporaryError``.

    ``Stopped`` if ``stop`` came first.
    """
    backoff = Backoff(what)
    while not stop.is_set():
        try:
            result = await attempt()
        except TemporaryError as e:
            await backoff.failed(stop, e)
            continue
        backoff.succeeded()
        return result
    raise Stopped(f"{what}: stopped while waiting")


async def supervise(
    name: str,
    work: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    on_failure: Callable[[str], Awaitable[None]] | None = None,
    logger: logging.Logger | None = None,
) -> None:
    """Run ``work()`` until ``stop``; when it fails, say why, wait (backoff), run it again.

    A part of a service that must keep going (a folder watcher) never dies
    silently: each failure (any exception, or ``work`` returning before ``stop``)
    is logged, told to ``on_failure``, and retried 0.5 s later, doubling up to
    30 s; the delay starts again after a minute of work.
    """
    backoff = Backoff(name, logger=logger)
    while not stop.is_set():
        started = time.monotonic()
        try:
            await work()
        except Exception as e:  # noqa: BLE001 - supervised: restart whatever it was
            error: BaseException = e
        else:
            if stop.is_set():
                return
            error = RuntimeError("it returned before the service stopped")
        why = f"{type(error).__name__}: {error}"
        if on_failure is not None:
            await on_failure(why)
        if time.monotonic() - started > 60:
            backoff.succeeded()
        await backoff.failed(stop, error)


class OneLineFormatter(logging.Formatter):
    """A record's message on one line, whatever it quotes: a receiver's error text, an
    exchange's answer or a file's name cannot forge a log line (control characters are
    escaped, ``untrusted.printable``); a traceback keeps its own lines.

    >>> f = OneLineFormatter("%(message)s")
    >>> f.format(logging.LogRecord("x", logging.INFO, "", 0, "file %s", ("a\\nFAKE",), None))
    'file a\\\\nFAKE'
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        return printable(line, limit=20_000)


class QuietRepeats(logging.Filter):
    """Let a client library's warnings through once per backoff step: after its first
    warning, the next is let through 0.5 s later, then 1 s, 2 s, ... up to 30 s, with how
    many were held back. A library quiet for ``cap`` seconds starts afresh. For clients
    that log every failed reconnect (aiokafka logs hundreds a second while a broker is away).

    >>> now = [0.0]
    >>> f = QuietRepeats(clock=lambda: now[0])
    >>> rec = lambda: logging.LogRecord("aiokafka", logging.ERROR, "", 0, "down %s", ("x",), None)
    >>> shown = []
    >>> for i in range(100):
    ...     now[0] = i * 0.1
    ...     r = rec()
    ...     if f.filter(r):
    ...         shown.append((round(now[0], 1), r.getMessage()))
    >>> shown[:3]
    [(0.0, 'down x'), (0.5, 'down x (4 more held back)'), (1.5, 'down x (9 more held back)')]
    >>> len(shown)
    5
    """

    def __init__(
        self,
        *,
        prefixes: tuple[str, ...] = ("aiokafka", "asyncpg", "binance"),
        first: float = 0.5,
        cap: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes, self.first, self.cap, self.clock = prefixes, first, cap, clock
        self._kinds: dict[str, tuple[float, float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        now = self.clock()
        key = record.name.split(".")[0]
        seen = self._kinds.get(key)
        if seen is None or now - seen[0] > self.cap + seen[1]:
            self._kinds[key] = (now, self.first, 0)
            return True
        last, wait, held = seen
        if now - last < wait:
            self._kinds[key] = (last, wait, held + 1)
            return False
        self._kinds[key] = (now, min(self.cap, wait * 2), 0)
        if held:
            record.msg = f"{record.msg} ({held} more held back)"
        return True


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The clients log every failed reconnect; during an outage, once per backoff step.
    # (On the handler: a logger's own filter would miss its children's records.)
    quiet = QuietRepeats()
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


S = TypeVar("S", bound="AppSettings")


def run_service(
    name: str,
    load: Callable[[], S],
    main: Callable[[S, asyncio.Event], Awaitable[None]],
) -> int:
    """Load settings, then run ``main(settings, stop)`` until SIGTERM / SIGINT sets ``stop``.

    Exit codes: 0 stopped, 1 a fatal error (logged), 2 bad settings.
    """
    try:
        settings = load()
    except ConfigError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "%s starting (kafka %s, environment %s)",
            name,
            settings.kafka.bootstrap_servers,
            settings.environment,
        )
        with contextlib.suppress(Stopped):
            await main(settings, stop)
        log.info("%s stopped", name)

    try:
        asyncio.run(runner())
    except AutonamaError as e:
        logging.getLogger(name).error("%s stopped: %s", name, e)
        return 1
    except BaseExceptionGroup as group:  # a service of several loops (asyncio.TaskGroup)
        ours = group.subgroup(AutonamaError)
        if ours is None:
            raise
        for error in ours.exceptions:
            logging.getLogger(name).error("%s stopped: %s", name, error)
        return 1
    return 0
