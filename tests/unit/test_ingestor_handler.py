"""The ingestor's handler on the in-memory repository (no database): a poll becomes one
batch, what finished is said once. The same scenarios run against PostgreSQL in
``tests/integration/test_ingest_repository.py``."""

from __future__ import annotations

import logging

import pytest

from autonama_ingestor.repository import Batch
from autonama_ingestor.service import make_handler
from autonama_shared.messaging.events import ScanFinished
from tests.support.ingest_memory import MemoryRepository
from tests.support.ingest_scenarios import (
    RULE_ALERTS,
    SCENARIOS,
    Scenario,
    alerts_follow_the_rule,
    scan_of,
    signal_of,
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_memory_repository_follows_the_rules(scenario: Scenario) -> None:
    got, expected = await scenario(MemoryRepository())
    assert got == expected


async def test_the_memory_repository_raises_the_rules_alerts() -> None:
    repo = MemoryRepository()
    await alerts_follow_the_rule(repo)
    assert [(a.step.signal, a.previous, a.reason) for a in repo.alerts] == RULE_ALERTS


async def test_a_poll_is_one_batch_and_a_finished_scan_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = MemoryRepository()
    handle = make_handler(repo)
    request, plan = scan_of(["BTCUSDT", "ETHUSDT"])
    old = ScanFinished(scan_id=request.scan_id, symbols_done=0, symbols_failed=0)
    poll = [
        request,
        plan,
        old,  # an old event of a kind no longer published: read and ignored
        signal_of(request, "BTCUSDT", "BUY", 10),
        signal_of(request, "ETHUSDT", "SELL", 10),
    ]
    with caplog.at_level(logging.INFO, logger="autonama.ingestor"):
        await handle(poll)
        await handle(poll)  # the poll again, as after a crash before the commit
    assert repo.batches == 2
    finished = [r.getMessage() for r in caplog.records if "finished" in r.getMessage()]
    assert finished == [f"scan {request.scan_id} finished: 2 done, 0 failed"]
    stored = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stored")]
    assert stored == ["stored 2 signals (2 new), 1 plans", "stored 2 signals (0 new), 1 plans"]
    assert [(a.step.signal, a.reason) for a in repo.alerts] == [("BUY", "new"), ("SELL", "new")]


def test_a_batch_sorts_a_poll_by_kind_in_order() -> None:
    request, plan = scan_of(["BTCUSDT"])
    signals = [signal_of(request, "BTCUSDT", "BUY", d) for d in (3, 1, 2)]
    batch = Batch.of([signals[0], plan, signals[1], request, signals[2]])
    assert (batch.requests, batch.plans, batch.signals) == ([request], [plan], signals)
    assert batch.scan_ids() == [request.scan_id] * 4
