"""A TCP relay in front of a real server whose link can be cut: the network fault, not a fake.

A service pointed at ``relay.port`` talks to the real PostgreSQL (or broker)
behind it. ``cut()`` closes every open connection and refuses new ones, as a
database host that went away does; ``restore()`` listens again on the same
port. The relay runs its own event loop in a thread, so a test's loop (and
the service processes) never wait on it.

It accepts connections itself (a listening socket and a reader callback) rather than
through ``asyncio.start_server``: on Python 3.11 a server closed between the accept of a
connection and its wrapping in a transport makes asyncio drop that half-made transport
silently (``Server._attach`` asserts the server is open, and the accept task swallows the
error), and the socket is left to the garbage collector, which fails whichever test is
running when it is collected. Here every accepted socket is the relay's until it closes it.
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
        self.listener: socket.socket | None = None
        #: Every socket accepted, closed at the end whatever became of it.
        self.accepted: list[socket.socket] = []
        #: The relaying tasks (the loop keeps only weak references to tasks).
        self.tasks: set[asyncio.Task[None]] = set()
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

    def _accept(self) -> None:
        """The listening socket is readable: take every connection waiting, each relayed by
        a task of its own."""
        while self.listener is not None:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # reset by its client while it waited
                continue
            conn.setblocking(False)
            self.accepted.append(conn)
            task = self.loop.create_task(self._serve(conn, self.generation))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _serve(self, conn: socket.socket, generation: int) -> None:
        """Relay ``conn``, accepted in ``generation``: a cut since (before this task ran,
        while it is wrapped, while the upstream connects) ends it."""
        if generation != self.generation:
            conn.close()
            return
        try:
            reader, writer = await asyncio.open_connection(sock=conn)
        except OSError:
            conn.close()
            return
        self.opened.add(writer)  # aborted at close whatever happens below
        if generation != self.generation:  # cut while it was being wrapped
            writer.transport.abort()
            return
        self.writers.add(writer)  # from here on: a cut while it connects ends it
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self.writers.discard(writer)
            return
        self.opened.add(up_writer)
        if generation != self.generation:  # cut while the upstream was opened
            for w in (writer, up_writer):
                w.transport.abort()
            self.writers.discard(writer)
            return
        self.writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _listen(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: same port
        listener.setblocking(False)
        self.listener = listener
        self.loop.add_reader(listener.fileno(), self._accept)

    async def _close(self) -> None:
        self.generation += 1
        if self.listener is not None:  # what waits in its backlog is refused with it
            self.loop.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
        for w in list(self.writers):
            w.transport.abort()  # a reset, as a host that went away gives
        self.writers.clear()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._close())

    async def _settle(self) -> None:
        """Every relaying task ended and every socket closed, before the loop stops (a
        socket left to the garbage collector is an unclosed socket, which fails whichever
        test is running when it is collected)."""
        # After the cut each task ends by itself (a pipe reads the reset; a connection
        # being wrapped or connecting upstream sees the new generation); waited for up to
        # 3 s, then cancelled.
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=3)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for w in self.opened:
            w.transport.abort()  # closed ones are left as they are; closing ones now
        for conn in self.accepted:
            conn.close()  # a no-op for those their transport closed
        self.opened.clear()
        self.writers.clear()
        self.accepted.clear()
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
