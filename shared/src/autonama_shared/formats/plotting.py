"""PNG charts with matplotlib: closes, the fit, both bands, the signal marked.

An adapter beside the pure core (like backtesting.py's ``_plotting.py``): it
needs the ``plots`` extra (``autonama-shared[plots]``), which only the CLI and
the alerts API install.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter

from autonama_shared.formats.results import ScanParameters, SymbolResult

__all__ = [
    "band_chart_png",
    "draw_symbol_chart",
    "equity_chart_png",
    "heatmap_png",
    "window_notes",
]

_COLOURS = {"BUY": "#1a7f37", "SELL": "#cf222e", "HOLD": "#6e7781"}


def _notes(ax: Axes, notes: Sequence[str]) -> None:
    """Warnings a reader must not miss, in a box in the lower left corner."""
    if notes:
        ax.text(
            0.01,
            0.02,
            "\n".join(notes),
            transform=ax.transAxes,
            fontsize=8,
            va="bottom",
            bbox={"facecolor": "#fff8c5", "edgecolor": "#d4a72c", "alpha": 0.95},
            zorder=6,
        )


def _plain_log_ticks(ax: Axes) -> None:
    """Tick labels of a log axis as plain numbers (1.5, 2, 3), not 2x10^0."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def band_chart_png(
    title: str,
    open_time_ms: Sequence[int],
    close: Sequence[float],
    fit: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    signal: str,
    markers: Sequence[tuple[int, float, str]] = (),
    *,
    log_scale: bool = False,
    notes: Sequence[str] = (),
) -> bytes:
    """A PNG of closes, fit and bands; ``signal`` marks the last close, ``markers`` are
    earlier signals as (open time in ms, price, BUY/SELL). A log fit (``log_scale``) is
    drawn on a log price axis, where its bands are straight-line parallels; ``notes`` are
    shown in a box (a partial window, a lower band below zero)."""
    times = np.array(open_time_ms, dtype="datetime64[ms]")
    fig = Figure(figsize=(11, 5.5), dpi=100)
    ax = fig.subplots()
    ax.plot(times, close, color="#24292f", linewidth=1.0, label="close")
    ax.plot(times, fit, color="#0969da", linewidth=1.4, label="fit")
    ax.plot(times, upper, color="#cf222e", linewidth=1.0, linestyle="--", label="upper")
    ax.plot(times, lower, color="#1a7f37", linewidth=1.0, linestyle="--", label="lower")
    ax.fill_between(times, lower, upper, color="#0969da", alpha=0.06)
    for kind in ("BUY", "SELL"):
        points = [(t, p) for t, p, s in markers if s == kind]
        if points:
            ax.scatter(
                np.array([t for t, _ in points], dtype="datetime64[ms]"),
                [p for _, p in points],
                s=60,
                marker="^" if kind == "BUY" else "v",
                color=_COLOURS[kind],
                zorder=4,
                label=f"{kind} alerts",
            )
    marker = {"BUY": "^", "SELL": "v", "HOLD": "o"}.get(signal, "o")
    ax.scatter(
        [times[-1]],
        [close[-1]],
        s=120,
        marker=marker,
        color=_COLOURS.get(signal, "#6e7781"),
        zorder=5,
        label=f"{signal} (last close)",
    )
    ax.set_title(title, fontsize=10)
    if log_scale:
        ax.set_yscale("log")
        _plain_log_ticks(ax)
    ax.set_ylabel("price (USDT, log scale)" if log_scale else "price (USDT)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    ax.grid(alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)
    _notes(ax, notes)
    fig.autofmt_xdate()
    return _png(fig)


def window_notes(lower: Sequence[float], candles: int, window: int, partial: bool) -> list[str]:
    """What a chart of a window must say about it.

    >>> window_notes([-1.0, 2.0], 208, 720, True)
    ['partial window: 208 of 720 candles', 'lower band below zero: no price can reach it']
    """
    notes = []
    if partial:
        notes.append(f"partial window: {candles} of {window} candles")
    if len(lower) and min(lower) < 0:
        notes.append("lower band below zero: no price can reach it")
    return notes


def draw_symbol_chart(
    result: SymbolResult, folder: Path, parameters: ScanParameters | None = None
) -> Path | None:
    """Write ``<SYMBOL>_<interval>.png`` into ``folder``; None when there is no series to draw."""
    series = result.window()
    if series is None or not len(series.open_time):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    title = f"{result.symbol} {result.interval}"
    if parameters is not None:
        title += (
            f" (degree {parameters.degree}, kstd {parameters.kstd:g}, {parameters.days} days, "
            f"{parameters.price_scale})"
        )
    title += f": {result.signal}, potential {result.potential_return:.2f}%"
    if result.target_return is not None:
        title += f", to fit {result.target_return:+.2f}%"
    window = parameters.window if parameters is not None else result.candles
    png = band_chart_png(
        title,
        series.open_time,
        series.close,
        series.fit,
        series.lower,
        series.upper,
        result.signal,
        log_scale=parameters is not None and parameters.price_scale == "log",
        notes=window_notes(series.lower, result.candles, window, result.partial_window),
    )
    target = folder / f"{result.symbol}_{result.interval}.png"
    target.write_bytes(png)
    return target


def equity_chart_png(
    title: str,
    open_time_ms: Sequence[int],
    strategy: Sequence[float] | np.ndarray,
    buy_and_hold: Sequence[float] | np.ndarray,
    entries: Sequence[int] = (),
    exits: Sequence[int] = (),
    *,
    notes: Sequence[str] = (),
) -> bytes:
    """Equity of the strategy against buy-and-hold; ``entries`` / ``exits`` are bar indexes;
    ``notes`` in a box (what the bars are: in or out of sample). No trade says so."""
    times = np.array(open_time_ms, dtype="datetime64[ms]")
    equity = np.asarray(strategy, dtype=float)
    fig = Figure(figsize=(11, 5), dpi=100)
    ax = fig.subplots()
    ax.plot(times, buy_and_hold, color="#6e7781", linewidth=1.0, label="buy and hold")
    ax.plot(times, equity, color="#0969da", linewidth=1.4, label="band strategy")
    if len(entries):
        ax.scatter(
            times[list(entries)],
            equity[list(entries)],
            marker="^",
            s=30,
            color=_COLOURS["BUY"],
            zorder=4,
            label="entries",
        )
    if len(exits):
        ax.scatter(
            times[list(exits)],
            equity[list(exits)],
            marker="v",
            s=30,
            color=_COLOURS["SELL"],
            zorder=4,
            label="exits",
        )
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("equity (start = 1, log scale)")
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))  # type: ignore[no-untyped-call]
    ax.grid(alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)
    _notes(ax, [*notes, *([] if len(entries) else ["0 trades on these bars"])])
    fig.autofmt_xdate()
    return _png(fig)


def heatmap_png(
    title: str,
    degrees: Sequence[int],
    kstds: Sequence[float],
    values: np.ndarray,
    label: str,
    chosen: tuple[int, float] | None = None,
) -> bytes:
    """A degree x kstd heatmap of ``values`` (shape: degrees x kstds), annotated; the
    ``chosen`` (degree, kstd) cell outlined."""
    fig = Figure(figsize=(1.2 + 0.75 * len(kstds), 1.2 + 0.5 * len(degrees)), dpi=100)
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdYlGn", aspect="auto", origin="lower")
    ax.set_xticks(range(len(kstds)), [f"{k:g}" for k in kstds])
    ax.set_yticks(range(len(degrees)), [str(d) for d in degrees])
    ax.set_xlabel("kstd")
    ax.set_ylabel("degree")
    ax.set_title(title, fontsize=9)
    for i in range(len(degrees)):
        for j in range(len(kstds)):
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7)
    if chosen is not None and chosen[0] in degrees and chosen[1] in kstds:
        i, j = list(degrees).index(chosen[0]), list(kstds).index(chosen[1])
        ax.add_patch(
            Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5)
        )
        ax.text(j, i + 0.32, "chosen", ha="center", va="center", fontsize=6, weight="bold")
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return _png(fig)
