"""The notifier's handler on the in-memory delivery queue (no database). The same scenarios
run against PostgreSQL in ``tests/integration/test_notify_queue.py``."""

from __future__ import annotations

import pytest

from autonama_notifier.service import make_handler
from autonama_shared.messaging.events import AlertEnded, AlertRaised, ScanFinished
from tests.support.notify_memory import MemoryQueue
from tests.support.notify_scenarios import SCENARIOS, Scenario, alert, spec


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_memory_queue_follows_the_rules(scenario: Scenario) -> None:
    got, expected = await scenario(MemoryQueue())
    assert got == expected


async def test_the_handler_queues_the_alerts_of_a_poll_once() -> None:
    queue = MemoryQueue()
    sid = await queue.subscribe(spec("all"))
    raised = AlertRaised(**alert(1, "BTCUSDT", "BUY", None, "new").model_dump())
    ended = AlertEnded(**alert(2, "BTCUSDT", "HOLD", "BUY", "ended").model_dump())
    other = ScanFinished(
        scan_id="3f2b8c1e-4d5a-4e6f-9a7b-1c2d3e4f5a6b", symbols_done=1, symbols_failed=0
    )
    handle = make_handler(queue)
    await handle([raised, other, ended])
    await handle([raised, other, ended])  # the poll again
    assert await queue.queued() == [(sid, 1), (sid, 2)]
    kinds = [d.event_type for d in queue.deliveries.values()]
    assert kinds == ["alert.raised", "alert.ended"]
