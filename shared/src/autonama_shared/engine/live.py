"""A key's trailing window updated one closed candle at a time (the live market).

Every full window of ``n`` closes sits on the same scaled abscissa, so its fit needs no
new least-squares solve: with the orthonormal basis ``Q`` (n x (d+1), cached), the fitted
value at the last candle is ``h . y`` with the fixed filter ``h = Q q_last``, and the
residual sum of squares is ``|y|^2 - |Q^T y|^2`` -- O(degree x window) per candle,
against a QR of the window for a fit from scratch. The window is shifted by its mean
first (a constant is in the span, so nothing changes but the conditioning), and a
window whose residuals are too small for the subtraction to keep its precision (a
steep, almost noiseless trend) gets them explicitly, as the walk-forward does.

A window shorter than ``window`` (a newly listed symbol) is fitted by the batch engine
(``compute_signal``): its abscissa changes with every candle. Either way the result is
the spec's, and equal to ``compute_signal`` over the same closes to 1e-9.
"""

from __future__ import annotations

import numpy as np

from autonama_shared.engine.bands import (
    Float64Array,
    SignalResult,
    basis,
    check_prices,
    classify,
    compute_signal,
    min_candles,
)
from autonama_shared.engine.specs import BandParams
from autonama_shared.errors import ConfigError, DataError

__all__ = ["LiveWindow"]

#: See ``bands._CANCELLATION_LIMIT``.
_CANCELLATION_LIMIT = 1e5


class LiveWindow:
    """The last ``window`` closed candles of one key and their signal.

    >>> w = LiveWindow(BandParams(degree=2), window=40)
    >>> for t in range(45):
    ...     r = w.push(t * 60_000, 100.0 + t + (t % 3))
    >>> len(w), w.last_open_time, r.signal, r.partial_window
    (40, 2640000, 'HOLD', False)
    >>> w.push(2640000, 1.0) is None   # the same candle again: nothing changes
    True
    """

    def __init__(self, params: BandParams, window: int) -> None:
        if window < 1:
            raise ConfigError(f"window must be at least 1 candle, got {window}")
        self.params = params
        self.window = window
        self._times = np.empty(2 * window, dtype=np.int64)
        self._closes = np.empty(2 * window, dtype=np.float64)
        self._start = 0
        self._end = 0
        self._filter: Float64Array | None = None

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def last_open_time(self) -> int | None:
        return int(self._times[self._end - 1]) if len(self) else None

    @property
    def closes(self) -> Float64Array:
        """The window's closes, oldest first (a view: do not keep it across pushes)."""
        return self._closes[self._start : self._end]

    @property
    def open_times(self) -> np.ndarray:
        return self._times[self._start : self._end]

    def load(self, open_times: np.ndarray, closes: Float64Array) -> None:
        """Replace the window with the last ``window`` of these candles (the warm-up)."""
        closes = check_prices(closes)
        times = np.asarray(open_times, dtype=np.int64)
        if times.shape != closes.shape:
            raise DataError("open times and closes differ in length")
        if times.size > 1 and not (np.diff(times) > 0).all():
            raise DataError("open times must increase")
        times, closes = times[-self.window :], closes[-self.window :]
        self._start, self._end = 0, times.size
        self._times[: times.size] = times
        self._closes[: times.size] = closes

    def push(self, open_time: int, close: float) -> SignalResult | None:
        """Add a closed candle and return the window's signal; ``None`` (and no change) for
        a candle not newer than the last one: a duplicate or late frame."""
        last = self.last_open_time
        if last is not None and open_time <= last:
            return None
        if not (np.isfinite(close) and close > 0):
            raise DataError(f"close {close!r} at {open_time} is not a positive finite price")
        if self._end == self._times.size:  # compact: the live part back to the front
            n = len(self)
            self._times[:n] = self._times[self._start : self._end]
            self._closes[:n] = self._closes[self._start : self._end]
            self._start, self._end = 0, n
        self._times[self._end] = open_time
        self._closes[self._end] = close
        self._end += 1
        if len(self) > self.window:
            self._start += 1
        return self.signal()

    def signal(self) -> SignalResult:
        """The signal at the last candle of the window (the spec's numbers)."""
        n, p = len(self), self.params
        if n < self.window or n < min_candles(p.degree):
            return compute_signal(self.closes, p, self.window)
        close = self.closes
        y = np.log(close) if p.price_scale == "log" else close
        shift = float(y.mean())
        centred = y - shift
        q = basis(n, p.degree)
        if self._filter is None:
            self._filter = q @ q[-1]
        coef = centred @ q
        energy = float(centred @ centred)
        rss = energy - float(coef @ coef)
        if rss * _CANCELLATION_LIMIT < energy:  # the subtraction would lose precision
            resid = centred - q @ coef
            rss = float(resid @ resid)
        sigma = float(np.sqrt(max(rss, 0.0) / n))
        end = shift + float(self._filter @ centred)
        half = p.kstd * sigma
        fit, lower, upper = end, end - half, end + half
        if p.price_scale == "log":
            fit, lower, upper = float(np.exp(fit)), float(np.exp(lower)), float(np.exp(upper))
        price = float(close[-1])
        signals, potential = classify(price, lower, upper)
        return SignalResult(
            signal=signals[0],
            potential_return=float(potential[0]),
            candles=n,
            window=self.window,
            partial_window=False,
            price=price,
            lower=lower,
            upper=upper,
            fit=fit,
            sigma=sigma,
            target_return=(fit - price) / price * 100.0,
        )
