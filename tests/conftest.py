"""Test configuration. The fixtures live in plugin modules under tests/fixtures/."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.backends",
    "tests.fixtures.data",
    "tests.fixtures.binance",
    "tests.fixtures.stack",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``slow`` (a minute of a receiver's outage, a whole supervised stack...)
    first: run in parallel (``make test``), a long test that started last would be the
    run's tail, every other process idle meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
