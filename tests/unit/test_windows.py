"""Packed windows (band_windows, migration 0009): the bytes PostgreSQL stores."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest

from autonama_shared.db.windows import WINDOW_COLUMNS, pack, unpack
from autonama_shared.errors import DataError


def window(**over: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "open_time": [1_700_000_000_000, 1_700_086_400_000],
        "open": None,
        "high": None,
        "low": None,
        "close": [0.1, 2.5],
        "fit": [0.2, 2.4],
        "lower": [-0.3, 1.9],
        "upper": [0.7, 2.9],
    }
    return SimpleNamespace(**(base | over))


def test_columns_are_8_byte_big_endian_numbers_in_table_order() -> None:
    row = pack(42, window())
    assert len(row) == len(WINDOW_COLUMNS)
    assert row[:2] == (42, 2)
    assert row[2] == struct.pack(">2q", 1_700_000_000_000, 1_700_086_400_000)
    assert row[3:6] == (None, None, None)  # open, high, low absent (a results file)
    assert row[6] == struct.pack(">2d", 0.1, 2.5)
    assert row[9] == struct.pack(">2d", 0.7, 2.9)
    back = unpack(dict(zip(WINDOW_COLUMNS, row, strict=True)))
    assert back["close"] == [0.1, 2.5]
    assert back["open_time"] == [1_700_000_000_000, 1_700_086_400_000]
    assert back["lower_band"] == [-0.3, 1.9]
    assert back["open"] is None


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"close": [1.0]}, "close has 1 values, open_time 2"),
        ({"upper": [1.0, float("nan")]}, "upper holds NaN or infinity"),
        ({"open": [1.0, float("inf")]}, "open holds NaN or infinity"),
        ({"open_time": [], "close": [], "fit": [], "lower": [], "upper": []}, "at least one"),
    ],
)
def test_uneven_or_non_finite_windows_are_refused(over: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        pack(1, window(**over))
