"""The ingestor's repository in memory, for unit tests of its handler: the same rules as the
PostgreSQL one (``autonama_ingestor.repository``), stated plainly. The contract test
(``tests/integration/test_ingest_repository.py``) holds the two to the same scenarios.

- a scan is ``requested``, then ``running`` with its plan (or ``failed`` when the plan
  says why), and ``finished`` once every planned symbol has an outcome;
- a signal is stored once per key and candle (the first one stays); alerts follow the
  alert rule (``engine.alerts.decide``);
- a symbol's outcome is its first one: ``done`` when one of its events carried a signal,
  else ``failed``;
- a backtest the same way, one result per symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from autonama_ingestor.repository import Batch, Stored
from autonama_shared.db.scans import FinishedScan
from autonama_shared.engine.alerts import Alert, Step, decide
from autonama_shared.formats.keys import SignalKey
from autonama_shared.messaging.events import BacktestRequested, ScanRequested, SignalComputed


@dataclass
class Run:
    """A scan or a backtest: its state and its symbols' outcomes."""

    status: str = "requested"
    expected: int | None = None
    error: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)

    def recount(self) -> bool:
        """Whether it finished now (running, every planned symbol in)."""
        if self.status not in ("requested", "running"):
            return False
        complete = self.expected is not None and len(self.outcomes) >= self.expected
        if complete and self.status == "running":
            self.status = "finished"
            return True
        return False

    def plan(self, symbols: int, error: str | None) -> None:
        self.expected = symbols
        if error is not None:
            self.status, self.error = "failed", self.error or error
        elif self.status == "requested":
            self.status = "running"


@dataclass
class MemoryRepository:
    scans: dict[str, Run] = field(default_factory=dict)
    backtests: dict[str, Run] = field(default_factory=dict)
    signals: dict[tuple[SignalKey, datetime | None], SignalComputed] = field(default_factory=dict)
    current: dict[object, Step] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    batches: int = 0

    def _scan(self, request: ScanRequested) -> Run:
        return self.scans.setdefault(request.scan_id, Run())

    def _backtest(self, request: BacktestRequested) -> Run:
        return self.backtests.setdefault(request.backtest_id, Run())

    async def store(self, batch: Batch) -> Stored:
        self.batches += 1
        for request in batch.requests:
            self._scan(request)
        for plan in batch.plans:
            self._scan(plan.request).plan(len(plan.symbols), plan.error)
        new = self._store_signals(batch.signals)
        finished = []
        for scan_id in dict.fromkeys(batch.scan_ids()):
            run = self.scans.get(scan_id)
            if run is not None and run.recount():
                done = sum(1 for o in run.outcomes.values() if o == "done")
                finished.append(
                    FinishedScan(scan_id, done, len(run.outcomes) - done, datetime.now(UTC))
                )
        for bt_request in batch.backtest_requests:
            self._backtest(bt_request)
        for bt_plan in batch.backtest_plans:
            self._backtest(bt_plan.request).plan(len(bt_plan.symbols), bt_plan.error)
        for result in batch.backtest_results:
            run = self.backtests.setdefault(result.backtest_id, Run())
            run.outcomes.setdefault(result.symbol, "failed" if result.result.error else "done")
        done_backtests = [
            backtest_id
            for backtest_id in dict.fromkeys(batch.backtest_ids())
            if (run := self.backtests.get(backtest_id)) is not None and run.recount()
        ]
        return Stored(new, finished, done_backtests)

    def _store_signals(self, events: list[SignalComputed]) -> int:
        good = {
            (e.key, e.last_candle_time): e
            for e in events
            if e.error is None and e.last_candle_time is not None
        }
        new = [e for k, e in good.items() if k not in self.signals]
        for k, e in good.items():
            self.signals.setdefault(k, e)
        raised, self.current = decide(
            self.current,
            [Step(e.key, t, e.signal) for e in new if (t := e.last_candle_time) is not None],
        )
        self.alerts += raised
        done = {(e.scan_id, e.symbol) for e in good.values()}
        for e in events:
            outcome = "done" if (e.scan_id, e.symbol) in done else "failed"
            run = self.scans.get(e.scan_id)
            if run is None:  # a symbol's outcome is kept for a scan not yet seen too
                run = self.scans[e.scan_id] = Run()
            run.outcomes.setdefault(e.symbol, outcome)
        return len(new)
