"""Live alerts: one LISTEN connection per API process, fanned out to every stream client.

Why PostgreSQL LISTEN/NOTIFY rather than a Kafka topic of committed alerts: the
ingestor raises alerts and NOTIFYs inside the very transaction that stores
them, and PostgreSQL delivers a NOTIFY only after that transaction commits. So
an alert that reaches a stream is always already readable through
``GET /v1/alerts``, every API replica hears every notification, and there is no
second system to keep consistent. The notification only says "there is news up
to id N"; the broadcaster reads the alerts themselves (ids are committed in
order). A periodic check covers a notification lost while reconnecting.

The LISTEN connection is the broadcaster's own: when the database restarts it
is re-opened with backoff (0.5 s doubling to 30 s, one log line a step), and
the alerts committed meanwhile are read from the last id seen, so the stream
loses nothing and its latency is back to milliseconds once it reconnects.

Each client has a bounded queue: a client too slow to keep up is dropped (its
stream ends) and resumes by ``Last-Event-ID``, without slowing the others.

A client that asks for them also gets ``market`` events: the current state changed
(a close stored, HOLD included: a live market's every candle, which raises no
alert unless a band is crossed). They carry only the state's version, at most one
per ``MARKET_SECONDS`` (a boundary where 1,200 candles close makes one or a few,
not 1,200): the dashboard then re-reads ``/v1/market``, a page every client shares
from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from fastapi import HTTPException

from autonama_alerts_api.models.alerts import Alert
from autonama_alerts_api.queries.alerts import ALERT_COLUMNS, OUTCOME_JOIN, AlertFilter, alert_of
from autonama_shared.lifecycle import Backoff, supervise

__all__ = ["MARKET_SECONDS", "Broadcaster", "Client", "Seats", "sse_event"]

log = logging.getLogger("autonama.alerts_api.stream")

#: At most one ``market`` event per client in this many seconds.
MARKET_SECONDS = 0.25
#: When a client refused a seat may try again.
SEATS_RETRY_SECONDS = 5


@dataclass
class Seats:
    """Open streams per client address, and in all (one API process)."""

    total: int
    per_address: int
    taken: Counter[str] = field(default_factory=Counter)
    open: int = 0

    def take(self, address: str) -> None:
        """A seat for ``address``, or the 429/503 that says why not."""
        if self.taken[address] >= self.per_address:
            raise HTTPException(
                429,
                f"at most {self.per_address} open streams from one address",
                headers={"Retry-After": str(SEATS_RETRY_SECONDS)},
            )
        if self.open >= self.total:
            raise HTTPException(
                503,
                "this API process has no stream left to open; try again shortly",
                headers={"Retry-After": str(SEATS_RETRY_SECONDS)},
            )
        self.taken[address] += 1
        self.open += 1

    def give_back(self, address: str) -> None:
        self.open -= 1
        self.taken[address] -= 1
        if self.taken[address] <= 0:
            del self.taken[address]


@dataclass(eq=False)
class Client:
    filters: AlertFilter
    #: (alert id, its event as sent); (None, a market event)
    queue: asyncio.Queue[tuple[int | None, str]]
    market: bool = False  # also market events
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: tuple[int | None, str]) -> None:
        """Queue ``event``; a full queue drops the client (its stream ends, it resumes)."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped.set()


