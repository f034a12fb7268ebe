// The market watch: the current signal of every scanned key (HOLD included), grouped
// by symbol, with a live feed of alerts beside it (EventSource), the chart of a row's
// own fit (TradingView Lightweight Charts) and a scan form. No framework, nothing
// loaded from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
const market = new Map(); // key -> row of /v1/market
let cursor = null; // the next page of keys, when there is one
let chart = null;
let view = null; // the open chart: its key, series and what it shows (appended to live)
let lastAlertId = 0;

const keyOf = (r) => [r.symbol, r.interval, r.degree, r.kstd, r.price_scale, r.days].join("|");
const when = (t) => new Date(t).toISOString().slice(0, 16).replace("T", " ");
const pct = (x) => (x == null ? "–" : Number(x).toFixed(2));

// Prices: enough decimals for the magnitude (0.2934 for a sub-dollar coin, 63,250.1 for BTC).
function decimalsFor(x) {
  const a = Math.abs(Number(x));
  if (!isFinite(a) || a === 0) return 2;
  return Math.min(10, Math.max(2, 4 - Math.floor(Math.log10(a))));
}
const price = (x, ref = x) => (x == null ? "–" : Number(x).toFixed(decimalsFor(ref)));

function age(ms) {
  const s = Math.max(0, ms / 1000);
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 129600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

// A link to one signal's chart (#signal=<id>): what notifications link to.
const linkedSignal = new URLSearchParams(location.hash.slice(1)).get("signal");

// The API token: `make up` prints the page's address with #token=...; it is kept in
// this browser's storage (never in the address bar, a URL or a server log) and sent in
// the Authorization header. "Forget token" removes it from this browser.
const token = (() => {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    localStorage.setItem("autonamaToken", fromLink);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem("autonamaToken");
})();
{
  const forget = document.getElementById("forget-token");
  forget.hidden = !token;
  forget.addEventListener("click", () => {
    localStorage.removeItem("autonamaToken");
    location.reload();
  });
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  // no-cache: the browser revalidates with the page's ETag (a 304 costs the server nothing)
  const response = await fetch(path, { cache: "no-cache", ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

// Retried with backoff (1, 2, 4 … 30 s) while the API cannot be reached; says so meanwhile.
async function retrying(what, load) {
  for (let delay = 1000; ; delay = Math.min(30000, delay * 2)) {
    try {
      return await load();
    } catch (error) {
      setConnection("offline", `${what}: ${error.message}; retrying in ${Math.round(delay / 1000)} s`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function setConnection(state, text) {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = text;
}

function badge(signal, ended) {
  const span = document.createElement("span");
  span.className = `signal ${signal}`;
  // Text and arrow carry the meaning; colour only repeats it.
  span.textContent = ended ? "■ ENDED" : signal === "BUY" ? "▲ BUY" : signal === "SELL" ? "▼ SELL" : "HOLD";
  return span;
}

// ---- Outcomes: what the market did after a BUY or SELL alert (README: How alerts are
// scored). Returns exist only at 1, 5 and 20 bars, once that bar has closed.
const signed = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(Number(x)).toFixed(2)}`;
const barsText = (n) => `${n} bar${n === 1 ? "" : "s"}`;
const latestReturn = (o) => [20, 5, 1].find((h) => o[`return_${h}`] != null);

function outcomeText(o) {
  if (o.bars_seen === 0) return "entry at the next bar's open";
  const h = latestReturn(o);
  const parts = [h ? `${signed(o[`return_${h}`])}% after ${barsText(h)}` : `${barsText(o.bars_seen)} seen`];
  parts.push(o.target_hit_after != null
    ? `target hit after ${barsText(o.target_hit_after)}`
    : o.final ? "target missed" : "target not hit yet");
  if (o.final) parts.push("final");
  return parts.join(" · ");
}

// The feed's badge of an alert's outcome so far; none for an ended alert (nothing to score).
function outcomeBadge(a) {
  if (a.reason === "ended" || (a.signal !== "BUY" && a.signal !== "SELL")) return null;
  const span = document.createElement("span");
  span.className = "outcome";
  const o = a.outcome;
  if (!o) {
    span.textContent = "not scored yet";
    return span;
  }
  span.textContent = outcomeText(o);
  const h = latestReturn(o);
  if (h) span.classList.add(o[`return_${h}`] >= 0 ? "up" : "down");
  span.dataset.final = String(o.final);
  return span;
}

// The feed's alerts again (the newest page, cached by the server until an outcome moves):
// their badges follow the bars that closed since.
async function refreshOutcomes() {
  const recent = await api("/v1/alerts?latest=false&sort=time&limit=50");
  for (const a of recent.items) {
    const old = $("feed").querySelector(`li[data-id="${a.id}"] .outcome`);
    const fresh = outcomeBadge(a);
    if (old && fresh && old.textContent !== fresh.textContent) old.replaceWith(fresh);
  }
}

function sparkline(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", "90");
  svg.setAttribute("height", "24");
  svg.setAttribute("role", "img");
  if (values.length < 2) {
    svg.setAttribute("aria-label", "no closes stored");
    return svg;
  }
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  const points = values.map((v, i) => `${(i / (values.length - 1)) * 88 + 1},${22 - ((v - lo) / span) * 20 + 1}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  const change = ((values[values.length - 1] / values[0]) - 1) * 100;
  svg.setAttribute("aria-label", `last ${values.length} closes, ${change >= 0 ? "up" : "down"} ${Math.abs(change).toFixed(1)}%`);
  return svg;
}

function params(r) {
  return `${r.interval} · deg ${r.degree} · k ${r.kstd} · ${r.days} d${r.price_scale === "log" ? " · log" : ""}`;
}

function renderMarket(freshKey) {
  const rows = [...market.values()];
  const body = $("market").tBodies[0];
  let previous = null;
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.key = keyOf(r);
      tr.dataset.signalId = r.signal_id;
      tr.classList.add(r.symbol === previous ? "same-symbol" : "group-start");
      previous = r.symbol;
      if (tr.dataset.key === freshKey) tr.classList.add("fresh");
      const symbol = document.createElement("button");
      symbol.type = "button";
      symbol.className = "symbol";
      symbol.textContent = r.symbol;
      symbol.setAttribute("aria-label", `${r.symbol} ${params(r)}: chart`);
      symbol.addEventListener("click", () => openChart(r.signal_id));
      const head = document.createElement("span");
      const sub = document.createElement("span");
      sub.className = "sub"; // the parameters under the symbol, where the column is hidden
      sub.textContent = params(r);
      head.append(symbol, sub);
      const closed = Date.now() - new Date(r.candle_closed_at).getTime();
      const stale = Date.now() > new Date(r.stale_after).getTime();
      const candle = document.createElement("span");
      const daily = /[dwM]$/.test(r.interval);
      const opened = when(r.last_candle_time);
      candle.textContent = `${daily ? opened.slice(0, 10) : opened} · ${age(closed)} ago`;
      candle.title = `candle opened ${opened} UTC, closed ${when(r.candle_closed_at)} UTC`;
      if (stale) {
        const mark = document.createElement("span");
        mark.className = "stale";
        mark.textContent = " stale";
        mark.title = "No newer candle for more than two intervals: scan again";
        candle.append(mark);
      }
      const cells = [
        [head, "th"], [params(r), "td", "params"], [badge(r.signal), "td"],
        [price(r.price), "td", "num"], [price(r.lower, r.price), "td", "num wide"],
        [price(r.upper, r.price), "td", "num wide"], [r.band_distance.toFixed(2), "td", "num wide"],
        [pct(r.potential_return), "td", "num potential"], [pct(r.target_return), "td", "num wide"],
        [candle, "td", "wide"], [sparkline(r.closes), "td", "wide"],
      ];
      for (const [content, tag, cls] of cells) {
        const cell = document.createElement(tag);
        if (tag === "th") cell.scope = "row";
        if (cls) cell.className = cls;
        cell.append(content);
        tr.append(cell);
      }
      return tr;
    }),
  );
  $("more").hidden = !cursor;
  const q = $("filter-symbol").value.trim();
  const filtered = q || $("filter-interval").value || $("filter-signal").value;
  const status = $("market-status");
  if (rows.length) {
    status.textContent = "";
  } else if (filtered) {
    status.textContent = `No key matches${q ? ` “${q.toUpperCase()}”` : ""} with these filters.`;
  } else {
    status.textContent = "Nothing scanned yet: run a scan below, or `make demo`.";
  }
  if (freshKey) setTimeout(() => document.querySelector("tr.fresh")?.classList.remove("fresh"), 2000);
}

function marketQuery(after) {
  const q = new URLSearchParams({ limit: "500" });
  const symbol = $("filter-symbol").value.trim();
  if (symbol) q.set("q", symbol.toUpperCase());
  if ($("filter-interval").value) q.set("interval", $("filter-interval").value);
  if ($("filter-signal").value) q.set("signal", $("filter-signal").value);
  if (after) q.set("cursor", after);
  return `/v1/market?${q}`;
}

async function loadMarket(freshKey) {
  const page = await api(marketQuery(null));
  market.clear();
  page.items.forEach((r) => market.set(keyOf(r), r));
  cursor = page.next_cursor;
  $("count-keys").textContent = page.keys;
  $("count-buy").textContent = page.counts.BUY;
  $("count-sell").textContent = page.counts.SELL;
  $("count-hold").textContent = page.counts.HOLD;
  const intervals = new Set(page.items.map((r) => r.interval));
  const select = $("filter-interval");
  for (const i of intervals) {
    if (![...select.options].some((o) => o.value === i)) select.append(new Option(i, i));
  }
  renderMarket(freshKey);
  followChart().catch(() => {});
}

async function loadMore() {
  if (!cursor) return;
  const page = await api(marketQuery(cursor));
  page.items.forEach((r) => market.set(keyOf(r), r));
  cursor = page.next_cursor;
  renderMarket();
}

async function loadSummary() {
  const s = await api("/v1/alerts/summary");
  $("last-scan").textContent = s.last_scan_finished_at
    ? `${when(s.last_scan_finished_at)} UTC (${s.last_scan_symbols} symbols)` : "none yet";
  $("failed-symbols").textContent = s.failed_symbols ?? "–";
  const problems = $("problems");
  problems.replaceChildren(...s.recent_failures.map((f) => {
    const p = document.createElement("p");
    p.textContent = `Scan ${f.scan_id.slice(0, 8)} (${when(f.requested_at)} UTC) failed: ${f.error || "no reason given"}`;
    return p;
  }));
  problems.hidden = s.recent_failures.length === 0;
}

function feedItem(a) {
  const li = document.createElement("li");
  li.dataset.id = a.id;
  const ended = a.reason === "ended";
  if (ended) li.classList.add("ended");
  const symbol = document.createElement("button");
  symbol.type = "button";
  symbol.className = "symbol";
  symbol.textContent = a.symbol;
  symbol.addEventListener("click", () => openChart(a.signal_id));
  const what = document.createElement("span");
  what.textContent = ended
    ? ` ${a.previous_signal} ended at ${price(a.price)} (${params(a)})`
    : ` ${a.reason} at ${price(a.price)}, potential ${pct(a.potential_return)}% (${params(a)})`;
  const at = document.createElement("span");
  at.className = "when";
  at.textContent = `candle ${when(a.last_candle_time)} UTC · alert ${when(a.created_at)} UTC`;
  li.append(badge(a.signal, ended), " ", symbol, what, at);
  const outcome = outcomeBadge(a);
  if (outcome) li.append(outcome);
  return li;
}

function addToFeed(a, top = true) {
  const feed = $("feed");
  if (feed.querySelector(`li[data-id="${a.id}"]`)) return;
  const item = feedItem(a);
  if (top) feed.prepend(item); else feed.append(item);
  while (feed.children.length > 100) feed.lastElementChild.remove();
  $("feed-empty").hidden = true;
}

let marketReload = null;
function scheduleMarketReload(freshKey) {
  clearTimeout(marketReload);
  marketReload = setTimeout(() => {
    loadMarket(freshKey).catch(() => {});
    // the state moved: a scan may have failed as a whole (no alert says so)
    loadSummary().catch(() => {});
  }, 150);
}

// The stream, with our own reconnection: EventSource retries by itself, but gives up for
// good on some errors (a 401, a 503 while the database is away); resumed after the last id.
// EventSource cannot send the token: when reads need one, a single-use ticket opens the
// stream (asked for with the token in its header); when they do not, nothing is sent.
let source = null;
async function streamTicket() {
  if (!token) return "";
  try {
    const answer = await api("/v1/alerts/stream/ticket", { method: "POST" });
    return answer.ticket ? `&ticket=${encodeURIComponent(answer.ticket)}` : "";
  } catch {
    return "";
  }
}

async function connect(delay = 1000) {
  const ticket = await streamTicket();
  // market=true: also told when any close is stored (HOLD ones raise no alert)
  source = new EventSource(`/v1/alerts/stream?after=${lastAlertId}&market=true${ticket}`);
  source.addEventListener("open", () => { setConnection("live", "live"); delay = 1000; });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      setConnection("offline", `offline; reconnecting in ${Math.round(delay / 1000)} s`);
      setTimeout(() => connect(Math.min(30000, delay * 2)), delay);
    } else {
      setConnection("reconnecting", "reconnecting…");
    }
  });
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    lastAlertId = Math.max(lastAlertId, alert.id);
    window.autonamaLastAlert = alert.id;
    addToFeed(alert);
    scheduleMarketReload(keyOf(alert));
    loadSummary().catch(() => {});
  });
  // A close stored (HOLD included): the rows, and the open chart, follow it.
  source.addEventListener("market", () => scheduleMarketReload());
}

