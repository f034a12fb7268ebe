"""Alert pages served from memory while nothing they show has changed.

The broadcaster's LISTEN connection hears every change the pages depend on (a
new alert, a change of current_signals, a finished scan) and bumps its
``version``. A page is cached, serialised, under the version it was read at;
the same query at the same version is answered from memory, and a client that
sends back the page's ETag gets 304. While the LISTEN connection is down the
version comes from the database instead (``queries.state_version``), and nothing
is cached. ETags carry a per-process nonce, so one from another process or
before a restart never matches by accident.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import Request, Response

from autonama_alerts_api.queries import state_version

if TYPE_CHECKING:
    from autonama_alerts_api.deps import State

__all__ = ["PageCache", "serve_page"]


class PageCache:
    """Serialised pages by URL, each with the state version it was read at (LRU-bounded)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.nonce = secrets.token_hex(4)
        self._pages: OrderedDict[str, tuple[str, bytes]] = OrderedDict()

    def get(self, url: str, version: str) -> bytes | None:
        found = self._pages.get(url)
        if found is None or found[0] != version:
            return None
        self._pages.move_to_end(url)
        return found[1]

    def put(self, url: str, version: str, body: bytes) -> None:
        self._pages[url] = (version, body)
        self._pages.move_to_end(url)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)


async def serve_page(
    state: State, request: Request, build: Callable[[], Awaitable[bytes]]
) -> Response:
    """The page at ``request``'s URL: 304 for a matching ETag, else from the cache or built."""
    url = str(request.url.include_query_params())
    live = state.broadcaster.live
    if live:
        version = f"{state.pages.nonce}.{state.broadcaster.version}"
    else:
        version = f"db.{await state_version(state.pool)}"
    query = hashlib.sha1(url.encode()).hexdigest()[:12]  # noqa: S324 - a cache key, not a secret
    etag = f'W/"{version}-{query}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = state.pages.get(url, version) if live else None
    if body is None:
        body = await build()
        if live:
            state.pages.put(url, version, body)
    return Response(body, media_type="application/json", headers=headers)