class Broadcaster:
    def __init__(
        self,
        pool: asyncpg.Pool,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        channel: str,
        *,
        state_channel: str | None = None,
        queue_size: int,
        poll_seconds: float,
    ) -> None:
        self.pool = pool
        self.connect = connect
        self.listener: asyncpg.Connection | None = None
        self.channel = channel
        self.state_channel = state_channel
        #: Bumped by every notification of a change (and every reconnect): the version of
        #: the state that cached pages were read from.
        self.version = 0
        self.queue_size = queue_size
        self.poll_seconds = poll_seconds
        self.clients: set[Client] = set()
        self.last_id = 0
        self.sent = 0
        self.reconnects = 0
        self._news = asyncio.Event()
        self._moved = asyncio.Event()  # the state changed since the last market event
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._market_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        #: a task that died and is being started again, and why (``/readyz``)
        self.trouble: dict[str, str] = {}

    async def start(self) -> None:
        self.last_id = int(await self.pool.fetchval("SELECT coalesce(max(id), 0) FROM alerts"))
        await self._listen()
        self._task = self._supervised("stream.broadcaster", self._run)
        self._market_task = self._supervised("stream.market", self._market)

    def _supervised(self, name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """``work`` started again with backoff whenever it dies; ``trouble`` says so."""

        async def attempt() -> None:
            self.trouble.pop(name, None)
            await work()

        async def failed(why: str) -> None:
            log.error("%s stopped (%s); starting it again", name, why)
            self.trouble[name] = f"restarting: {why}"

        return asyncio.create_task(
            supervise(name, attempt, self._stopping, on_failure=failed, logger=log), name=name
        )

    def health(self) -> dict[str, str]:
        """The stream's parts for ``/readyz``: each "ok" or what is wrong."""
        return {
            "stream.broadcaster": self.trouble.get("stream.broadcaster", "ok"),
            "stream.market": self.trouble.get("stream.market", "ok"),
            "stream.listen": "ok" if self.live else "LISTEN connection lost: reconnecting",
        }

    async def stop(self) -> None:
        self._stopping.set()
        for task in (self._task, self._market_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._market_task = None
        await self._close_listener()

    async def _listen(self) -> None:
        conn = await self.connect()
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(self.channel, self._notified)
        if self.state_channel is not None:
            await conn.add_listener(self.state_channel, self._changed)
        self.listener = conn
        self._lost.clear()
        self.version += 1  # whatever happened while not listening

    async def _close_listener(self) -> None:
        conn, self.listener = self.listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
                await conn.remove_listener(self.channel, self._notified)
                await conn.close(timeout=2)

    def _terminated(self, *_: object) -> None:
        self._lost.set()
        self._news.set()
        self._changed()

    @property
    def live(self) -> bool:
        """True while the LISTEN connection is up: ``version`` then follows every change."""
        conn = self.listener
        return conn is not None and not conn.is_closed() and not self._lost.is_set()

    def _changed(self, *_: object) -> None:
        """The state changed (a NOTIFY, or the connection lost): pages and market events."""
        self.version += 1
        self._moved.set()

    def _notified(self, *_: object) -> None:
        self._changed()
        self._news.set()

    def subscribe(self, filters: AlertFilter, *, market: bool = False) -> tuple[Client, int]:
        """A new client and the id it has seen up to (alerts after it come through its queue);
        ``market``: market events too."""
        client = Client(filters, asyncio.Queue(self.queue_size), market)
        self.clients.add(client)
        return client, self.last_id

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)

    async def _run(self) -> None:
        backoff = Backoff("alerts stream: LISTEN connection", logger=log)
        never = asyncio.Event()  # the task is cancelled at stop
        while True:
            if self._lost.is_set() or self.listener is None or self.listener.is_closed():
                await self._close_listener()
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                    await backoff.failed(never, e)
                    continue
                self.reconnects += 1
                backoff.succeeded()
                self._news.set()  # catch up on what was committed while away
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), self.poll_seconds)
            self._news.clear()
            try:
                await self._fan_out()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("reading new alerts failed (%s); retrying", e)
                await asyncio.sleep(1.0)

    async def _market(self) -> None:
        """A market event to every client that asked, at most one per MARKET_SECONDS."""
        while True:
            await self._moved.wait()
            self._moved.clear()
            event = (None, f'event: market\ndata: {{"version": {self.version}}}\n\n')
            for client in list(self.clients):
                if client.market and not client.dropped.is_set():
                    client.offer(event)
            await asyncio.sleep(MARKET_SECONDS)

    async def _fan_out(self) -> None:
        while True:
            rows = await self.pool.fetch(
                f"SELECT {ALERT_COLUMNS} FROM alerts a {OUTCOME_JOIN} "  # noqa: S608
                "WHERE a.id > $1 ORDER BY a.id LIMIT 500",
                self.last_id,
            )
            if not rows:
                return
            for row in rows:
                try:
                    alert = alert_of(row)
                except ValueError as e:  # a row the API's model refuses: never a stuck stream
                    log.error("alert %s cannot be streamed (%s); skipped", row["id"], e)
                    self.last_id = row["id"]
                    continue
                event = (alert.id, sse_event(alert))  # encoded once, not once per client
                for client in list(self.clients):
                    if not client.dropped.is_set() and client.filters.matches(alert):
                        client.offer(event)
                self.last_id = alert.id


def sse_event(alert: Alert) -> str:
    """An alert as one server-sent event (``id``, ``event: alert``, its JSON)."""
    return f"id: {alert.id}\nevent: alert\ndata: {alert.model_dump_json()}\n\n"