function binanceLink(symbol) {
  const quotes = ["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL"];
  const quote = quotes.find((q) => symbol.endsWith(q) && symbol.length > q.length);
  const pair = quote ? `${symbol.slice(0, -quote.length)}_${quote}` : symbol;
  return `https://www.binance.com/en/trade/${pair}?type=spot`;
}

// The same symbol and parameters at other intervals (market rows): one button each.
function showTimeframes(data) {
  const same = [...market.values()].filter((r) =>
    r.symbol === data.symbol && r.degree === data.degree && r.kstd === data.kstd &&
    r.days === data.days && r.price_scale === data.price_scale);
  const group = $("timeframes");
  const intervals = new Map(same.map((r) => [r.interval, r.signal_id]));
  intervals.set(data.interval, data.signal_id);
  group.hidden = intervals.size < 2;
  const order = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"];
  group.replaceChildren(...[...intervals.keys()]
    .sort((a, b) => order.indexOf(a) - order.indexOf(b))
    .map((interval) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = interval;
      button.setAttribute("aria-pressed", String(interval === data.interval));
      button.addEventListener("click", () => openChart(intervals.get(interval)));
      return button;
    }));
}

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

async function openChart(signalId) {
  const panel = $("chart-panel");
  const status = $("chart-status");
  panel.hidden = false;
  status.dataset.state = "loading";
  status.textContent = "Loading the chart…";
  let data;
  try {
    data = await api(`/v1/signals/${signalId}/bands`);
  } catch (error) {
    status.dataset.state = "error";
    status.textContent = `The chart could not be loaded: ${error.message}`;
    return;
  }
  status.textContent = "";
  status.dataset.state = "ok";
  const title = $("chart-title");
  title.replaceChildren(`${data.symbol} · ${params(data)} · ${data.signal} · `);
  const link = document.createElement("a");
  link.href = binanceLink(data.symbol);
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  link.textContent = "on Binance";
  title.append(link);
  showTimeframes(data);
  const container = $("chart");
  if (chart) chart.remove();
  const decimals = decimalsFor(data.price);
  const fg = css("--fg"), grid = css("--line");
  chart = LightweightCharts.createChart(container, {
    autoSize: true,
    layout: { attributionLogo: false, background: { color: "transparent" }, textColor: fg },
    grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    rightPriceScale: { mode: data.price_scale === "log" ? 1 : 0 }, // 1: logarithmic
    localization: { priceFormatter: (p) => p.toFixed(decimals) },
    timeScale: { timeVisible: data.interval.endsWith("m") || data.interval.endsWith("h") },
  });
  const t = data.open_time.map((ms) => ms / 1000);
  const buy = css("--buy"), sell = css("--sell"), link2 = css("--link");
  const candles = data.open && data.high && data.low;
  const main = candles
    ? chart.addSeries(LightweightCharts.CandlestickSeries, {
      upColor: buy, downColor: sell, wickUpColor: buy, wickDownColor: sell, borderVisible: false,
    })
    : chart.addSeries(LightweightCharts.LineSeries, { color: fg, lineWidth: 1 });
  main.setData(candles
    ? t.map((time, i) => ({ time, open: data.open[i], high: data.high[i], low: data.low[i], close: data.close[i] }))
    : t.map((time, i) => ({ time, value: data.close[i] })));
  const line = (values, color, style) => {
    const s = chart.addSeries(LightweightCharts.LineSeries, {
      color, lineWidth: 2, lineStyle: style, priceLineVisible: false, lastValueVisible: false,
    });
    s.setData(t.map((time, i) => ({ time, value: values[i] })));
    return s;
  };
  const fitLine = line(data.fit_series, link2, 0);
  const upper = line(data.upper_series, sell, 2);
  const lower = line(data.lower_series, buy, 2);
  const first = t[0], last = t[t.length - 1];
  const marks = outcomeMarks(data);
  const markers = markersOf(data, first, last, marks);
  const markerLayer = LightweightCharts.createSeriesMarkers(main, markers);
  // Room on the right (about 50 px) so that the last marker's text is never clipped.
  const room = Math.max(3, Math.ceil((50 * t.length) / Math.max(200, container.clientWidth - 80)));
  chart.timeScale().applyOptions({ rightOffset: room });
  chart.timeScale().fitContent();

  // What the legend shows at each time: the candles drawn (appended to live) and the
  // bands of the newest fit (times before its window have none).
  const bars = new Map(t.map((time, i) => [time, candles
    ? [["O", data.open[i]], ["H", data.high[i]], ["L", data.low[i]], ["C", data.close[i]]]
    : [["Close", data.close[i]]]]));
  view = {
    key: keyOf(data), signalId: data.signal_id, candles: Boolean(candles), decimals, bars,
    main, fitLine, upper, lower, markerLayer, last, data, appended: 0, markers: markers.length,
    targets: [], scored: null,
  };
  drawTargets(marks);
  chart.subscribeCrosshairMove((param) => showLegend(param.time ?? view.last));
  showLegend(last);
  showNumbers(data);
  publishChart();
  panel.scrollIntoView({ behavior: "smooth" });
}

