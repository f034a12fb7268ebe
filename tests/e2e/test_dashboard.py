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
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from autonama_shared.db import migrate, outcomes
from autonama_shared.db.pool import open_pool
from autonama_shared.db.scans import record_plan
from autonama_shared.messaging.events import (
    ScanParams,
    ScanPlanned,
    ScanRequested,
)
from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.support.api import start_api
from tests.support.factories import (
    live_close,
    make_signal,
    make_token,
    sine_close,
    store,
    store_scored_market,
)
from tests.support.stack import Stack

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


async def until(page: Page, expression: str, timeout: float = 30_000) -> None:  # noqa: ASYNC109
    """Wait until ``expression`` is truthy in the page. Polled with ``page.evaluate`` (the
    browser's debugger), not ``wait_for_function``, which evaluates a string inside the page:
    the dashboard's CSP refuses that (no 'unsafe-eval'), as it should."""
    deadline = time.monotonic() + timeout / 1000
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout / 1000:g} s: {expression}")
        await asyncio.sleep(0.05)


async def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        # evaluated by the browser's debugger, not as a script tag: the page's CSP allows no
        # inline script, and must not be loosened for the test
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found: list[str] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ['violations'] });
            return result.violations
                .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}: ` +
                            v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ') + ')');
        }"""
    )
    return found


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


async def record_failed_scan(pool: asyncpg.Pool, why: str) -> str:
    """A scan whose universe could not be resolved, as the fetcher reports it."""
    request = ScanRequested(
        origin="test", params=ScanParams(interval="1d", days=365, degree=4, kstd=2.0), top=10
    )
    plan = ScanPlanned(scan_id=request.scan_id, request=request, symbols=[], window=365, error=why)
    async with pool.acquire() as conn, conn.transaction():
        await record_plan(conn, plan)
    return request.scan_id


@pytest.mark.slow
async def test_the_market_watch_live_feed_charts_failures_and_scan_form(
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
        make_signal("BTCUSDT", "HOLD", 40, degree=6, candles=40),  # another parameter set
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
        await until(page, "window.autonamaReady === true")
        assert "token" not in page.url  # moved to the browser's storage, out of sight

        # Every key, HOLD included, a symbol's parameter sets together.
        rows = page.locator("#market tbody tr")
        symbols = await page.locator("#market tbody tr th").all_inner_texts()
        assert symbols == ["BTCUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"]
        badges = await page.locator("#market tbody .signal").all_inner_texts()
        assert badges == ["▲ BUY", "HOLD", "▼ SELL", "HOLD"]  # text, not only colour
        params = await page.locator("#market tbody td.params").all_inner_texts()
        assert params[:2] == ["1d · deg 4 · k 2 · 720 d", "1d · deg 6 · k 2 · 720 d"]
        assert await page.locator("#count-keys").inner_text() == "4"
        assert await page.locator("#count-hold").inner_text() == "2"
        # candles of 2026-02-10 are long closed: every row says stale
        assert await page.locator("#market tbody .stale").count() == 4
        await page.screenshot(path=str(SHOTS / "market.png"), full_page=True)
        assert await accessibility_problems(page) == []

        # A row's chart is that row's fit: the degree-6 BTCUSDT row draws degree 6.
        await rows.nth(1).get_by_role("button").click()
        await until(page, "window.autonamaChart && window.autonamaChart.degree === 6")
        chart = await page.evaluate("window.autonamaChart")
        row_id = await rows.nth(1).get_attribute("data-signal-id")
        assert str(chart["signal_id"]) == row_id
        assert (chart["symbol"], chart["kstd"], chart["days"]) == ("BTCUSDT", 2.0, 720)
        assert (chart["candles"], chart["bands"], chart["candlesticks"]) == (40, 3, True)
        assert "deg 6" in await page.locator("#chart-title").inner_text()
        legend = await page.locator("#legend").inner_text()
        assert all(word in legend for word in ("O ", "H ", "L ", "C ", "fit", "lower", "upper"))
        await page.wait_for_timeout(300)
        assert await canvas_is_drawn(page)
        await page.locator("#chart-panel").screenshot(path=str(SHOTS / "chart.png"))
        assert await accessibility_problems(page) == []  # the chart panel open

        # A symbol with the same parameters at another interval: a timeframe switch.
        await store(pool, make_signal("BTCUSDT", "HOLD", 40, interval="4h", candles=40))
        await page.evaluate("loadMarket()")
        await rows.nth(0).get_by_role("button").click()  # BTCUSDT 1d, degree 4
        switch = page.get_by_role("group", name="Timeframe")
        await switch.wait_for()
        assert await switch.get_by_role("button").all_inner_texts() == ["4h", "1d"]
        await switch.get_by_role("button", name="4h").click()
        await until(page, "window.autonamaChart.interval === '4h'")
        assert (await page.evaluate("window.autonamaChart"))["degree"] == 4
        await page.locator("#chart-panel").screenshot(path=str(SHOTS / "chart-4h.png"))

        # A close of the open chart's key that raises no alert (HOLD after HOLD, as most of
        # a live market's closes): the row and the chart follow it, the candle appended,
        # the bands the new fit's.
        shown = await page.evaluate("window.autonamaChart")
        feed = await page.locator("#feed li").count()
        await store(pool, live_close(make_signal("BTCUSDT", "HOLD", 41, interval="4h", candles=40)))
        await until(page, "window.autonamaChart.appended === 1", timeout=3000)
        followed = await page.evaluate("window.autonamaChart")
        assert followed["signal_id"] != shown["signal_id"]
        assert followed["candles"] == shown["candles"] + 1 == 41
        assert followed["last_candle_time"].startswith("2026-02-11")
        row = page.locator("#market tbody tr[data-key^='BTCUSDT|4h|4|']")
        assert await row.get_attribute("data-signal-id") == str(followed["signal_id"])
        assert "2026-02-11" in await page.locator("#fit-numbers").inner_text()
        assert await page.locator("#feed li").count() == feed  # it raised no alert
        await page.locator("#chart-panel").screenshot(path=str(SHOTS / "chart-live.png"))

        # A new alert committed now is in the feed and the market within 2 s.
        committed = time.monotonic()
        await store(pool, make_signal("XRPUSDT", "BUY", 41, potential=30.0, candles=40))
        await page.locator("#feed li", has_text="XRPUSDT").wait_for(timeout=2000)
        await page.locator("#market tbody tr[data-key^='XRPUSDT']").wait_for(timeout=2000)
        assert time.monotonic() - committed < 2.5

        # BTCUSDT (degree 4) turns HOLD: an "ended" alert arrives live and the row follows.
        await store(pool, make_signal("BTCUSDT", "HOLD", 41, candles=40))
        ended = page.locator("#feed li.ended", has_text="BTCUSDT")
        await ended.wait_for(timeout=2000)
        assert "BUY ended" in await ended.inner_text()
        await until(
            page,
            """[...document.querySelectorAll('#market tbody tr')].filter(
                   (r) => r.dataset.key.startsWith('BTCUSDT|1d|4|')
               ).every((r) => r.querySelector('.signal').textContent === 'HOLD')""",
            timeout=3000,
        )

        # A scan that failed as a whole says why, on the page left open (no reload: the
        # stream's market event has the page read the summary again).
        await record_failed_scan(pool, "top 10 by volume: Binance answered 418 I'm a teapot")
        problems = page.locator("#problems")
        await problems.wait_for(timeout=15_000)
        assert "418 I'm a teapot" in await problems.inner_text()

        # A search with no match says so (not "nothing scanned").
        await page.fill("#filter-symbol", "ZZZ")
        await until(
            page, "document.getElementById('market-status').textContent.includes('No key matches')"
        )
        await page.fill("#filter-symbol", "")

        # A scan posted from the form runs to completion on the page.
        await page.select_option("#scan-universe", "symbols")
        await page.fill("#scan-symbols", "BTCUSDT,ETHUSDT,SOLUSDT")
        await page.fill("#scan-days", "365")
        await page.get_by_role("button", name="Scan now").click()
        await until(
            page,
            "document.getElementById('scan-progress').dataset.status === 'finished'",
            timeout=90_000,
        )
        progress = await page.locator("#scan-progress").inner_text()
        assert "finished, 3 of 3 symbols" in progress

        # A backtest through the pipeline, on the page: the chosen parameters beside
        # buy-and-hold, the equity curve and the degree x kstd heatmap, the chosen cell marked.
        body = {
            "symbols": ["BTCUSDT"],
            "degrees": [2, 4],
            "kstds": [1.5, 2.0],
            "windows": [365],
            "history": 1000,
            "split": 0.6,
        }
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=api, headers=auth, timeout=10) as client:
            posted = await client.post("/v1/backtests", json=body)
            assert posted.status_code == 202, posted.text
            for _ in range(300):
                got = await client.get(posted.headers["location"])  # 404 until recorded
                detail = got.json()
                if got.status_code == 200 and detail["status"] in ("finished", "failed"):
                    break
                await asyncio.sleep(0.3)
        assert detail["status"] == "finished", detail
        chosen = detail["results"][0]["chosen"]
        await page.evaluate("loadBacktests()")
        row = page.locator(f"#backtests tbody tr[data-id='{detail['backtest_id']}']")
        await row.get_by_role("button").click()
        await until(page, "window.autonamaBacktest && window.autonamaBacktest.cells")
        shown = await page.evaluate("window.autonamaBacktest")
        assert shown["symbol"] == "BTCUSDT"
        assert (shown["cells"], shown["chosen"]) == (4, 1)  # 2 degrees x 2 kstd, one chosen
        assert shown["equity"] > 100
        params_text = await page.locator("#backtest-symbols tbody tr td.params").inner_text()
        assert params_text == f"deg {chosen['degree']} · k {chosen['kstd']:g} · window 365"
        marked = await page.locator("#heatmap td.chosen").inner_text()
        metric = chosen["metrics"]["sharpe"]
        assert marked == f"{metric:.2f}"
        assert "Out of sample only: the last 40%" in await page.locator("#equity-note").inner_text()
        await page.locator(".backtests").screenshot(path=str(SHOTS / "backtest.png"))
        assert await accessibility_problems(page) == []

        # Notifications: a subscription made from the form, its secret shown once, refused
        # input explained, then paused from its row.
        await page.fill("#notify-name", "apprise-bad")
        await page.select_option("#notify-kind", "apprise")
        await page.fill("#notify-url", "nosuch://x")
        await page.click("#notify-form button[type=submit]")
        status = page.locator("#notify-status")
        await status.filter(has_text="Not subscribed").wait_for()
        assert "nosuch:// is not accepted" in await status.inner_text()
        await page.fill("#notify-name", "my receiver")
        await page.select_option("#notify-kind", "webhook")
        await page.fill("#notify-url", "https://example.com/hooks/autonama")
        await page.fill("#notify-symbols", "BTC*, ETHUSDT")
        await page.select_option("#notify-signals", "BUY")
        await page.fill("#notify-min", "10")
        await page.click("#notify-form button[type=submit]")
        await status.filter(has_text="Signing secret").wait_for()
        assert "whsec_" in await status.inner_text()
        row = page.locator("#subscriptions tbody tr")
        await row.first.wait_for()
        assert await row.count() == 1
        cells = await row.first.locator("td").all_inner_texts()
        assert cells[:4] == [
            "my receiver",
            "webhook: https://example.com/hooks/autonama",
            "BTC* ETHUSDT, BUY, ≥ 10%",
            "enabled",
        ]
        await row.first.get_by_role("button", name="Disable my receiver").click()
        await page.locator("#subscriptions tbody td", has_text="disabled").wait_for()
        assert await accessibility_problems(page) == []
        await (
            page.locator("#notify-title")
            .locator("..")
            .screenshot(path=str(SHOTS / "notifications.png"))
        )

        # A phone (390 x 844): no sideways scrolling, symbol, signal and potential in view.
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.wait_for_timeout(200)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        first = page.locator("#market tbody tr").first
        for cell in (first.locator("th"), first.locator(".signal"), first.locator("td.potential")):
            box = await cell.bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= 390, box
        await page.screenshot(path=str(SHOTS / "market-390px.png"), full_page=True)
        assert await accessibility_problems(page) == []
        await page.emulate_media(color_scheme="dark")
        assert await accessibility_problems(page) == []  # contrast in dark mode too

        # Nothing left this machine.
        hosts = {urlsplit(u).hostname for u in requests}
        assert hosts <= {"127.0.0.1", "localhost"}, hosts
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)


async def test_the_api_docs_render_with_no_network(
    browser: Browser, pg_settings: PostgresSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) from vendored assets: nothing fetched elsewhere."""
    async with open_pool(pg_settings) as p, p.acquire() as conn:
        await migrate(conn, pg_settings.db_schema)
    proc, api = await asyncio.to_thread(
        start_api, pg_settings, kafka_settings, tmp_path / "api.log"
    )
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        # What was loaded: a request the page's Content-Security-Policy refuses never leaves
        # (ReDoc's bundle asks cdn.redoc.ly for a logo) and gets no response.
        loaded: list[str] = []
        page.on("response", lambda r: loaded.append(r.url))
        refused: list[tuple[str, str | None]] = []
        page.on("requestfailed", lambda r: refused.append((r.url, r.failure)))
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        await page.goto(f"{api}/docs")
        title = page.locator(".swagger-ui .info .title")
        await title.wait_for(timeout=15_000)
        assert "Autonama alerts API" in await title.inner_text()
        await page.locator("#operations-market-market_watch_v1_market_get").wait_for()
        await page.goto(f"{api}/redoc")
        heading = page.locator("h1", has_text="Autonama alerts API")
        await heading.wait_for(timeout=15_000)
        await page.get_by_text("/v1/market", exact=False).first.wait_for()
        hosts = {urlsplit(u).hostname for u in loaded if u.startswith("http")}
        assert hosts <= {"127.0.0.1", "localhost"}, hosts
        # Nothing even asked for elsewhere (ReDoc's logo was, refused by the page's policy:
        # an error in the console).
        assert refused == []
        assert console_errors == []

        # The dashboard opened without a token: it does not ask for the subscriptions
        # (a 401 in the console) but says what it needs.
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        await page.goto(f"{api}/alerts")
        await until(page, "window.autonamaReady === true")
        status = page.locator("#notify-status")
        await status.wait_for(timeout=5000)
        assert "write token" in await status.inner_text()
        assert [u for u in requested if "/v1/subscriptions" in u] == []
        assert console_errors == []
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)


MINUS, EN_DASH = "\u2212", "\u2013"  # as the page writes a sign and a range


def outcome_badge(o: dict[str, Any] | None) -> str:
    """What the feed must say of an alert's outcome (README: How alerts are scored)."""
    if o is None:
        return "not scored yet"
    if o["bars_seen"] == 0:
        return "entry at the next bar's open"

    def bars(n: int) -> str:
        return f"{n} bar{'' if n == 1 else 's'}"

    h = next(h for h in (20, 5, 1) if o[f"return_{h}"] is not None)
    r = o[f"return_{h}"]
    parts = [f"{'+' if r >= 0 else MINUS}{abs(r):.2f}% after {bars(h)}"]
    if o["target_hit_after"] is not None:
        parts.append(f"target hit after {bars(o['target_hit_after'])}")
    else:
        parts.append("target missed" if o["final"] else "target not hit yet")
    if o["final"]:
        parts.append("final")
    return " · ".join(parts)


def beside_text(b: dict[str, Any]) -> str:
    """What the scorecard must say of the backtest beside a group."""
    if not b["trades"]:
        return f"no trades in {b['bars']} bars"
    net = b["median_net_return"]
    return (
        f"{b['trades']} trade{'' if b['trades'] == 1 else 's'} · "
        f"{b['target_exit_rate'] * 100:.1f}% at the fit · {b['win_rate'] * 100:.1f}% won · "
        f"median {'+' if net >= 0 else MINUS}{abs(net):.2f}% net"
    )


@pytest.mark.slow
async def test_outcome_badges_the_scorecard_and_a_charts_entry_and_target(
    browser: Browser,
    pool: asyncpg.Pool,
    pg_settings: PostgresSettings,
    kafka_settings: KafkaSettings,
    tmp_path: Path,
) -> None:
    """45 daily BUY closes of one key and 25 of another, scored by the ingestor's keeper:
    the feed's badges say what each alert's /outcome says, the scorecard's rows are the
    API's groups (sortable, by symbol or by parameter set, too few said so), and a chart
    marks its newest scored alerts' entries, targets and the bars that hit them."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    await store_scored_market(pool)
    proc, api = await asyncio.to_thread(
        start_api, pg_settings, kafka_settings, tmp_path / "api.log"
    )
    client: httpx.AsyncClient | None = None
    try:
        token = await make_token(pg_settings, "read")
        auth = {"Authorization": f"Bearer {token}"}
        client = httpx.AsyncClient(base_url=api, headers=auth, timeout=10)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{api}/alerts#token={token}")
        await until(page, "window.autonamaReady === true")

        # The feed: each alert's badge is its outcome so far.
        listed = (await client.get("/v1/alerts?latest=false&sort=time&limit=50")).json()["items"]
        assert len(listed) == 50
        feed = page.locator("#feed li")
        await until(page, "document.querySelectorAll('#feed li .outcome').length === 50")
        shown = await feed.locator(".outcome").all_inner_texts()
        assert shown == [outcome_badge(a["outcome"]) for a in listed]
        assert {a["outcome"]["final"] for a in listed} == {True, False}  # both kinds shown
        assert await feed.locator(".outcome.up").count() + await feed.locator(
            ".outcome.down"
        ).count() == sum(a["outcome"]["bars_seen"] > 0 for a in listed)

        # A bar closes and the keeper scores it: the newest alert's badge follows.
        newest = listed[0]["id"]
        assert shown[0] == "entry at the next bar's open"
        await store(pool, sine_close("SCOREUSDT", 46))
        await outcomes.update(pool)
        scored = (await client.get(f"/v1/alerts/{newest}/outcome")).json()
        assert scored["bars_seen"] == 1
        badge = page.locator(f"#feed li[data-id='{newest}'] .outcome")
        for _ in range(50):  # the page cache refreshes on the keeper's NOTIFY
            await page.evaluate("refreshOutcomes()")
            if await badge.inner_text() == outcome_badge(scored):
                break
            await asyncio.sleep(0.1)
        assert await badge.inner_text() == outcome_badge(scored)
        await page.locator(".feed").screenshot(path=str(SHOTS / "outcomes.png"))

        # The scorecard by symbol: the API's groups, the most alerts first.
        await page.evaluate("loadScorecard()")  # as it does every minute
        card = (await client.get("/v1/scorecard?by=symbol&by=interval")).json()
        rows = page.locator("#scorecard tbody tr")
        assert await rows.locator("th").all_inner_texts() == ["SCOREUSDT 1d", "FEWUSDT 1d"]
        score = next(g for g in card["groups"] if g["key"]["symbol"] == "SCOREUSDT")
        cells = await rows.nth(0).locator("td").all_inner_texts()
        low, high = score["target_hit_interval"]
        assert cells == [
            str(score["count"]),
            f"{score['target_hit_rate'] * 100:.1f} ({low * 100:.1f}{EN_DASH}{high * 100:.1f})",
            f"{score['opposite_band_hit_rate'] * 100:.1f}",
            *(f"{score['returns'][h]['median_gross']:.2f}" for h in ("1", "5", "20")),
            f"{score['returns']['5']['median_net']:.2f}",
            f"{score['median_bars_to_target']:g}",
            f"{score['median_max_adverse']:.2f}",
        ]
        few = await rows.nth(1).locator("td").all_inner_texts()
        assert few[:2] == ["5", "fewer than 20"]  # no rate claimed
        assert await rows.nth(1).get_attribute("class") == "insufficient"
        # sorted by a column's button: the fewest first, then the most again
        alerts_heading = page.locator("#scorecard th[data-sort='count']")
        await alerts_heading.get_by_role("button").click()
        assert await alerts_heading.get_attribute("aria-sort") == "ascending"
        assert await rows.locator("th").all_inner_texts() == ["FEWUSDT 1d", "SCOREUSDT 1d"]
        await alerts_heading.get_by_role("button").click()
        assert await rows.locator("th").all_inner_texts() == ["SCOREUSDT 1d", "FEWUSDT 1d"]
        await page.locator(".scorecard").screenshot(path=str(SHOTS / "scorecard.png"))
        assert await accessibility_problems(page) == []
        # beside the backtest of the same bars (compare=backtest): the API's figures
        await page.check("#scorecard-compare")
        await until(page, "!document.querySelector('#scorecard th.beside').hidden")
        compared = (await client.get("/v1/scorecard?by=symbol&by=interval&compare=backtest")).json()
        beside = [
            next(g for g in compared["groups"] if g["key"]["symbol"] == s)["backtest"]
            for s in ("SCOREUSDT", "FEWUSDT")
        ]
        assert all(b["bars"] > 0 for b in beside)
        assert await rows.locator("td.beside").all_inner_texts() == [beside_text(b) for b in beside]
        await page.locator(".scorecard").screenshot(path=str(SHOTS / "scorecard-backtest.png"))
        assert await accessibility_problems(page) == []
        await page.uncheck("#scorecard-compare")
        await until(page, "document.querySelector('#scorecard th.beside').hidden")
        # by parameter set: both keys share theirs, enough final outcomes together to judge
        await page.get_by_role("button", name="By parameter set").click()
        await until(page, "document.querySelector('#scorecard tbody th').textContent.includes('·')")
        assert await rows.locator("th").all_inner_texts() == ["1d · deg 4 · k 2 · 720 d"]
        together = sum(g["count"] for g in card["groups"])  # 26 + 5
        assert (await rows.nth(0).locator("td").all_inner_texts())[0] == str(together)

        # The chart of the newest alert: its key's newest three scored alerts marked.
        await feed.nth(0).get_by_role("button").click()
        await until(page, "window.autonamaChart && window.autonamaChart.symbol === 'SCOREUSDT'")
        chart = await page.evaluate("window.autonamaChart")
        bands = (await client.get(f"/v1/signals/{chart['signal_id']}/bands")).json()
        marked = sorted(
            (a for a in bands["alerts"] if a["outcome"] and a["outcome"]["bars_seen"] > 0),
            key=lambda a: -a["id"],
        )[:3]
        assert len(marked) == 3
        assert chart["entries"] == chart["targets"] == 3
        assert chart["target_hits"] == sum(
            a["outcome"]["target_hit_after"] is not None for a in marked
        )
        assert chart["markers"] == len(bands["alerts"]) + 3 + chart["target_hits"]
        await page.wait_for_timeout(300)
        assert await canvas_is_drawn(page)
        await page.locator("#chart-panel").screenshot(path=str(SHOTS / "chart-outcomes.png"))
        assert await accessibility_problems(page) == []
    finally:
        if client is not None:
            await client.aclose()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
