"""Polynomial regression bands: the exact numbers of the band specification.

Pure code: numpy arrays in, typed results out. No I/O, no logging, no plots.
Every number follows ``spec/bands.md``:

- the abscissa is ``x_i = -1 + 2 i / (n - 1)``; the fit is ordinary least
  squares on the polynomials of degree <= d, computed through an orthonormal
  basis ``Q`` (QR of the Legendre-Vandermonde matrix, which spans the same
  space as ``1, x, ..., x^d`` and is far better conditioned);
- ``sigma`` is the population standard deviation (ddof = 0) of the residuals;
- bands are ``fit +/- kstd * sigma``, mapped back with ``exp`` under ``log``;
- the signal is read at the last (closed) candle.

Batched: series of equal length share one basis, so fitting m of them is two
matrix products. Walk-forward: the band at bar t uses only the trailing
``window`` candles ending at t (no look-ahead); because every trailing window
has the same grid, it is a fixed linear filter, computed for all bars at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple, cast

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.polynomial import legendre
from numpy.typing import ArrayLike, NDArray

from autonama_shared.engine.specs import (
    MAX_DEGREE,
    MAX_KSTD,
    MIN_DEGREE,
    MIN_KSTD,
    BandParams,
    PriceScale,
    min_candles,
)
from autonama_shared.errors import ConfigError, DataError

__all__ = [
    "MAX_DEGREE",
    "MAX_KSTD",
    "MIN_DEGREE",
    "MIN_KSTD",
    "BandParams",
    "BandSweep",
    "Bands",
    "PriceScale",
    "Signal",
    "SignalResult",
    "WalkForwardBands",
    "basis",
    "check_prices",
    "classify",
    "compute_signal",
    "error_result",
    "fit_bands",
    "fit_bands_batch",
    "min_candles",
    "scan_signals",
    "walk_forward",
    "walk_forward_sweep",
]

Signal = Literal["BUY", "SELL", "HOLD"]
Float64Array = NDArray[np.float64]


@lru_cache(maxsize=64)
def _full_basis(n: int) -> Float64Array:
    max_degree = min(MAX_DEGREE, n - 1)
    x = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    q, r = np.linalg.qr(legendre.legvander(x, max_degree))
    # Fix the column signs (QR leaves them free) so results do not depend on LAPACK.
    q *= np.sign(np.diag(r))
    q.setflags(write=False)
    return q


def basis(n: int, degree: int) -> Float64Array:
    """Orthonormal basis (n x (d+1)) of the polynomials of degree <= d on the scaled abscissa.

    The columns for degree d are the first d+1 columns for degree 10, so a
    sweep over degrees shares one QR.

    >>> q = basis(50, 3)
    >>> q.shape, bool(np.allclose(q.T @ q, np.eye(4)))
    ((50, 4), True)
    """
    if n < degree + 1:
        raise ConfigError(f"a degree-{degree} fit needs at least {degree + 1} points, got {n}")
    return _basis(n, degree)


@lru_cache(maxsize=256)
def _basis(n: int, degree: int) -> Float64Array:
    # A contiguous copy: matrix products with a column slice are several times slower.
    q = np.ascontiguousarray(_full_basis(n)[:, : degree + 1])
    q.setflags(write=False)
    return q


def _to_y(close: Float64Array, scale: PriceScale) -> Float64Array:
    return np.log(close) if scale == "log" else close


def _from_y(y: Float64Array, scale: PriceScale) -> Float64Array:
    return np.exp(y) if scale == "log" else y


def check_prices(close: ArrayLike, what: str = "close") -> Float64Array:
    """``close`` as a 1-D float64 array; ``DataError`` for a non-finite or non-positive price.

    >>> check_prices([1.0, 0.0])
    Traceback (most recent call last):
    ...
    autonama_shared.errors.DataError: close[1] = 0.0 is not a positive finite price
    """
    arr = np.asarray(close, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError(f"{what} must be a 1-D series, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{what}[{i}] = {float(arr[i])!r} is not a positive finite price")
    return arr


@dataclass(frozen=True, slots=True)
class Bands:
    """A fit over whole windows: ``fit``, ``lower``, ``upper`` in price units, shape (n,) or (m, n).

    ``sigma`` is the residual standard deviation in the fitted scale (price
    under ``linear``, natural log of price under ``log``), shape () or (m,).
    """

    fit: Float64Array
    lower: Float64Array
    upper: Float64Array
    sigma: Float64Array


def _too_few(n: int, degree: int) -> str:
    return f"{n} candles are too few for degree {degree}; at least {min_candles(degree)} are needed"


def _fit_rows(
    y: Float64Array, degree: int, keep_fit: bool
) -> tuple[Float64Array | None, Float64Array, Float64Array]:
    """Least squares of every row of ``y`` on one basis: the fitted rows (when asked), the
    fitted value at the last point, and sigma (ddof 0), all in the fitted scale."""
    n = y.shape[1]
    q = basis(n, degree)
    resid = (y @ q) @ q.T
    fit = resid.copy() if keep_fit else None
    end = resid[:, -1].copy()
    np.subtract(y, resid, out=resid)  # in place: one large temporary, not three
    sigma = np.sqrt(np.einsum("ij,ij->i", resid, resid) / n)
    return fit, end, sigma


def fit_bands_batch(closes: ArrayLike, params: BandParams) -> Bands:
    """Fit m series of n closes at once (rows of ``closes``), sharing one basis.

    >>> t = np.linspace(0.0, 1.0, 40)
    >>> b = fit_bands_batch(np.vstack([100 + 5 * t, 50 + 2 * t**2]), BandParams(degree=2))
    >>> np.round(b.sigma, 12).tolist()   # both are exactly polynomials of degree <= 2
    [0.0, 0.0]
    """
    arr = np.asarray(closes, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"closes must be a 2-D array (series x candles), got shape {arr.shape}")
    for row in range(arr.shape[0]):
        check_prices(arr[row], what=f"closes[{row}]")
    if arr.shape[1] < min_candles(params.degree):
        raise DataError(_too_few(arr.shape[1], params.degree))
    fitted, _, sigma = _fit_rows(_to_y(arr, params.price_scale), params.degree, keep_fit=True)
    fit_y = cast(Float64Array, fitted)  # keep_fit=True: never None
    half = params.kstd * sigma[:, None]
    return Bands(
        fit=_from_y(fit_y, params.price_scale),
        lower=_from_y(fit_y - half, params.price_scale),
        upper=_from_y(fit_y + half, params.price_scale),
        sigma=sigma,
    )


def fit_bands(close: ArrayLike, params: BandParams) -> Bands:
    """Fit one series; the arrays of the result have shape (n,) and ``sigma`` shape ().

    >>> b = fit_bands(np.linspace(10.0, 20.0, 30), BandParams(degree=2, kstd=2.0))
    >>> round(float(b.fit[-1]), 9), round(float(b.sigma), 9)
    (20.0, 0.0)
    """
    batch = fit_bands_batch(check_prices(close)[None, :], params)
    return Bands(batch.fit[0], batch.lower[0], batch.upper[0], batch.sigma[0])


def classify(
    price: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> tuple[list[Signal], Float64Array]:
    """Signals and potential returns (percent) of prices against their bands, element-wise.

    >>> signals, potential = classify([90.0, 130.0, 110.0], [100.0] * 3, [120.0, 125.0, 120.0])
    >>> signals, potential.tolist()
    (['BUY', 'SELL', 'HOLD'], [20.0, 20.0, 0.0])
    """
    p, lo, up = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (price, lower, upper))
    buy, sell = p < lo, p > up
    potential = np.where(buy, (up - lo) / lo * 100.0, np.where(sell, (up - lo) / up * 100.0, 0.0))
    signals: list[Signal] = [
        "BUY" if b else "SELL" if s else "HOLD" for b, s in zip(buy, sell, strict=True)
    ]
    return signals, potential


class SignalResult(NamedTuple):
    """The signal of one series at its latest closed candle, with the numbers behind it.

    ``error`` is set (and the signal is HOLD) when there were too few candles
    or the prices were unusable; the numeric fields are then ``None``.
    (A NamedTuple rather than a frozen dataclass: a scan makes one per symbol,
    and a frozen dataclass costs several times more to build.)
    """

    signal: Signal
    potential_return: float
    candles: int
    window: int
    partial_window: bool
    price: float | None = None
    lower: float | None = None
    upper: float | None = None
    fit: float | None = None
    sigma: float | None = None
    target_return: float | None = None
    error: str | None = None
    #: The band series over the window, when asked for (``with_bands=True``).
    bands: Bands | None = None


def error_result(message: str, candles: int, window: int) -> SignalResult:
    """A HOLD with ``message`` and no numbers: what a series that cannot be fitted gets."""
    return SignalResult(
        signal="HOLD",
        potential_return=0.0,
        candles=candles,
        window=window,
        partial_window=candles < window,
        error=message,
    )


def scan_signals(
    series: Sequence[ArrayLike], params: BandParams, window: int, *, with_bands: bool = False
) -> list[SignalResult]:
    """The signal of each series over its last ``window`` closes, in the order given.

    Series with the same number of candles are fitted together; shorter ones
    (newly listed symbols) use all they have and report ``partial_window``.
    ``with_bands`` also returns each series' fit and bands over its window.

    >>> up = np.linspace(100.0, 200.0, 60)
    >>> r = scan_signals([up, up[:20]], BandParams(degree=2), window=60)
    >>> [x.signal for x in r], r[1].error
    (['HOLD', 'HOLD'], '20 candles are too few for degree 2; at least 30 are needed')
    """
    if window < 1:
        raise ConfigError(f"window must be at least 1 candle, got {window}")
    results: list[SignalResult | None] = [None] * len(series)
    groups: dict[int, list[tuple[int, Float64Array]]] = {}
    for i, raw in enumerate(series):
        tail = np.asarray(raw, dtype=np.float64)
        if tail.ndim != 1:
            results[i] = error_result(f"bad price data: shape {tail.shape} is not 1-D", 0, window)
            continue
        tail = tail[-window:]
        groups.setdefault(tail.shape[0], []).append((i, tail))
    for n, members in groups.items():
        # Blocks of rows small enough to stay in cache and under malloc's mmap
        # threshold: fresh large arrays cost a page fault per 4 KiB on every call.
        step = max(1, _BLOCK_VALUES // n)
        for start in range(0, len(members), step):
            block = members[start : start + step]
            closes = np.array([close for _, close in block])
            for row, result in enumerate(_block_signals(closes, params, window, with_bands)):
                results[block[row][0]] = result
    return [r for r in results if r is not None]


#: Values (float64) per block of rows in ``scan_signals``: 120 KiB.
_BLOCK_VALUES = 15_360


def _block_signals(
    closes: Float64Array, params: BandParams, window: int, with_bands: bool
) -> list[SignalResult]:
    """Signals of rows of closes of one length: errors per row, the valid rows fitted at once."""
    n = closes.shape[1]
    needed = min_candles(params.degree)
    out: list[SignalResult | None] = [None] * closes.shape[0]
    bad = ~np.isfinite(closes) | (closes <= 0)
    bad_rows = bad.any(axis=1)
    for row in np.flatnonzero(bad_rows):
        col = int(np.flatnonzero(bad[row])[0])
        out[row] = error_result(
            f"bad price data: close[{col}] = {float(closes[row, col])!r} "
            "is not a positive finite price",
            n,
            window,
        )
    good = np.flatnonzero(~bad_rows)
    if n < needed:
        for row in good:
            out[row] = error_result(_too_few(n, params.degree), n, window)
    elif good.size:
        valid = closes if good.size == closes.shape[0] else closes[good]
        results = _signals_of(valid, params, window, with_bands)
        for row, result in zip(good, results, strict=True):
            out[row] = result
    return [r for r in out if r is not None]


def _signals_of(
    closes: Float64Array, params: BandParams, window: int, with_bands: bool
) -> list[SignalResult]:
    """Signals of rows of valid closes of one length, computed for all rows at once."""
    n = closes.shape[1]
    fit_rows, end, sigma = _fit_rows(_to_y(closes, params.price_scale), params.degree, with_bands)
    half = params.kstd * sigma
    fit = _from_y(end, params.price_scale)
    lower = _from_y(end - half, params.price_scale)
    upper = _from_y(end + half, params.price_scale)
    price = closes[:, -1]
    signals, potential = classify(price, lower, upper)
    target = (fit - price) / price * 100.0
    partial = n < window
    bands: list[Bands | None] = [None] * closes.shape[0]
    if fit_rows is not None:
        half_rows = half[:, None]
        bands = [
            Bands(
                fit=_from_y(fit_rows[r], params.price_scale),
                lower=_from_y(fit_rows[r] - half_rows[r], params.price_scale),
                upper=_from_y(fit_rows[r] + half_rows[r], params.price_scale),
                sigma=sigma[r],
            )
            for r in range(closes.shape[0])
        ]
    return [
        SignalResult(sig, p, n, window, partial, pr, lo, up, f, sg, tr, None, b)
        for sig, p, pr, lo, up, f, sg, tr, b in zip(
            signals,
            potential.tolist(),
            price.tolist(),
            lower.tolist(),
            upper.tolist(),
            fit.tolist(),
            sigma.tolist(),
            target.tolist(),
            bands,
            strict=True,
        )
    ]


def compute_signal(close: ArrayLike, params: BandParams, window: int) -> SignalResult:
    """The signal of one series over its last ``window`` closes (see ``scan_signals``)."""
    return scan_signals([close], params, window)[0]


@dataclass(frozen=True, slots=True)
class WalkForwardBands:
    """Bands through time without look-ahead: entry t uses closes t-window+1 .. t only.

    Arrays have the length of the series; entries before the first full window are NaN.
    """

    window: int
    fit: Float64Array
    lower: Float64Array
    upper: Float64Array
    sigma: Float64Array


#: Above this ratio of window energy to residual sum of squares, ``|y|^2 - |Q^T y|^2``
#: could lose more than ~1e-11 of its relative precision, so the residuals of
#: such windows are computed explicitly (rare: a steep, almost noiseless trend).
_CANCELLATION_LIMIT = 1e5


def _endpoint_terms(
    y: Float64Array, window: int, degrees: Sequence[int]
) -> tuple[Float64Array, Float64Array]:
    """For every trailing window and degree: the fitted value at its last point and its RSS.

    Returns two arrays of shape (len(degrees), windows), in the fitted scale.
    The endpoint fit is the fixed filter ``Q q_last`` applied to the window,
    and ``RSS = |y|^2 - |Q^T y|^2``: rolling dot products, no solve per bar.
    One basis of the highest degree serves every degree (its first d+1
    columns), so a sweep over degrees costs about one fit. The series is first
    shifted by its median (the constant is in the span, so no fit changes) to
    keep the subtraction well conditioned.
    """
    q = basis(window, max(degrees))
    shift = float(np.median(y))
    views = sliding_window_view(y - shift, window)
    count = views.shape[0]
    fit_end = np.empty((len(degrees), count))
    rss = np.empty((len(degrees), count))
    # Windows are copied in blocks of at most _WF_BLOCK_VALUES values, so memory
    # stays bounded (a year of hourly windows over five years would be gigabytes).
    step = max(1, _WF_BLOCK_VALUES // window)
    for start in range(0, count, step):
        windows = np.ascontiguousarray(views[start : start + step])
        coef = windows @ q
        energy = np.einsum("ij,ij->i", windows, windows)
        if len(degrees) == 1:  # one degree: plain dot products (the common case)
            projected = np.einsum("ij,ij->i", coef, coef)[:, None]
            ends = (coef @ q[-1])[:, None]
            columns = [0]
        else:
            projected = np.cumsum(coef * coef, axis=1)  # |Q_d^T y|^2 for d = 0, 1, ...
            ends = np.cumsum(coef * q[-1], axis=1)  # the fitted endpoint for d = 0, 1, ...
            columns = list(degrees)
        for k, (degree, column) in enumerate(zip(degrees, columns, strict=True)):
            block_rss = energy - projected[:, column]
            risky = np.flatnonzero(block_rss * _CANCELLATION_LIMIT < energy)
            if risky.size:
                # Explicit residuals for these few windows: exact, whatever the trend.
                qd = q[:, : degree + 1]
                local = windows[risky]
                resid = local - (local @ qd) @ qd.T
                block_rss[risky] = np.einsum("ij,ij->i", resid, resid)
            fit_end[k, start : start + step] = shift + ends[:, column]
            rss[k, start : start + step] = block_rss
    return fit_end, np.maximum(rss, 0.0)


#: Values (float64) per block of copied windows in the walk-forward: 2 MiB.
_WF_BLOCK_VALUES = 1 << 18


def walk_forward(close: ArrayLike, window: int, params: BandParams) -> WalkForwardBands:
    """The trailing-window band series of ``close`` (see the spec's walk-forward section).

    >>> c = np.exp(np.linspace(0.0, 1.0, 50))
    >>> wf = walk_forward(c, 40, BandParams(degree=3))
    >>> bool(np.isnan(wf.fit[:39]).all()), bool(np.isfinite(wf.fit[39:]).all())
    (True, True)
    """
    sweep = walk_forward_sweep(close, window, [params.degree], params.price_scale)
    lower, fit, upper = sweep.bands(0, params.kstd)
    return WalkForwardBands(window, fit, lower, upper, sweep.sigma[0])


@dataclass(frozen=True, slots=True)
class BandSweep:
    """Walk-forward fits for several degrees of one series and window (fitted scale).

    ``fit[k]`` and ``sigma[k]`` belong to ``degrees[k]``; entries before the first
    full window are NaN. ``bands(k, kstd)`` gives price-scale lower / fit / upper:
    a sweep over kstd reuses the fit and sigma.
    """

    window: int
    degrees: tuple[int, ...]
    price_scale: PriceScale
    fit: Float64Array
    sigma: Float64Array

    def bands(self, k: int, kstd: float) -> tuple[Float64Array, Float64Array, Float64Array]:
        half = kstd * self.sigma[k]
        fit = self.fit[k]
        return (
            _from_y(fit - half, self.price_scale),
            _from_y(fit, self.price_scale),
            _from_y(fit + half, self.price_scale),
        )


def walk_forward_sweep(
    close: ArrayLike, window: int, degrees: Sequence[int], price_scale: PriceScale = "linear"
) -> BandSweep:
    """The trailing-window fits of ``close`` for every degree in ``degrees`` at once.

    >>> c = np.exp(np.linspace(0.0, 1.0, 80))
    >>> sweep = walk_forward_sweep(c, 40, [2, 5])
    >>> one = walk_forward(c, 40, BandParams(degree=5, kstd=2.0))
    >>> lower, fit, upper = sweep.bands(1, 2.0)
    >>> bool(np.allclose(fit[39:], one.fit[39:], rtol=1e-12))
    True
    """
    for d in degrees:
        BandParams(degree=d, price_scale=price_scale)  # validates each degree
    if not degrees:
        raise ConfigError("give at least one degree")
    prices = check_prices(close)
    needed = min_candles(max(degrees))
    if window < needed:
        raise ConfigError(
            f"window of {window} candles is too short for degree {max(degrees)}; "
            f"at least {needed} are needed"
        )
    n = prices.shape[0]
    fit = np.full((len(degrees), n), np.nan)
    sigma = np.full((len(degrees), n), np.nan)
    if n >= window:
        fits, rss = _endpoint_terms(_to_y(prices, price_scale), window, list(degrees))
        fit[:, window - 1 :] = fits
        sigma[:, window - 1 :] = np.sqrt(rss / window)
    return BandSweep(window, tuple(degrees), price_scale, fit, sigma)
