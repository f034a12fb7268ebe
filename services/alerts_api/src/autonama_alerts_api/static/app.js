// The alerts dashboard: a table of current alerts kept live by EventSource,
// a chart per symbol (TradingView Lightweight Charts), and a scan form.
// No framework and nothing from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
const rows = new Map(); // key -> alert
let sortKey = "potential_return";
let sortDir = -1;
let chart = null;

const keyOf = (a) => [a.symbol, a.interval, a.degree, a.kstd, a.price_scale, a.days].join("|");
const fmt = (x) => (x == null ? "–" : Number(x).toPrecision(6).replace(/\.?0+$/, ""));
const pct = (x) => (x == null ? "–" : `${Number(x).toFixed(2)}`);
const when = (t) => new Date(t).toISOString().slice(0, 16).replace("T", " ");

function age(t) {
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 129600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

// The API token: `make up` prints the page's address with #token=...; it is kept in
// this browser's storage (never in the address bar or a server log) and sent with
// every request. EventSource cannot send headers, so the stream takes it as a parameter.
const token = (() => {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    localStorage.setItem("autonamaToken", fromLink);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem("autonamaToken");
})();

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

function signalBadge(signal) {
  const span = document.createElement("span");
  span.className = `signal ${signal}`;
  // Text and arrow carry the meaning; colour only repeats it.
  span.textContent = signal === "BUY" ? "▲ BUY" : "▼ SELL";
  return span;
}

function render(freshKey) {
  const filterSignal = $("filter-signal").value;
  const filterSymbol = $("filter-symbol").value.trim().toUpperCase();
  const list = [...rows.values()]
    .filter((a) => !filterSignal || a.signal === filterSignal)
    .filter((a) => !filterSymbol || a.symbol.includes(filterSymbol))
    .sort((a, b) => {
      const x = a[sortKey], y = b[sortKey];
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir || b.id - a.id;
    });
  const body = $("alerts").tBodies[0];
  body.replaceChildren(
    ...list.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.key = keyOf(a);
      tr.dataset.id = a.id;
      if (tr.dataset.key === freshKey) tr.classList.add("fresh");
      const symbol = document.createElement("button");
      symbol.type = "button";
      symbol.className = "symbol";
      symbol.textContent = a.symbol;
      symbol.addEventListener("click", () => openChart(a));
      const cells = [
        symbol, a.interval, signalBadge(a.signal), fmt(a.price), fmt(a.lower), fmt(a.fit),
        fmt(a.upper), pct(a.potential_return), pct(a.target_return), when(a.last_candle_time),
        age(a.created_at),
      ];
      cells.forEach((c, i) => {
        const td = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) td.scope = "row";
        if (i >= 3 && i <= 8) td.className = "num";
        td.append(c);
        tr.append(td);
      });
      return tr;
    }),
  );
  $("empty").hidden = list.length > 0;
  if (freshKey) setTimeout(() => document.querySelector(`tr.fresh`)?.classList.remove("fresh"), 2000);
}

async function loadSummary() {
  const s = await api("/v1/alerts/summary");
  $("count-buy").textContent = s.counts.BUY ?? 0;
  $("count-sell").textContent = s.counts.SELL ?? 0;
  $("last-scan").textContent = s.last_scan_finished_at
    ? `${when(s.last_scan_finished_at)} UTC (${s.last_scan_symbols} symbols)` : "none yet";
  $("failed-symbols").textContent = s.failed_symbols ?? "–";
}

async function loadAlerts() {
  let cursor = null;
  rows.clear();
  do {
    const page = await api(`/v1/alerts?limit=500${cursor ? `&cursor=${cursor}` : ""}`);
    page.items.forEach((a) => rows.set(keyOf(a), a));
    cursor = page.next_cursor;
  } while (cursor);
  render();
}

function connect(after) {
  // After a dropped connection EventSource resumes by itself with Last-Event-ID.
  const auth = token ? `&access_token=${encodeURIComponent(token)}` : "";
  const source = new EventSource(`/v1/alerts/stream?after=${after}${auth}`);
  source.addEventListener("open", () => { $("connection").textContent = "live"; });
  source.addEventListener("error", () => { $("connection").textContent = "reconnecting…"; });
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    rows.set(keyOf(alert), alert);
    window.autonamaLastAlert = alert.id;
    render(keyOf(alert));
    loadSummary().catch(() => {});
  });
}

