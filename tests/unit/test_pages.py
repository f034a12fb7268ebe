"""serve_page: one build for concurrent requests of a page not yet in memory."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from autonama_alerts_api.pages import PageCache, serve_page


def state() -> Any:
    return SimpleNamespace(broadcaster=SimpleNamespace(live=True, version=7), pages=PageCache())


def request(path: str = "/v1/alerts/summary") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [],
            "server": ("testserver", 80),
            "scheme": "http",
        }
    )


async def test_concurrent_requests_wait_for_one_build() -> None:
    s, builds = state(), []

    async def build() -> bytes:
        builds.append(1)
        await asyncio.sleep(0.05)
        return b'{"n": 1}'

    responses = await asyncio.gather(*(serve_page(s, request(), build) for _ in range(20)))
    assert len(builds) == 1
    assert {r.body for r in responses} == {b'{"n": 1}'}
    assert len({r.headers["etag"] for r in responses}) == 1
    assert s.pages.building == {}
    await serve_page(s, request(), build)  # from memory now
    assert len(builds) == 1
    s.broadcaster.version = 8  # something changed: built again, once
    await asyncio.gather(*(serve_page(s, request(), build) for _ in range(5)))
    assert len(builds) == 2


async def test_a_failed_build_fails_its_waiters_and_is_not_kept() -> None:
    s, builds = state(), []

    async def build() -> bytes:
        builds.append(1)
        await asyncio.sleep(0.02)
        raise ConnectionResetError("the database went away")

    results = await asyncio.gather(
        *(serve_page(s, request(), build) for _ in range(5)), return_exceptions=True
    )
    assert len(builds) == 1
    assert all(isinstance(r, ConnectionResetError) for r in results)
    assert s.pages.building == {}
    with pytest.raises(ConnectionResetError):
        await serve_page(s, request(), build)
    assert len(builds) == 2  # tried again, not served from a failure


async def test_a_waiter_builds_when_the_builder_is_cancelled() -> None:
    s, builds = state(), []

    async def build() -> bytes:
        builds.append(1)
        await asyncio.sleep(0.05)
        return b"{}"

    first = asyncio.create_task(serve_page(s, request(), build))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(serve_page(s, request(), build))
    await asyncio.sleep(0.01)
    first.cancel()  # its client went away
    response = await second
    assert response.body == b"{}"
    assert len(builds) == 2
    with pytest.raises(asyncio.CancelledError):
        await first
