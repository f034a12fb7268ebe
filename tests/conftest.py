"""Test configuration. The fixtures live in plugin modules under tests/fixtures/."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.backends",
    "tests.fixtures.data",
    "tests.fixtures.binance",
    "tests.fixtures.stack",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked ``slow`` (a minute of a receiver's outage, a whole supervised
    stack...) first, dealt out to the processes of a parallel run (``make test``).

    ``--dist worksteal`` gives each process a consecutive quarter of this order and lets an
    idle one take the back half of a busy one's queue; dealt round-robin, each quarter
    starts with its share of the long tests and ends with short ones (the ones taken), so
    no long test is left to start last, alone, with every other process idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if workers > 1:
        items[:] = [item for k in range(workers) for item in items[k::workers]]