async function openChart(alert) {
  const data = await api(`/v1/symbols/${alert.symbol}/bands?interval=${alert.interval}`);
  $("chart-panel").hidden = false;
  $("chart-title").textContent = `${data.symbol} ${data.interval} (degree ${data.degree}, kstd ${data.kstd}, ${data.price_scale})`;
  const container = $("chart");
  if (chart) chart.remove();
  chart = LightweightCharts.createChart(container, {
    autoSize: true,
    layout: { attributionLogo: false },
    timeScale: { timeVisible: data.interval.endsWith("m") || data.interval.endsWith("h") },
  });
  const t = data.open_time.map((ms) => ms / 1000);
  let main;
  if (data.open && data.high && data.low) {
    main = chart.addSeries(LightweightCharts.CandlestickSeries, {});
    main.setData(t.map((time, i) => ({
      time, open: data.open[i], high: data.high[i], low: data.low[i], close: data.close[i],
    })));
  } else {
    main = chart.addSeries(LightweightCharts.LineSeries, { color: "#24292f", lineWidth: 1 });
    main.setData(t.map((time, i) => ({ time, value: data.close[i] })));
  }
  const line = (values, color, style) => {
    const s = chart.addSeries(LightweightCharts.LineSeries, {
      color, lineWidth: 2, lineStyle: style, priceLineVisible: false, lastValueVisible: false,
    });
    s.setData(t.map((time, i) => ({ time, value: values[i] })));
    return s;
  };
  line(data.fit_series, "#0969da", 0);
  line(data.upper_series, "#cf222e", 2);
  line(data.lower_series, "#1a7f37", 2);
  const first = t[0];
  const markers = data.alerts
    .map((a) => ({
      time: Math.max(first, new Date(a.last_candle_time).getTime() / 1000),
      position: a.signal === "BUY" ? "belowBar" : "aboveBar",
      shape: a.signal === "BUY" ? "arrowUp" : "arrowDown",
      color: a.signal === "BUY" ? "#1a7f37" : "#cf222e",
      text: a.signal,
    }))
    .sort((a, b) => a.time - b.time);
  LightweightCharts.createSeriesMarkers(main, markers);
  chart.timeScale().fitContent();
  window.autonamaChart = {
    symbol: data.symbol, candles: t.length, fit: data.fit_series.length,
    upper: data.upper_series.length, lower: data.lower_series.length, markers: markers.length,
  };
  const numbers = [
    ["Signal", data.signal], ["Price", fmt(data.price)], ["Fit", fmt(data.fit)],
    ["Lower", fmt(data.lower)], ["Upper", fmt(data.upper)], ["Sigma", fmt(data.sigma)],
    ["Potential %", pct(data.potential_return)], ["Target %", pct(data.target_return)],
    ["Last candle", `${when(data.last_candle_time)} UTC`], ["Candles", t.length],
  ];
  $("fit-numbers").replaceChildren(...numbers.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
  $("chart-panel").scrollIntoView({ behavior: "smooth" });
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
  try {
    const accepted = await api("/v1/scans", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    progress.textContent = `scan ${accepted.scan_id}: requested`;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      let scan;
      try { scan = await api(accepted.status_url); } catch { continue; } // not recorded yet
      const done = scan.symbols_done + scan.symbols_failed;
      progress.textContent = `scan ${scan.scan_id}: ${scan.status}` +
        (scan.symbols_expected != null ? `, ${done} of ${scan.symbols_expected} symbols` : "") +
        (scan.symbols_failed ? ` (${scan.symbols_failed} failed)` : "");
      progress.dataset.status = scan.status;
      if (scan.status === "finished" || scan.status === "failed") break;
    }
    loadSummary();
  } catch (error) {
    progress.textContent = `not requested: ${error.message}`;
    progress.dataset.status = "error";
  }
}

document.querySelectorAll("#alerts th[data-key] button").forEach((button) => {
  button.addEventListener("click", () => {
    const th = button.parentElement;
    const key = th.dataset.key;
    sortDir = key === sortKey ? -sortDir : -1;
    sortKey = key;
    document.querySelectorAll("#alerts th").forEach((h) => h.setAttribute("aria-sort", "none"));
    th.setAttribute("aria-sort", sortDir < 0 ? "descending" : "ascending");
    render();
  });
});
$("filter-signal").addEventListener("change", () => render());
$("filter-symbol").addEventListener("input", () => render());
$("scan-form").addEventListener("submit", scanNow);
setInterval(() => render(), 30000); // ages

async function start() {
  // The newest alert id before loading, so the stream starts exactly after what is shown.
  const newest = await api("/v1/alerts?latest=false&sort=time&limit=1");
  await loadAlerts();
  connect(newest.items.length ? newest.items[0].id : 0);
  window.autonamaReady = true;
}

start().catch((e) => { $("connection").textContent = `error: ${e.message}`; });
loadSummary().catch(() => {});
// A key that turned HOLD raises no alert: reload the table now and then to drop it.
setInterval(() => loadAlerts().catch(() => {}), 60000);
