"""A TCP relay in front of a real server whose link can be cut: the network fault, not a fake.

A service pointed at ``relay.port`` talks to the real PostgreSQL (or broker)
behind it. ``cut()`` closes every open connection and refuses new ones, as a
database host that went away does; ``restore()`` listens again on the same
port. The relay runs its own event loop in a thread, so a test's loop (and
the service processes) never wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TcpCut:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        #: Every connection's writer, both sides, kept to the end: a pipe that ends closes
        #: its peer gracefully (after its buffer), which may still be under way at close.
        self.opened: set[asyncio.StreamWriter] = set()
        #: One more at each cut: a connection accepted before a cut whose upstream opens
        #: after it is cut too (it was not in ``writers`` when the cut came).
        self.generation = 0
        self.thread.start()

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened.add(writer)  # aborted at close whatever happens below
        if self.server is None:  # accepted just before a cut, served after it: cut too
            writer.transport.abort()
            return
        self.writers.add(writer)  # from here on: a cut while it connects ends it
        generation = self.generation
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self.writers.discard(writer)
            return
        if generation != self.generation:  # cut while the upstream was opened
            for w in (writer, up_writer):
                w.transport.abort()
            self.writers.discard(writer)
            return
        self.writers.add(up_writer)
        self.opened.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _close(self) -> None:
        self.generation += 1
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.writers):
            w.transport.abort()  # a reset, as a host that went away gives
        self.writers.clear()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._close())

    async def _settle(self) -> None:
        """Every relaying task ended and its sockets closed, before the loop stops (a
        transport or an accepted socket left to the garbage collector is an unclosed
        socket, which fails whichever test is running when it is collected)."""
        # After the cut each task ends by itself: a pipe reads the reset, a connection
        # accepted just before the cut is wrapped by asyncio and then aborted by _serve
        # (the server is closed). They are waited for, up to 3 s, not cancelled: an accept
        # cancelled before asyncio wrapped its socket leaves that socket to the collector.
        # A task ending may start another (an accept finishing starts its connection's
        # _serve, which aborts it, the server being closed): the loop goes on until none
        # is left, and after the deadline cancels what is there, a few rounds at most.
        # (A task cancelled before it first ran never runs at all: each round lets the new
        # ones start first.)
        deadline, rounds = self.loop.time() + 3, 0
        while tasks := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            left = deadline - self.loop.time()
            if left > 0:
                await asyncio.wait(tasks, timeout=left)
                continue
            rounds += 1
            if rounds > 5:
                break
            _, pending = await asyncio.wait(tasks, timeout=0.1)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for w in self.opened:
            w.transport.abort()  # closed ones are left as they are; closing ones now
        self.opened.clear()
        self.writers.clear()
        await asyncio.sleep(0)  # the aborted transports' connection_lost callbacks
        await asyncio.sleep(0)

    def close(self) -> None:
        self.cut()
        self._call(self._settle())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def tcp_cut(host: str, port: int) -> Iterator[TcpCut]:
    """A relay to ``host:port``, listening; closed (every connection cut) on the way out."""
    relay = TcpCut(host, port)
    relay.restore()
    try:
        yield relay
    finally:
        relay.close()