function showLegend(time) {
  const { data, bars, decimals } = view;
  if (!bars.has(time)) return;
  const i = data.open_time.indexOf(time * 1000);
  const parts = [...bars.get(time)];
  if (i >= 0) {
    parts.push(["fit", data.fit_series[i]], ["lower", data.lower_series[i]], ["upper", data.upper_series[i]]);
  }
  $("legend").replaceChildren(
    `${when(time * 1000)} `,
    ...parts.map(([k, v]) => {
      const s = document.createElement("span");
      s.textContent = `${k} ${Number(v).toFixed(decimals)}`;
      return s;
    }),
  );
}

// The newest three scored alerts of a chart: the bar they entered at (the open after the
// alert), their target (the fit at the alert) and the bar that reached it, if one did.
function outcomeMarks(data) {
  const times = data.open_time;
  return data.alerts
    .filter((a) => a.outcome && a.outcome.bars_seen > 0)
    .sort((a, b) => b.id - a.id)
    .slice(0, 3)
    .flatMap((a) => {
      const o = a.outcome;
      const i = times.indexOf(new Date(a.last_candle_time).getTime());
      if (i < 0 || i + 1 >= times.length) return []; // its bars are not on this chart
      const k = o.target_hit_after;
      const hit = k != null && i + k < times.length ? times[i + k] / 1000 : null;
      const end = times[Math.min(times.length - 1, i + (k ?? o.bars_seen))] / 1000;
      return [{ alert: a, entry: times[i + 1] / 1000, end, hit }];
    });
}

