"""The scoring rules of an alert (#28) on hand-computed candles: every expected number
below is worked out from the bars written here, not read from a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autonama_shared.engine.outcomes import Bar, score

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def bars(rows: list[tuple[float, float, float, float]]) -> list[Bar]:
    """Consecutive daily bars after the alert's (t+1 first): (open, high, low, close)."""
    return [Bar(T0 + timedelta(days=k + 1), *row) for k, row in enumerate(rows)]


def test_a_buy_over_its_twenty_bars() -> None:
    rows = [(50.0, 52.0, 48.0, 50.0)] * 25  # 5 more than the 20 scored
    rows[0] = (50.0, 52.0, 48.0, 51.0)  # close 51: +2 %
    rows[2] = (49.0, 50.0, 40.0, 45.0)  # the lowest low before the target: 40, -20 %
    rows[4] = (46.0, 47.0, 44.0, 45.0)  # bar 5 closes at 45: -10 %
    rows[6] = (50.0, 56.0, 49.0, 55.0)  # the target (55) reached at bar 7
    rows[9] = (50.0, 51.0, 30.0, 50.0)  # lower still, but after the target: not counted
    rows[19] = (58.0, 61.0, 57.0, 60.0)  # bar 20 closes at 60: +20 %
    rows[22] = (70.0, 99.0, 69.0, 90.0)  # past bar 20: never seen (the upper band 65)
    o = score("BUY", fit=55.0, lower=35.0, upper=65.0, after=bars(rows))
    assert o.entry_time == T0 + timedelta(days=1)
    assert o.entry_price == 50.0
    assert (o.return_1, o.return_5, o.return_20) == pytest.approx((2.0, -10.0, 20.0))
    assert (o.target_price, o.target_hit_after) == (55.0, 7)
    assert (o.opposite_band_price, o.opposite_band_hit_after) == (65.0, None)
    assert o.max_adverse == pytest.approx(-20.0)
    assert (o.bars_seen, o.final, o.ended_after) == (20, True, None)


def test_a_sell_four_bars_in() -> None:
    rows = [
        (200.0, 210.0, 185.0, 190.0),  # +5 % for a SELL; the highest high, 210: -5 %
        (190.0, 195.0, 179.0, 181.0),  # the target (180) reached at bar 2
        (181.0, 220.0, 170.0, 175.0),  # a higher high, after the target: not counted
        (175.0, 176.0, 149.0, 150.0),  # the lower band (150) reached at bar 4
    ]
    o = score("SELL", fit=180.0, lower=150.0, upper=230.0, after=bars(rows))
    assert o.entry_price == 200.0
    assert o.return_1 == pytest.approx(5.0)
    assert (o.return_5, o.return_20) == (None, None)  # bars 5 and 20 not closed yet
    assert (o.target_hit_after, o.opposite_band_price, o.opposite_band_hit_after) == (2, 150.0, 4)
    assert o.max_adverse == pytest.approx(-5.0)
    assert (o.bars_seen, o.final) == (4, False)


def test_a_target_hit_on_the_entry_bar_without_going_the_wrong_way() -> None:
    o = score("BUY", fit=101.0, lower=90.0, upper=110.0, after=bars([(100.0, 102.0, 100.5, 101.5)]))
    assert o.target_hit_after == 1
    assert o.max_adverse == 0.0  # the only low is above the entry: no adverse excursion
    assert o.return_1 == pytest.approx(1.5)


def test_never_hit_counts_the_adverse_excursion_over_all_twenty() -> None:
    rows = [(10.0, 10.5, 9.5, 10.0)] * 20
    rows[17] = (10.0, 10.5, 8.0, 9.0)  # the lowest low, bar 18: -20 %
    o = score("BUY", fit=12.0, lower=8.5, upper=14.0, after=bars(rows))
    assert (o.target_hit_after, o.opposite_band_hit_after) == (None, None)
    assert o.max_adverse == pytest.approx(-20.0)
    assert o.return_20 == pytest.approx(0.0)
    assert o.final


def test_ended_first_and_ended_too_late() -> None:
    three = bars([(1.0, 1.0, 1.0, 1.0)] * 3)
    assert score("SELL", 0.9, 0.8, 1.2, three, ended_after=3).ended_after == 3
    assert score("SELL", 0.9, 0.8, 1.2, three, ended_after=21).ended_after is None


def test_no_bar_yet_is_nothing_yet() -> None:
    o = score("BUY", fit=1.0, lower=0.5, upper=1.5, after=[])
    assert (o.entry_time, o.entry_price, o.return_1, o.max_adverse) == (None, None, None, None)
    assert (o.target_hit_after, o.opposite_band_hit_after, o.bars_seen, o.final) == (
        None,
        None,
        0,
        False,
    )
    assert (o.target_price, o.opposite_band_price) == (1.0, 1.5)
