"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the real
stack (PostgreSQL, Kafka, the services as processes, the alerts API over uvicorn).

Screenshots go to artifacts/screenshots/ (ignored by git).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright

from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.integration.test_alerts_api import start_api
from tests.support.factories import make_signal, make_token, store
from tests.support.stack import Stack

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make browser` (apt-get install chromium) installs it",
            pytrace=False,
        )
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def pool(pg_settings: PostgresSettings) -> AsyncIterator[asyncpg.Pool]:
    async with open_pool(pg_settings) as p:
        async with p.acquire() as conn:
            await migrate(conn, pg_settings.db_schema)
        yield p


async def canvas_is_drawn(page: Page) -> bool:
    """More than a handful of distinct colours in the chart's canvases: something was drawn."""
    colours: int = await page.evaluate(
        """() => {
            const seen = new Set();
            for (const c of document.querySelectorAll('#chart canvas')) {
                if (!c.width || !c.height) continue;
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 0; i < d.length; i += 28) {
                    seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
                }
            }
            return seen.size;
        }"""
    )
    return colours > 8


async def test_the_alerts_page_live_updates_chart_and_scan_form(
    browser: Browser,
    pool: asyncpg.Pool,
    stack: Stack,
    pg_settings: PostgresSettings,
    kafka_settings: KafkaSettings,
    tmp_path: Path,
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await store(
        pool,
        make_signal("BTCUSDT", "BUY", 40, potential=12.0, candles=40),
        make_signal("ETHUSDT", "SELL", 40, potential=8.0, candles=40),
        make_signal("SOLUSDT", "HOLD", 40, candles=40),
    )
    for name in ("ingestor", "analyzer", "fetcher"):
        stack.start(name)
    proc, api = await asyncio.to_thread(
        start_api, pg_settings, kafka_settings, tmp_path / "api.log"
    )
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        # As `make up` prints it: the page's address carries a write token once.
        token = await make_token(pg_settings, "write")
        await page.goto(f"{api}/alerts#token={token}")
        await page.wait_for_function("window.autonamaReady === true")
        assert "token" not in page.url  # moved to the browser's storage, out of sight

        # The table shows the stored current alerts (HOLD is not an alert).
        symbols = await page.locator("#alerts tbody tr th").all_inner_texts()
        assert symbols == ["BTCUSDT", "ETHUSDT"]  # by potential return, strongest first
        assert await page.locator("#count-buy").inner_text() == "1"
        badges = await page.locator("#alerts tbody .signal").all_inner_texts()
        assert badges == ["▲ BUY", "▼ SELL"]  # the text carries the signal, not only colour
        await page.screenshot(path=str(SHOTS / "alerts.png"), full_page=True)

        # A new alert committed now appears within 2 s, without a reload.
        committed = time.monotonic()
        await store(pool, make_signal("XRPUSDT", "BUY", 41, potential=30.0, candles=40))
        await page.locator("#alerts tbody tr[data-key^='XRPUSDT']").wait_for(timeout=2000)
        assert time.monotonic() - committed < 2.0
        assert (await page.locator("#alerts tbody tr th").all_inner_texts())[0] == "XRPUSDT"

        # The chart of a symbol: candles and three band lines, actually drawn.
        await page.get_by_role("button", name="BTCUSDT").click()
        await page.wait_for_function(
            "window.autonamaChart && window.autonamaChart.symbol === 'BTCUSDT'"
        )
        data = await page.evaluate("window.autonamaChart")
        assert data == {
            "symbol": "BTCUSDT",
            "candles": 40,
            "fit": 40,
            "upper": 40,
            "lower": 40,
            "markers": 1,
        }
        await page.wait_for_timeout(300)
        assert await canvas_is_drawn(page)
        await page.locator("#chart-panel").screenshot(path=str(SHOTS / "chart.png"))

        # A scan posted from the form runs to completion on the page.
        await page.select_option("#scan-universe", "symbols")
        await page.fill("#scan-symbols", "BTCUSDT,ETHUSDT,SOLUSDT")
        await page.fill("#scan-days", "365")
        await page.get_by_role("button", name="Scan now").click()
        await page.wait_for_function(
            "document.getElementById('scan-progress').dataset.status === 'finished'",
            timeout=90_000,
        )
        progress = await page.locator("#scan-progress").inner_text()
        assert "finished, 3 of 3 symbols" in progress

        # Usable at 375 px: nothing but the table scrolls sideways.
        await page.set_viewport_size({"width": 375, "height": 800})
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        await page.screenshot(path=str(SHOTS / "alerts-375px.png"), full_page=True)

        # Nothing left this machine.
        hosts = {urlsplit(u).hostname for u in requests}
        assert hosts <= {"127.0.0.1", "localhost"}, hosts
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
