"""The live feed's catch-up skips a stream only when nothing closed since its last
published candle: checked against candles laid out at each interval's phase."""

from __future__ import annotations

import random

from autonama_shared.engine.intervals import interval_ms
from autonama_shared.sources.live_frames import up_to_date

DAY = 86_400_000
MONDAY = 4 * DAY  # 1970-01-05: Binance's weeks start on Mondays


def last_closed(now: int, step: int, phase: int) -> int:
    return (now - phase) // step * step + phase - step


def test_a_stream_is_up_to_date_exactly_when_its_last_closed_candle_is_published() -> None:
    rng = random.Random(7)
    for interval, phase in [("1m", 0), ("15m", 0), ("4h", 0), ("1d", 0), ("1w", MONDAY)]:
        step = interval_ms(interval)
        for _ in range(2_000):
            now = rng.randrange(10 * step, 10_000 * step)
            for behind in (0, 1, 2):
                published = last_closed(now, step, phase) - behind * step
                assert up_to_date(interval, published, now) == (behind == 0), (interval, now)


def test_at_another_phase_a_missed_candle_is_never_skipped() -> None:
    rng = random.Random(11)
    for interval in ("3d", "1w", "1h"):
        step = interval_ms(interval)
        for _ in range(2_000):
            phase = rng.randrange(step)  # the candles' real phase, unknown to the feed
            now = rng.randrange(10 * step, 10_000 * step)
            for behind in (1, 2, 5):
                published = last_closed(now, step, phase) - behind * step
                assert not up_to_date(interval, published, now), (interval, phase, now)


def test_months_and_unknowns_are_always_fetched() -> None:
    assert not up_to_date("1M", 10**13, 10**13)
    assert not up_to_date("1h", None, 10**13)
    assert not up_to_date("1h", 10**13, None)
