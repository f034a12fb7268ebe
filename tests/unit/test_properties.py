"""Property-based: whatever bytes arrive, decoding refuses them cleanly or yields finite numbers.

Start from valid events and a valid results file, replace one field (at any
depth) with a hostile value (NaN, Infinity, huge integers, wrong types,
unequal lists), and check two properties:

- ``decode`` and the drop folder's file check never raise anything but their
  own refusal (``EventDecodeError``; a reason string);
- what they accept carries only finite numbers.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autonama_shared.db.ingest import _check
from autonama_shared.messaging.events import (
    EventDecodeError,
    KlineBatch,
    ScanParams,
    ScanRequested,
    SignalComputed,
    decode,
)
from tests.support.factories import make_signal

DAY = 86_400_000
T0 = 1_700_006_400_000

HOSTILE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e400, -0.0, 0.0]),
    st.sampled_from([2**63, 10**19, -(2**63) - 1, 2**64 + 1]),  # beyond int64
    st.integers(min_value=-(2**80), max_value=2**80),
    st.text(max_size=12),
    st.sampled_from(["not-a-uuid", "7x", "²", "", "BUY", "HOLD", "1d"]),
    st.none(),
    st.booleans(),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
    st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


#: How hostile values are tried: the same examples on every run (CI is reproducible),
#: however slow.
HOSTILE_RUNS = settings(
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value can be replaced (lists: their first items)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:2]):
            out += paths(v, (*prefix, i))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(doc))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_everywhere(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite_everywhere(v) for v in value)
    return True


def _batch() -> dict[str, Any]:
    n = 40
    params = ScanParams(interval="1d", days=40, degree=3, kstd=2.0)
    return KlineBatch(
        scan_id=str(uuid.uuid4()),
        symbol="BTCUSDT",
        params=params,
        window=params.window,
        open_time=[T0 + i * DAY for i in range(n)],
        open=[100.0 + i for i in range(n)],
        high=[101.0 + i for i in range(n)],
        low=[99.0 + i for i in range(n)],
        close=[100.5 + i for i in range(n)],
        volume=[10.0] * n,
    ).model_dump(mode="json")


VALID_EVENTS = [
    _batch(),
    make_signal("ETHUSDT", "BUY", 5).model_dump(mode="json"),
    ScanRequested(params=ScanParams(interval="4h", days=30, degree=4, kstd=2.0)).model_dump(
        mode="json"
    ),
]
EVENT_PATHS = [(i, p) for i, doc in enumerate(VALID_EVENTS) for p in paths(doc)]


@settings(HOSTILE_RUNS, max_examples=600)
@given(st.sampled_from(EVENT_PATHS), HOSTILE)
def test_decoding_refuses_cleanly_or_yields_finite_events(
    where: tuple[int, tuple[Any, ...]], value: Any
) -> None:
    index, path = where
    raw = json.dumps(replaced(VALID_EVENTS[index], path, value)).encode()  # NaN as JSON allows
    try:
        event = decode(raw, KlineBatch, SignalComputed, ScanRequested)
    except EventDecodeError:
        return
    assert finite_everywhere(event.model_dump())


def _results_file() -> dict[str, Any]:
    signal = make_signal("BTCUSDT", "SELL", 5)
    series = signal.series
    assert series is not None
    result = {
        **{k: getattr(signal, k) for k in ("signal", "price", "lower", "upper", "fit", "sigma")},
        **{k: getattr(signal, k) for k in ("potential_return", "target_return", "candles")},
        "partial_window": False,
        "error": None,
        "symbol": "BTCUSDT",
        "interval": "1d",
        "first_candle_time": "2026-01-04T00:00:00Z",
        "last_candle_time": "2026-01-06T00:00:00Z",
        "series": series.model_dump(include={"open_time", "close", "fit", "lower", "upper"}),
    }
    return {
        "schema_version": 1,
        "engine_version": "0.1.0",
        "generated_at": "2026-01-07T00:00:00Z",
        "parameters": {
            "interval": "1d",
            "degree": 4,
            "kstd": 2.0,
            "days": 720,
            "window": 720,
            "price_scale": "linear",
            "source": "files",
            "universe": "symbols",
        },
        "results": [result],
    }


VALID_FILE = _results_file()
FILE_PATHS = paths(VALID_FILE)


SCAN_ID = str(uuid.uuid4())


def accepted_events(doc: Any, path: tuple[Any, ...], value: Any) -> list[Any]:
    """The events of ``doc`` with ``value`` at ``path``, as the drop folder reads it; none
    when it is refused, which must then say why."""
    converted, problem = _check(json.dumps(replaced(doc, path, value)).encode(), SCAN_ID)
    if converted is None:
        assert isinstance(problem, str)
        assert problem
        return []
    return converted[2]


def test_the_valid_file_is_accepted() -> None:
    converted, problem = _check(json.dumps(VALID_FILE).encode(), str(uuid.uuid4()))
    assert problem is None
    assert converted is not None


@settings(HOSTILE_RUNS, max_examples=600)
@given(st.sampled_from(FILE_PATHS), HOSTILE)
def test_a_results_file_is_rejected_with_a_reason_or_stored_finite(
    path: tuple[Any, ...], value: Any
) -> None:
    events = accepted_events(VALID_FILE, path, value)
    assert finite_everywhere([e.model_dump() for e in events])
    assert all(e.signal == "HOLD" or e.price is not None for e in events)


def _packed_file() -> dict[str, Any]:
    """The valid file as version 3 writes it: the window's columns packed."""
    doc = json.loads(json.dumps(VALID_FILE))
    series = make_signal("BTCUSDT", "SELL", 5).series
    assert series is not None
    doc["schema_version"] = 3
    doc["results"][0]["series"] = {"encoding": "base64-le64"} | {
        name: base64.b64encode(
            np.asarray(getattr(series, name), "<i8" if name == "open_time" else "<f8").tobytes()
        ).decode()
        for name in ("open_time", "open", "high", "low", "close", "fit", "lower", "upper")
    }
    return doc