function markersOf(data, first, last, marks = []) {
  const buy = css("--buy"), sell = css("--sell"), link = css("--link");
  // the newest alert's marks are labelled; the older ones' are smaller and unlabelled
  const scored = marks.flatMap(({ alert, entry, hit }, n) => [
    { time: entry, position: "atPriceMiddle", price: alert.outcome.entry_price, shape: "circle",
      color: link, text: n ? "" : "entry", size: n ? 0.5 : 0.8 },
    ...(hit == null ? [] : [{ time: hit, position: "atPriceMiddle", price: alert.outcome.target_price,
      shape: "square", color: alert.signal === "BUY" ? buy : sell, text: n ? "" : "target hit",
      size: n ? 0.5 : 0.8 }]),
  ]);
  return data.alerts
    .map((a) => {
      const ended = a.reason === "ended";
      return {
        time: Math.min(last, Math.max(first, new Date(a.last_candle_time).getTime() / 1000)),
        position: ended ? "inBar" : a.signal === "BUY" ? "belowBar" : "aboveBar",
        shape: ended ? "circle" : a.signal === "BUY" ? "arrowUp" : "arrowDown",
        color: ended ? css("--hold") : a.signal === "BUY" ? buy : sell,
        text: ended ? "END" : a.signal,
      };
    })
    .concat(scored)
    .sort((a, b) => a.time - b.time);
}

// Each mark's target: a dashed level from its entry to the bar that hit it (or the last
// bar scored). Drawn again when the chart follows a new close.
function drawTargets(marks) {
  for (const s of view.targets) chart.removeSeries(s);
  view.targets = marks.map(({ alert, entry, end }) => {
    const s = chart.addSeries(LightweightCharts.LineSeries, {
      color: css("--link"), lineWidth: 1, lineStyle: 1, priceLineVisible: false,
      lastValueVisible: false, crosshairMarkerVisible: false,
    });
    const level = alert.outcome.target_price;
    s.setData(entry < end ? [{ time: entry, value: level }, { time: end, value: level }] : [{ time: entry, value: level }]);
    return s;
  });
  view.scored = { entries: marks.length, hits: marks.filter((m) => m.hit != null).length };
}

