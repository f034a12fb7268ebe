"""The PNG charts say what a reader must not miss: the chosen cell, a log axis, warnings."""

from __future__ import annotations

import io

import matplotlib.image as mpimg
import numpy as np

from autonama_shared.formats.plotting import band_chart_png, equity_chart_png, heatmap_png


def pixels(png: bytes) -> np.ndarray:
    image: np.ndarray = mpimg.imread(io.BytesIO(png), format="png")
    return image


def test_the_chosen_heatmap_cell_is_marked() -> None:
    grid = np.array([[0.1, 0.5], [0.9, 0.3]])
    plain = pixels(heatmap_png("t", [2, 4], [1.5, 2.0], grid, "sharpe"))
    marked = pixels(heatmap_png("t", [2, 4], [1.5, 2.0], grid, "sharpe", chosen=(4, 1.5)))
    assert plain.shape == marked.shape
    changed = np.argwhere(np.any(plain != marked, axis=2))
    assert len(changed) > 100  # an outline and a label, not noise
    # drawn where (degree 4, kstd 1.5) is: the lower left quarter of the image (origin lower)
    rows, cols = marked.shape[:2]
    centre = changed.mean(axis=0)
    assert centre[0] < rows * 0.6
    assert centre[1] < cols * 0.6


def test_log_fits_notes_and_zero_trades_change_the_picture() -> None:
    times = [1_700_000_000_000 + i * 86_400_000 for i in range(50)]
    close = list(np.linspace(100, 400, 50))
    args = ("t", times, close, close, [c * 0.8 for c in close], [c * 1.2 for c in close], "HOLD")
    linear = pixels(band_chart_png(*args))
    log = pixels(band_chart_png(*args, log_scale=True))
    noted = pixels(band_chart_png(*args, notes=["partial window: 50 of 720 candles"]))
    assert np.any(linear != log)
    assert np.any(linear != noted)
    equity = np.linspace(1, 2, 50)
    traded = pixels(equity_chart_png("t", times, equity, equity, [3], [9]))
    idle = pixels(equity_chart_png("t", times, equity, equity))  # says "0 trades"
    assert np.any(traded != idle)
