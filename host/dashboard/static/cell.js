// The cell page: live V/I/T/P and impedance charts fed by the tab's one
// stream, per-cycle charts from the history, and the event and alarm log.
"use strict";
(function () {
  const cellId = decodeURIComponent(location.pathname.split("/").pop());
  const base = "/api/cells/" + encodeURIComponent(cellId);
  document.getElementById("cell-id").textContent = cellId;
  document.title = "Platewise " + cellId;
  const FIELDS = ["voltage_v", "current_a", "temperature_c", "pressure_mpa", "r_ohm", "i_limit_a"];
  const MAX_LIVE_POINTS = 8000; // past this the shown window is fetched again, decimated
  const live = { t: [], cols: FIELDS.map(() => []), zoomed: false };
  const liveCharts = [];
  const markers = []; // throttle and fault events on the live time axis
  let syncing = false;

  const LIVE = [
    { id: "voltage", title: "Voltage", series: [{ label: "voltage", unit: "V", color: "--s1", scale: "V", f: 0 }] },
    { id: "current", title: "Current (+ plating)", series: [{ label: "current", unit: "A", color: "--s2", scale: "A", f: 1 }] },
    { id: "temperature", title: "Temperature", series: [{ label: "temperature", unit: "\u00b0C", color: "--s3", scale: "C", f: 2 }] },
    { id: "pressure", title: "Stack pressure", series: [{ label: "pressure", unit: "MPa", color: "--s4", scale: "MPa", f: 3 }] },
    {
      id: "impedance",
      title: "Impedance and plating-current limit (throttle / fault marked)",
      series: [
        { label: "impedance", unit: "\u03a9", color: "--s1", scale: "ohm", f: 4 },
        { label: "plating limit", unit: "A", color: "--s2", scale: "A", f: 5 },
      ],
    },
  ];

  function liveData(spec) {
    return [live.t].concat(spec.series.map((s) => live.cols[s.f]));
  }
  function setLive(resetScales) {
    syncing = true;
    for (const [u, spec] of liveCharts) u.setData(liveData(spec), resetScales);
    syncing = false;
  }
  let refetchTimer = null;
  function onScale(u) {
    if (syncing) return;
    const min = u.scales.x.min, max = u.scales.x.max;
    syncing = true;
    for (const [v] of liveCharts) if (v !== u) v.setScale("x", { min, max });
    syncing = false;
    const t = live.t, was = live.zoomed;
    live.zoomed = t.length > 0 && (min > t[0] || max < t[t.length - 1]);
    if (!live.zoomed && !was) return; // the whole series is shown already
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(() => loadSeries(live.zoomed ? { from: min, to: max } : null), 250);
  }
  let seriesGen = 0; // only the newest request's answer is drawn
  async function loadSeries(win) {
    const gen = ++seriesGen;
    // a min/max pair per pixel of one chart (the grid puts two side by side on a wide screen)
    const first = liveCharts.length ? liveCharts[0][0].bbox.width / devicePixelRatio : 0;
    const width = first || Math.min(document.getElementById("live-charts").clientWidth || 1000, 700);
    let q = "?points=" + Math.min(10000, Math.max(400, Math.round(width * 2)));
    if (win) q += "&from=" + win.from + "&to=" + win.to;
    const t0 = performance.now();
    const s = await PW.json(base + "/series" + q);
    const fetched = performance.now();
    if (gen !== seriesGen) return;
    live.t = s.t_s;
    live.cols = FIELDS.map((f) => s[f]);
    if (!liveCharts.length) {
      const parent = document.getElementById("live-charts");
      syncing = true; // a chart's creation sets its scales: not a user's zoom
      for (const spec of LIVE) {
        const full = Object.assign({ x: { label: "board time (h)", hours: true }, sync: "live", markers: () => markers, onScale, file: cellId + "_" + spec.id }, spec);
        const u = Charts.make(parent, full, liveData(spec));
        u.over.addEventListener("dblclick", () => { live.zoomed = false; });
        liveCharts.push([u, full]);
      }
      syncing = false;
    } else {
      setLive(!win);
      if (win) {
        syncing = true;
        for (const [u] of liveCharts) u.setScale("x", { min: win.from, max: win.to });
        syncing = false;
      }
    }
    await new Promise((ok) => requestAnimationFrame(() => ok())); // drawn: the frame after
    const drawn = performance.now();
    const b = document.body.dataset;
    b.seriesMs = (fetched - t0).toFixed(1);
    b.chartMs = (drawn - fetched).toFixed(1);
    b.seriesPoints = s.t_s.length;
    b.seriesSamples = s.samples;
    b.decimated = s.decimated ? "1" : "0";
    document.getElementById("live-empty").hidden = s.samples > 0 || live.t.length > 0;
  }
  function addSample(r) {
    const t = live.t;
    if (t.length && r.t_s <= t[t.length - 1]) return; // already in the series
    t.push(r.t_s);
    FIELDS.forEach((f, k) => live.cols[k].push(r[f]));
    document.body.dataset.liveSamples = (+(document.body.dataset.liveSamples || 0) + 1).toString();
    document.body.dataset.lastSampleT = String(r.t_s);
    if (t.length > MAX_LIVE_POINTS && !live.zoomed) {
      loadSeries(null);
      return;
    }
    document.getElementById("live-empty").hidden = true;
    if (!live.zoomed) scheduleLiveDraw();
  }
  let drawPending = false;
  function scheduleLiveDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; setLive(true); });
  }

  // -- per cycle ----------------------------------------------------------
  const cycleCharts = [];
  async function loadHistory() {
    const h = (await PW.json(base + "/history")).history;
    Charts.cycleCharts(document.getElementById("cycle-charts"), cycleCharts, h, cellId);
    document.body.dataset.cycles = h.length;
  }

  // -- header cards and the log ------------------------------------------
  function showState(f) {
    const st = document.getElementById("cell-status");
    st.className = "badge " + PW.statusClass(f.online);
    st.textContent = PW.statusText(f.online);
    PW.cards(document.getElementById("cards"), f);
  }
  const logRows = [];
  function logRow(when, where, kind, what, evidence, cls) {
    logRows.push({ when, where, kind, what, evidence, cls });
  }
  function drawLog() {
    logRows.sort((a, b) => b.when - a.when);
    const tb = document.querySelector("#log tbody");
    tb.replaceChildren(...logRows.slice(0, 500).map((r) => {
      const tr = PW.el("tr", { class: r.cls || "" });
      tr.appendChild(PW.el("td", {}, new Date(r.when * 1000).toLocaleString()));
      tr.appendChild(PW.el("td", {}, r.where));
      tr.appendChild(PW.el("td", {}, r.kind));
      tr.appendChild(PW.el("td", {}, r.what));
      const ev = PW.el("td", {});
      if (r.evidence) ev.appendChild(PW.el("code", {}, r.evidence));
      tr.appendChild(ev);
      return tr;
    }));
    document.body.dataset.logRows = logRows.length;
  }
  function addAlarm(a) {
    logRow(a.created_at, "cycle " + a.cycle, "alarm " + a.action, a.code + " (" + a.severity + ")" + (a.value === null ? "" : " value " + +Number(a.value).toPrecision(4)), PW.evidenceText(a.evidence), "sev-" + a.severity);
  }
  function addEvent(e) {
    const m = e.msg;
    if (e.kind === "status") {
      logRow(e.received_at, e.retained ? "retained" : "", "status", m.state + (m.fw ? " fw " + m.fw : ""), "", m.state === "offline" ? "offline" : "");
      return;
    }
    const lim = m.limit === undefined ? "" : "limit = " + m.limit;
    const val = m.value === undefined ? "" : "value = " + m.value;
    logRow(e.received_at, "t " + (m.t_s / 3600).toFixed(3) + " h", m.event, m.code + (m.msg ? ": " + m.msg : ""), [val, lim].filter(Boolean).join("; "), m.event === "fault" ? "sev-critical" : "");
    if (m.event === "throttle" || m.event === "fault") markers.push({ x: m.t_s, color: m.event === "fault" ? "--crit" : "--warn", dash: m.event === "fault" ? [] : [5, 3] });
  }

  async function load() {
    const latest = await PW.json(base);
    showState(latest.fleet);
    const [alarms, events] = await Promise.all([PW.json(base + "/alarms"), PW.json(base + "/events"), loadSeries(null), loadHistory()]);
    for (const a of alarms.alarms) addAlarm(a);
    for (const e of events.events) addEvent(e);
    drawLog();
    for (const [u] of liveCharts) u.redraw();
    document.body.dataset.ready = "1";
    return latest.cursor;
  }
  let stateTimer = null;
  function refreshState(withHistory) {
    clearTimeout(stateTimer);
    stateTimer = setTimeout(async () => {
      showState((await PW.json(base)).fleet);
      if (withHistory) await loadHistory();
    }, 300);
  }
  const liveState = document.getElementById("live-state");
  load().then((cursor) => {
    PW.live("cell=" + encodeURIComponent(cellId) + "&since=" + cursor, {
      hello() { liveState.textContent = "live"; },
      sample(r) { addSample(r); },
      estimate() { refreshState(true); },
      alarm(a) { addAlarm(a); drawLog(); refreshState(false); },
      event(e) { addEvent(e); drawLog(); if (!live.zoomed) for (const [u] of liveCharts) u.redraw(); },
      status(e) { addEvent(e); drawLog(); refreshState(false); },
    }).onerror = () => { liveState.textContent = "reconnecting\u2026"; };
  }).catch((e) => { liveState.textContent = String(e); });
})();