// For tests and for whoever reads the page's state: what the chart shows.
function publishChart() {
  const { data } = view;
  window.autonamaChart = {
    signal_id: data.signal_id, symbol: data.symbol, interval: data.interval,
    degree: data.degree, kstd: data.kstd, days: data.days, fit: data.fit,
    candles: view.bars.size, bands: 3, markers: view.markers, appended: view.appended,
    candlesticks: view.candles, last_candle_time: data.last_candle_time,
    entries: view.scored.entries, target_hits: view.scored.hits, targets: view.targets.length,
  };
}

// The open chart's key has a newer signal (a candle closed): its candles are appended
// (the view stays where the reader left it) and the bands become the new fit's.
async function followChart() {
  if (!view || $("chart-panel").hidden) return;
  const row = market.get(view.key);
  if (!row || row.signal_id === view.signalId) return;
  if (new Date(row.last_candle_time) <= new Date(view.data.last_candle_time)) return;
  const signalId = row.signal_id;
  view.signalId = signalId; // one refresh per new signal
  let data;
  try {
    data = await api(`/v1/signals/${signalId}/bands`);
  } catch {
    return; // the next change tries again
  }
  if (!view || keyOf(data) !== view.key) return; // another chart opened meanwhile
  const t = data.open_time.map((ms) => ms / 1000);
  const candles = view.candles && data.open && data.high && data.low;
  t.forEach((time, i) => {
    if (time <= view.last) return; // drawn already
    const bar = candles
      ? { time, open: data.open[i], high: data.high[i], low: data.low[i], close: data.close[i] }
      : { time, value: data.close[i] };
    view.main.update(bar);
    view.bars.set(time, candles
      ? [["O", data.open[i]], ["H", data.high[i]], ["L", data.low[i]], ["C", data.close[i]]]
      : [["Close", data.close[i]]]);
    view.last = time;
    view.appended += 1;
  });
  view.fitLine.setData(t.map((time, i) => ({ time, value: data.fit_series[i] })));
  view.upper.setData(t.map((time, i) => ({ time, value: data.upper_series[i] })));
  view.lower.setData(t.map((time, i) => ({ time, value: data.lower_series[i] })));
  const shown = [...view.bars.keys()];
  const marks = outcomeMarks(data);
  const markers = markersOf(data, Math.min(...shown), view.last, marks);
  view.markerLayer.setMarkers(markers);
  drawTargets(marks);
  view.markers = markers.length;
  view.data = data;
  showLegend(view.last);
  showNumbers(data);
  publishChart();
}

