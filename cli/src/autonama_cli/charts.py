"""PNG charts of a scan with matplotlib: closes, the fit, both bands, the signal marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np

mpl.use("Agg")  # files only, never a window
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from autonama_shared.results import SymbolResult

__all__ = ["draw_symbol_chart"]

_COLOURS = {"BUY": "#1a7f37", "SELL": "#cf222e", "HOLD": "#6e7781"}


def draw_symbol_chart(result: SymbolResult, folder: Path) -> Path | None:
    """Write ``<SYMBOL>_<interval>.png`` into ``folder``; None when there is no series to draw."""
    series = result.series
    if series is None or not series.open_time:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    times = np.array(series.open_time, dtype="datetime64[ms]")
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
    try:
        ax.plot(times, series.close, color="#24292f", linewidth=1.0, label="close")
        ax.plot(times, series.fit, color="#0969da", linewidth=1.4, label="fit")
        ax.plot(times, series.upper, color="#cf222e", linewidth=1.0, linestyle="--", label="upper")
        ax.plot(times, series.lower, color="#1a7f37", linewidth=1.0, linestyle="--", label="lower")
        ax.fill_between(times, series.lower, series.upper, color="#0969da", alpha=0.06)
        marker = {"BUY": "^", "SELL": "v", "HOLD": "o"}[result.signal]
        ax.scatter(
            [times[-1]], [series.close[-1]], s=120, marker=marker,
            color=_COLOURS[result.signal], zorder=5, label=f"{result.signal} (last close)",
        )  # fmt: skip
        title = (
            f"{result.symbol} {result.interval}: {result.signal}, "
            f"potential {result.potential_return:.2f}%"
        )
        if result.target_return is not None:
            title += f", to fit {result.target_return:+.2f}%"
        ax.set_title(title)
        ax.set_ylabel("price (USDT)")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
        ax.grid(alpha=0.25)
        ax.legend(loc="upper left", fontsize=8)
        fig.autofmt_xdate()
        target = folder / f"{result.symbol}_{result.interval}.png"
        fig.savefig(target)
    finally:
        plt.close(fig)
    return target
