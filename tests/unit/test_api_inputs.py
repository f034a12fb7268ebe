"""The API's parsing of ids and cursors: bounded ASCII integers, never a 500 (pure, no server)."""

from __future__ import annotations

import base64
import json

import pytest

from autonama_alerts_api.app import _json_safe
from autonama_alerts_api.deps import MAX_ID, alert_id
from autonama_alerts_api.queries import Cursor


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