function showNumbers(data) {
  const t = data.open_time;
  const numbers = [
    ["Signal", data.signal], ["Price", price(data.price)], ["Fit", price(data.fit, data.price)],
    ["Lower", price(data.lower, data.price)], ["Upper", price(data.upper, data.price)],
    ["Sigma", price(data.sigma, data.price)],
    ["Potential %", pct(data.potential_return)], ["Target %", pct(data.target_return)],
    ["Last candle", `${when(data.last_candle_time)} UTC`], ["Candles", t.length],
  ];
  $("fit-numbers").replaceChildren(...numbers.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
}

// ---- The scorecard: final outcomes by symbol or by parameter set (GET /v1/scorecard),
// sortable by any figure; a group too small to judge says so and sorts last.
let scoreBy = "symbol,interval";
let scoreSort = { key: "count", dir: -1 };
let scorecard = null;
const rate = (x) => (x == null ? "–" : (Number(x) * 100).toFixed(1));
const figure = (g, h, f) => (g.returns && g.returns[h] ? g.returns[h][f] : null);
const SCORE_SORTS = {
  group: (g) => groupLabel(g),
  count: (g) => g.count,
  target: (g) => g.target_hit_rate,
  opposite: (g) => g.opposite_band_hit_rate,
  r1: (g) => figure(g, "1", "median_gross"),
  r5: (g) => figure(g, "5", "median_gross"),
  r20: (g) => figure(g, "20", "median_gross"),
  net5: (g) => figure(g, "5", "median_net"),
  bars: (g) => g.median_bars_to_target,
  adverse: (g) => g.median_max_adverse,
};

function groupLabel(g) {
  const k = g.key;
  return k.symbol ? `${k.symbol} ${k.interval}` : params(k);
}

// What the backtest made of the same bars (compare=backtest): its trades of the group's side.
function besideText(b) {
  if (!b) return "–";
  if (!b.trades) return `no trades in ${b.bars} bars`;
  return `${b.trades} trade${b.trades === 1 ? "" : "s"} · ${rate(b.target_exit_rate)}% at the fit · ` +
    `${rate(b.win_rate)}% won · median ${signed(b.median_net_return)}% net`;
}

async function loadScorecard() {
  const compare = $("scorecard-compare").checked;
  const query = scoreBy.split(",").map((f) => `by=${f}`).join("&") + (compare ? "&compare=backtest" : "");
  scorecard = await api(`/v1/scorecard?${query}`);
  renderScorecard();
}

function renderScorecard() {
  if (!scorecard) return;
  const { key, dir } = scoreSort;
  const value = SCORE_SORTS[key];
  const groups = [...scorecard.groups].sort((a, b) => {
    const x = value(a), y = value(b);
    if (x == null || y == null) return (x == null) - (y == null); // no figure: last
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  for (const th of $("scorecard").tHead.rows[0].cells) {
    if (!th.dataset.sort) continue;
    th.setAttribute("aria-sort", th.dataset.sort !== key ? "none" : dir > 0 ? "ascending" : "descending");
  }
  const few = `fewer than ${scorecard.min_sample}`;
  const compared = scorecard.groups.some((g) => g.backtest);
  $("scorecard").tHead.querySelector("th.beside").hidden = !compared;
  $("scorecard").tBodies[0].replaceChildren(...groups.map((g) => {
    const tr = document.createElement("tr");
    tr.dataset.group = groupLabel(g);
    if (g.insufficient) tr.classList.add("insufficient");
    const th = cell("th", groupLabel(g));
    th.scope = "row";
    const hits = g.insufficient ? few
      : `${rate(g.target_hit_rate)} (${rate(g.target_hit_interval[0])}–${rate(g.target_hit_interval[1])})`;
    // beside the group's name when asked for: in view without scrolling the table
    tr.append(th, ...(compared ? [cell("td", besideText(g.backtest), "beside")] : []));
    tr.append(
      cell("td", String(g.count), "num"),
      cell("td", hits, "num"),
      cell("td", rate(g.opposite_band_hit_rate), "num wide"),
      ...["1", "5", "20"].map((h) => cell("td", pct(figure(g, h, "median_gross")), "num")),
      cell("td", pct(figure(g, "5", "median_net")), "num wide"),
      cell("td", g.median_bars_to_target == null ? "–" : String(g.median_bars_to_target), "num wide"),
      cell("td", pct(g.median_max_adverse), "num wide"),
    );
    return tr;
  }));
  $("scorecard-status").textContent = groups.length
    ? `${groups.length} group${groups.length === 1 ? "" : "s"}; returns are medians, in percent.`
    : "No final outcomes yet: an alert's outcome is final 20 bars after it.";
}

for (const button of $("scorecard-by").querySelectorAll("button")) {
  button.addEventListener("click", () => {
    for (const b of $("scorecard-by").querySelectorAll("button")) {
      b.setAttribute("aria-pressed", String(b === button));
    }
    scoreBy = button.dataset.by;
    loadScorecard().catch((error) => { $("scorecard-status").textContent = `The scorecard could not be loaded: ${error.message}`; });
  });
}
$("scorecard-compare").addEventListener("change", () => {
  loadScorecard().catch((error) => { $("scorecard-status").textContent = `The scorecard could not be loaded: ${error.message}`; });
});
for (const th of document.querySelectorAll("#scorecard th[data-sort]")) {
  th.querySelector("button").addEventListener("click", () => {
    const key = th.dataset.sort;
    // a new column sorts the most first (names from A); the same column turns around
    scoreSort = scoreSort.key === key
      ? { key, dir: -scoreSort.dir }
      : { key, dir: key === "group" ? 1 : -1 };
    renderScorecard();
  });
}

// ---- Backtests: runs, per symbol the chosen parameters beside buy-and-hold, the equity
// curve against buy-and-hold and the degree x kstd heatmap with the chosen cell marked.
const frac = (x) => (x == null ? "–" : (Number(x) * 100).toFixed(2));
const num = (x) => (x == null ? "–" : Number(x).toFixed(2));
let equityChart = null;

function cell(tag, text, cls) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  el.append(text);
  return el;
}

function backtestParams(p) {
  const list = (xs) => (Array.isArray(xs) ? xs.join(",") : xs);
  return `${p.interval} · deg ${list(p.degrees)} · k ${list(p.kstds)} · window ${list(p.windows)}` +
    (p.split ? ` · split ${p.split}` : "") + (p.folds ? ` · ${p.folds} folds` : "") +
    ` · ${p.metric ?? "sharpe"}`;
}

async function loadBacktests() {
  const list = await api("/v1/backtests?limit=10");
  const body = $("backtests").tBodies[0];
  body.replaceChildren(...list.map((b) => {
    const tr = document.createElement("tr");
    tr.dataset.id = b.backtest_id;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "symbol";
    open.textContent = b.backtest_id.slice(0, 8);
    open.setAttribute("aria-label", `backtest ${b.backtest_id}: details`);
    open.addEventListener("click", () => openBacktest(b.backtest_id));
    const th = cell("th", open);
    th.scope = "row";
    tr.append(
      th, cell("td", b.status + (b.error ? `: ${b.error}` : "")), cell("td", backtestParams(b.parameters), "params"),
      cell("td", `${b.symbols_done + b.symbols_failed} of ${b.symbols_expected ?? "?"}`, "num"),
      cell("td", `${when(b.requested_at)} UTC`),
    );
    return tr;
  }));
  $("backtests-status").textContent = list.length ? "" : "No backtests yet: `autonama backtest`, or POST /v1/backtests.";
}

async function openBacktest(id) {
  const status = $("backtests-status");
  status.textContent = "Loading the backtest…";
  let b;
  try {
    b = await api(`/v1/backtests/${id}`);
  } catch (error) {
    status.textContent = `The backtest could not be loaded: ${error.message}`;
    return;
  }
  status.textContent = "";
  $("backtest-detail").hidden = false;
  $("backtest-title").textContent = `Backtest ${id.slice(0, 8)}: ${b.status}, ${backtestParams(b.parameters)}`;
  const body = $("backtest-symbols").tBodies[0];
  body.replaceChildren(...b.results.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.symbol = r.symbol;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "symbol";
    button.textContent = r.symbol;
    button.addEventListener("click", () => openBacktestSymbol(b, r));
    const th = cell("th", button);
    th.scope = "row";
    if (r.error || !r.chosen) {
      tr.append(th, cell("td", r.error || "no result"));
      return tr;
    }
    const m = r.chosen.metrics, h = r.buy_and_hold || {};
    tr.append(
      th, cell("td", `deg ${r.chosen.degree} · k ${r.chosen.kstd} · window ${r.chosen.window}`, "params"),
      cell("td", frac(m.total_return), "num"), cell("td", num(m.sharpe), "num"),
      cell("td", frac(m.max_drawdown), "num"), cell("td", String(m.trades), "num"),
      cell("td", frac(m.win_rate), "num"), cell("td", frac(h.total_return), "num"),
      cell("td", num(h.sharpe), "num"), cell("td", frac(h.max_drawdown), "num"),
      cell("td", r.out_of_sample ? frac(r.out_of_sample.metrics.total_return) : "–", "num"),
    );
    return tr;
  }));
  const first = b.results.find((r) => r.chosen);
  if (first) openBacktestSymbol(b, first);
}