PACKED_FILE = _packed_file()
PACKED_PATHS = paths(PACKED_FILE)
#: A packed column's hostile texts: not base64, a byte short, NaN, infinity, -1, uneven.
PACKED_HOSTILE = st.one_of(
    HOSTILE,
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=!", max_size=40
    ),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4).map(
        lambda xs: base64.b64encode(np.asarray(xs, "<f8").tobytes()).decode()
    ),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
)


def test_the_valid_packed_file_is_accepted_as_the_same_window() -> None:
    converted, problem = _check(json.dumps(PACKED_FILE).encode(), str(uuid.uuid4()))
    assert problem is None
    assert converted is not None
    window = converted[2][0].series
    expected = make_signal("BTCUSDT", "SELL", 5).series
    assert window is not None
    assert expected is not None
    for name in ("open_time", "open", "high", "low", "close", "fit", "lower", "upper"):
        assert list(getattr(window, name)) == getattr(expected, name), name


@settings(HOSTILE_RUNS, max_examples=300)
@given(st.sampled_from(PACKED_PATHS), PACKED_HOSTILE)
def test_a_packed_file_is_rejected_with_a_reason_or_stored_finite(
    path: tuple[Any, ...], value: Any
) -> None:
    for e in accepted_events(PACKED_FILE, path, value):
        assert finite_everywhere(e.model_dump(exclude={"series"}))
        if e.series is not None:
            columns = [getattr(e.series, c) for c in ("open", "high", "low", "close", "fit")]
            assert all(np.isfinite(np.asarray(c, dtype=float)).all() for c in columns)
            times = np.asarray(e.series.open_time)
            assert (np.diff(times) > 0).all()
            assert all(len(c) == len(times) for c in columns)
