"""Scenarios of the ingestor's repository, each with what it must come to (worked out by
hand from the rules, not read from a run): the unit tests run them on the in-memory
repository, the contract test on the PostgreSQL one. Each scenario stores its batches one
after another and returns what every ``store`` said."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from autonama_ingestor.repository import Batch, Repository, Stored
from autonama_shared.formats.report import SymbolBacktest
from autonama_shared.messaging.events import (
    BacktestComputed,
    BacktestParams,
    BacktestPlanned,
    BacktestRequested,
    ScanParams,
    ScanPlanned,
    ScanRequested,
    SignalComputed,
)
from tests.support.factories import make_signal

#: What one ``store`` said: new signal rows, (scan, done, failed) finished, backtests finished.
Said = tuple[int, list[tuple[str, int, int]], list[str]]


def said(stored: Stored) -> Said:
    return (
        stored.new_signals,
        [(f.scan_id, f.symbols_done, f.symbols_failed) for f in stored.finished],
        stored.backtests_finished,
    )


def scan_of(symbols: list[str], error: str | None = None) -> tuple[ScanRequested, ScanPlanned]:
    request = ScanRequested(
        origin="test", params=ScanParams(interval="1d", days=720, degree=4, kstd=2.0)
    )
    plan = ScanPlanned(
        scan_id=request.scan_id, request=request, symbols=symbols, window=720, error=error
    )
    return request, plan


def signal_of(scan: ScanRequested, symbol: str, signal: str, day: int) -> SignalComputed:
    return make_signal(symbol, signal, day, scan_id=scan.scan_id)


async def a_scan_finishes_once_through_a_replay(repo: Repository) -> tuple[list[Said], list[Said]]:
    request, plan = scan_of(["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    first = [signal_of(request, "BTCUSDT", "BUY", 10), signal_of(request, "ETHUSDT", "HOLD", 10)]
    batches = [
        Batch(requests=[request]),
        Batch(plans=[plan]),
        Batch(signals=first),
        Batch(
            signals=[*first, signal_of(request, "SOLUSDT", "SELL", 10)]
        ),  # a replay, and one more
        Batch(signals=first, plans=[plan]),  # all of it again
    ]
    got = [said(await repo.store(b)) for b in batches]
    expected: list[Said] = [
        (0, [], []),
        (0, [], []),
        (2, [], []),
        (1, [(request.scan_id, 3, 0)], []),
        (0, [], []),
    ]
    return got, expected


async def a_failed_symbol_is_an_outcome(repo: Repository) -> tuple[list[Said], list[Said]]:
    request, plan = scan_of(["BTCUSDT", "DOGEUSDT"])
    failed = signal_of(request, "DOGEUSDT", "HOLD", 10).model_copy(
        update={"error": "HTTP 503", "last_candle_time": None, "series": None}
    )
    batches = [
        Batch(plans=[plan]),
        Batch(signals=[signal_of(request, "BTCUSDT", "BUY", 10), failed]),
    ]
    got = [said(await repo.store(b)) for b in batches]
    return got, [(0, [], []), (1, [(request.scan_id, 1, 1)], [])]


async def a_scan_that_failed_as_a_whole_never_finishes(
    repo: Repository,
) -> tuple[list[Said], list[Said]]:
    request, plan = scan_of(["BTCUSDT"], error="Binance answered 418")
    batches = [Batch(plans=[plan]), Batch(signals=[signal_of(request, "BTCUSDT", "BUY", 10)])]
    got = [said(await repo.store(b)) for b in batches]
    return got, [(0, [], []), (1, [], [])]


async def a_backtest_finishes_once(repo: Repository) -> tuple[list[Said], list[Said]]:
    request = BacktestRequested(
        origin="test",
        params=BacktestParams(interval="1d", degrees=[2, 4], kstds=[2.0], windows=[30]),
        symbols=["BTCUSDT", "ETHUSDT"],
    )
    plan = BacktestPlanned(
        backtest_id=request.backtest_id, request=request, symbols=["BTCUSDT", "ETHUSDT"]
    )

    def result(symbol: str, error: str | None) -> BacktestComputed:
        return BacktestComputed(
            backtest_id=request.backtest_id,
            symbol=symbol,
            engine_version="test",
            result=SymbolBacktest(
                symbol=symbol,
                first_time=None,
                last_time=None,
                bars=0,
                chosen=None,
                out_of_sample=None,
                buy_and_hold=None,
                buy_and_hold_out_of_sample=None,
                trades=[],
                combinations=[],
                error=error,
            ),
        )

    results = [result("BTCUSDT", None), result("ETHUSDT", "not enough candles")]
    batches = [
        Batch(backtest_requests=[request], backtest_plans=[plan]),
        Batch(backtest_results=results[:1]),
        Batch(backtest_results=results),
        Batch(backtest_results=results),
    ]
    got = [said(await repo.store(b)) for b in batches]
    return got, [(0, [], []), (0, [], []), (0, [], [request.backtest_id]), (0, [], [])]


async def alerts_follow_the_rule(repo: Repository) -> tuple[list[Said], list[Said]]:
    request, plan = scan_of(["BTCUSDT"])
    days = [(10, "BUY"), (11, "BUY"), (12, "SELL"), (9, "HOLD"), (13, "HOLD"), (14, "HOLD")]
    batches = [Batch(plans=[plan])] + [
        Batch(signals=[signal_of(request, "BTCUSDT", s, d)]) for d, s in days
    ]
    got = [said(await repo.store(b)) for b in batches]
    finished = [(request.scan_id, 1, 0)]
    return got, [(0, [], []), (1, finished, []), *[(1, [], [])] * 5]


#: The alerts of ``alerts_follow_the_rule``: (signal, previous, reason), in order. The late
#: HOLD of day 9 changes nothing; HOLD after HOLD raises nothing.
RULE_ALERTS = [
    ("BUY", None, "new"),
    ("BUY", "BUY", "confirmed"),
    ("SELL", "BUY", "changed"),
    ("HOLD", "SELL", "ended"),
]

Scenario = Callable[[Repository], Awaitable[tuple[list[Said], list[Said]]]]
SCENARIOS: list[Scenario] = [
    a_scan_finishes_once_through_a_replay,
    a_failed_symbol_is_an_outcome,
    a_scan_that_failed_as_a_whole_never_finishes,
    a_backtest_finishes_once,
    alerts_follow_the_rule,
]