function openBacktestSymbol(b, r) {
  $("backtest-symbol").hidden = false;
  $("equity-title").textContent = `${r.symbol}: equity of deg ${r.chosen.degree} · k ${r.chosen.kstd} · window ${r.chosen.window} against buy-and-hold`;
  const container = $("equity");
  if (equityChart) equityChart.remove();
  const curve = r.equity_curve;
  const note = $("equity-note");
  const notes = [];
  const traded = (r.out_of_sample ?? r.chosen).metrics.trades;
  if (traded === 0) notes.push("0 trades: the bands were never crossed on these bars.");
  if (curve) {
    equityChart = LightweightCharts.createChart(container, {
      autoSize: true,
      layout: { attributionLogo: false, background: { color: "transparent" }, textColor: css("--fg") },
      grid: { vertLines: { color: css("--line") }, horzLines: { color: css("--line") } },
      localization: { priceFormatter: (p) => p.toFixed(3) },
    });
    const t = curve.time.map((ms) => ms / 1000);
    const strategy = equityChart.addSeries(LightweightCharts.LineSeries, { color: css("--link"), lineWidth: 2, title: "strategy" });
    strategy.setData(t.map((time, i) => ({ time, value: curve.equity[i] })));
    const hold = equityChart.addSeries(LightweightCharts.LineSeries, { color: css("--muted"), lineWidth: 1, lineStyle: 2, title: "buy and hold" });
    hold.setData(t.map((time, i) => ({ time, value: curve.buy_and_hold[i] })));
    if (b.parameters.split) {
      // With a split the parameters were chosen on the first part and the curve is the rest.
      notes.push(`Out of sample only: the last ${Math.round((1 - b.parameters.split) * 100)}% ` +
        "of the bars; the parameters were chosen on the part before them.");
    } else if (b.parameters.folds) {
      notes.push(`Walk-forward: the test parts of ${b.parameters.folds} folds chained, each ` +
        "traded with the parameters chosen on the bars before it.");
    } else {
      notes.push("In sample: chosen and traded on the same bars (use a split to test out of sample).");
    }
    equityChart.timeScale().fitContent();
  } else {
    container.replaceChildren("No equity curve in this report (written before report version 2).");
  }
  note.textContent = notes.join(" ");
  // Heatmap of the metric over degree x kstd, at the chosen window.
  const metric = b.parameters.metric ?? "sharpe";
  const combos = r.combinations.filter((c) => c.window === r.chosen.window);
  const degrees = [...new Set(combos.map((c) => c.degree))].sort((x, y) => x - y);
  const kstds = [...new Set(combos.map((c) => c.kstd))].sort((x, y) => x - y);
  const values = combos.map((c) => c.metrics[metric]).filter((v) => isFinite(v));
  const lo = Math.min(...values), hi = Math.max(...values);
  $("heatmap-title").textContent = `${metric} by degree × kstd (window ${r.chosen.window}); the chosen cell is outlined`;
  const table = $("heatmap");
  const head = document.createElement("tr");
  head.append(cell("th", "degree ↓ kstd →"), ...kstds.map((k) => { const th = cell("th", String(k)); th.scope = "col"; return th; }));
  const rows = degrees.map((d) => {
    const tr = document.createElement("tr");
    const th = cell("th", String(d));
    th.scope = "row";
    tr.append(th, ...kstds.map((k) => {
      const c = combos.find((x) => x.degree === d && x.kstd === k);
      const v = c ? c.metrics[metric] : null;
      const td = cell("td", v == null ? "–" : Number(v).toFixed(2));
      if (v != null && hi > lo) {
        const share = (v - lo) / (hi - lo); // green for the best, red for the worst
        td.style.background = `hsla(${Math.round(share * 120)}, 70%, 45%, 0.35)`;
      }
      if (d === r.chosen.degree && k === r.chosen.kstd) {
        td.classList.add("chosen");
        td.title = "chosen";
        td.setAttribute("aria-label", `${Number(v).toFixed(2)}, chosen`);
      }
      return td;
    }));
    return tr;
  });
  table.replaceChildren(head, ...rows);
  window.autonamaBacktest = {
    symbol: r.symbol, cells: combos.length, chosen: table.querySelectorAll("td.chosen").length,
    equity: curve ? curve.time.length : 0,
  };
}

async function scanNow(event) {
  event.preventDefault();
  const universe = $("scan-universe").value;
  const body = {
    interval: $("scan-interval").value,
    degree: Number($("scan-degree").value),
    kstd: Number($("scan-kstd").value),
    days: Number($("scan-days").value),
  };
  if (universe === "symbols") body.symbols = $("scan-symbols").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (universe === "top") body.top = Number($("scan-top").value);
  const progress = $("scan-progress");
  const failures = $("scan-failures");
  failures.replaceChildren();
  try {
    const accepted = await api("/v1/scans", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    progress.dataset.status = "requested";
    progress.textContent = `scan ${accepted.scan_id}: requested`;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      let scan;
      try { scan = await api(accepted.status_url); } catch { continue; } // not recorded yet
      const done = scan.symbols_done + scan.symbols_failed;
      progress.textContent = `scan ${scan.scan_id}: ${scan.status}` +
        (scan.symbols_expected != null ? `, ${done} of ${scan.symbols_expected} symbols` : "") +
        (scan.symbols_failed ? ` (${scan.symbols_failed} failed)` : "") +
        (scan.error ? `: ${scan.error}` : "");
      progress.dataset.status = scan.status;
      if (scan.status === "finished" || scan.status === "failed") {
        failures.replaceChildren(...scan.failed.map((f) => {
          const li = document.createElement("li");
          li.textContent = `${f.symbol}: ${f.error || "no reason given"}`;
          return li;
        }));
        break;
      }
    }
    loadSummary().catch(() => {});
    loadMarket().catch(() => {});
  } catch (error) {
    progress.textContent = `not requested: ${error.message}`;
    progress.dataset.status = "error";
  }
}

