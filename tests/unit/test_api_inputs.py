"""The API's parsing of ids and cursors: bounded ASCII integers, never a 500 (pure, no server)."""

from __future__ import annotations

import base64
import json

import asyncpg
import httpx
import pytest

from autonama_alerts_api.app import _json_safe, create_app
from autonama_alerts_api.deps import MAX_ID, alert_id
from autonama_alerts_api.queries.alerts import Cursor
from autonama_alerts_api.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),  # would overflow bigint
        ("²", None),  # str.isdigit() accepts it, int() does not
        ("٣", None),  # an Arabic-Indic digit: int() would take it
        ("9" * 5000, None),
        ("-1", None),
        ("1e3", None),
        (" 7", None),
        ("", None),
    ],
)
def test_alert_ids_are_bounded_ascii_integers(text: str, expected: int | None) -> None:
    assert alert_id(text) == expected


def _cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


def test_a_cursor_round_trips() -> None:
    c = Cursor("potential_return", 12.5, 99)
    assert Cursor.decode(c.encode()) == c


@pytest.mark.parametrize(
    "text",
    [
        _cursor("time", 1.0, 10**30),  # id beyond bigint
        _cursor("time", 1.0, -1),
        _cursor("potential_return", "NaN", 1),
        _cursor("potential_return", "Infinity", 1),
        "not-base64!",
        _cursor("time", 1.0),
    ],
)
def test_a_cursor_the_api_never_made_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cursor is not one this API returned"):
        Cursor.decode(text)


def test_non_finite_numbers_become_text_in_error_bodies() -> None:
    body = {"detail": [{"input": float("nan"), "ctx": {"ge": 1.0, "v": [float("inf")]}}]}
    assert json.dumps(_json_safe(body), allow_nan=False) == (
        '{"detail": [{"input": "nan", "ctx": {"ge": 1.0, "v": ["inf"]}}]}'
    )


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        # what asyncpg raises on a connection the server ended mid-operation (seen in CI)
        asyncpg.exceptions._base.InternalClientError(
            "cannot switch to state 11; another operation (2) is in progress"
        ),
    ],
    ids=["refused", "closed", "admin-shutdown", "starting-up", "client-state"],
)
async def test_a_database_that_is_away_gets_503_with_retry_after(error: Exception) -> None:
    app = create_app(Settings())

    @app.get("/boom")
    async def boom() -> None:
        raise error

    transport = httpx.ASGITransport(app=app)  # no lifespan: the route needs no database
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        r = await client.get("/boom")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert "database is unavailable" in r.json()["detail"]