let searchTimer = null;
$("filter-symbol").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadMarket().catch(() => {}), 200);
});
$("filter-interval").addEventListener("change", () => loadMarket().catch(() => {}));
$("filter-signal").addEventListener("change", () => loadMarket().catch(() => {}));
$("more").addEventListener("click", () => loadMore().catch(() => {}));
$("scan-form").addEventListener("submit", scanNow);

// Notifications: the subscriptions (write token) and a small form to add one.
function describeFilter(f) {
  const parts = [];
  if (f.symbols) parts.push(f.symbols.join(" "));
  parts.push(f.signals.join("/"));
  if (f.events.length === 1) parts.push(`${f.events[0]} only`);
  if (f.intervals) parts.push(f.intervals.join(" "));
  if (f.min_potential_return != null) parts.push(`≥ ${f.min_potential_return}%`);
  if (f.confirmed) parts.push("repeats too");
  return parts.join(", ");
}

async function loadSubscriptions() {
  const status = $("notify-status");
  if (!token) {  // subscriptions need a write token: not asked for (no 401 in the console)
    status.dataset.state = "info";  // not an error: what to do to see them
    status.textContent = "Notifications need a write token: open the address `make up` printed (it ends in #token=...).";
    return;
  }
  let subs;
  try {
    subs = await api("/v1/subscriptions");
  } catch (error) {
    status.dataset.state = "error";
    status.textContent = `Subscriptions cannot be shown: ${error.message}`;
    return;
  }
  const rows = subs.map((s) => {
    const tr = document.createElement("tr");
    tr.append(cell("td", s.name), cell("td", `${s.target.kind}: ${s.target.url}`),
      cell("td", describeFilter(s.filter)),
      cell("td", s.enabled ? "enabled" : `disabled: ${s.disabled_reason}`));
    const actions = document.createElement("td");
    const act = (label, run) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.setAttribute("aria-label", `${label} ${s.name}`);
      b.addEventListener("click", async () => {
        try {
          await run();
          status.dataset.state = "ok";
          status.textContent = `${s.name}: ${label.toLowerCase()} done`;
        } catch (error) {
          status.dataset.state = "error";
          status.textContent = `${s.name}: ${error.message}`;
        }
        loadSubscriptions();
      });
      actions.append(b, " ");
    };
    const json = { "Content-Type": "application/json" };
    act("Test", () => api(`/v1/subscriptions/${s.id}/test`, { method: "POST" }));
    act(s.enabled ? "Disable" : "Enable", () => api(`/v1/subscriptions/${s.id}`, {
      method: "PATCH", headers: json, body: JSON.stringify({ enabled: !s.enabled }),
    }));
    act("Delete", () => api(`/v1/subscriptions/${s.id}`, { method: "DELETE" }));
    tr.append(actions);
    return tr;
  });
  $("subscriptions").tBodies[0].replaceChildren(...rows);
}

async function subscribe(event) {
  event.preventDefault();
  const status = $("notify-status");
  const filter = { signals: $("notify-signals").value.split(",") };
  const symbols = $("notify-symbols").value.split(/[\s,]+/).filter(Boolean);
  if (symbols.length) filter.symbols = symbols;
  if ($("notify-min").value !== "") filter.min_potential_return = Number($("notify-min").value);
  if ($("notify-confirmed").checked) filter.confirmed = true;
  const body = {
    name: $("notify-name").value,
    target: { kind: $("notify-kind").value, url: $("notify-url").value },
    filter,
  };
  try {
    const created = await api("/v1/subscriptions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    status.dataset.state = "ok";
    status.textContent = created.secret
      ? `Subscribed. Signing secret (shown once, keep it): ${created.secret}`
      : "Subscribed.";
    $("notify-form").reset();
    loadSubscriptions();
  } catch (error) {
    status.dataset.state = "error";
    status.textContent = `Not subscribed: ${error.message}`;
  }
}
$("notify-form").addEventListener("submit", subscribe);
setInterval(() => renderMarket(), 30000); // ages and stale marks
// A key that turned HOLD without an alert (HOLD after HOLD) changes the market too:
// revalidated now and then (a 304 when nothing changed).
setInterval(() => loadMarket().catch(() => {}), 15000);
setInterval(() => loadBacktests().catch(() => {}), 30000);
setInterval(() => refreshOutcomes().catch(() => {}), 20000);
setInterval(() => loadScorecard().catch(() => {}), 60000);

async function start() {
  // The newest alerts first: the stream starts exactly after what the feed shows.
  const recent = await retrying("loading alerts", () => api("/v1/alerts?latest=false&sort=time&limit=50"));
  recent.items.forEach((a) => addToFeed(a, false));
  lastAlertId = recent.items.length ? recent.items[0].id : 0;
  await retrying("loading the market", () => loadMarket());
  if (linkedSignal && /^[0-9]{1,18}$/.test(linkedSignal)) openChart(linkedSignal);
  connect();
  loadSummary().catch(() => {});
  loadBacktests().catch(() => {});
  loadScorecard().catch(() => {});
  loadSubscriptions().catch(() => {});
  window.autonamaReady = true;
}

start();
