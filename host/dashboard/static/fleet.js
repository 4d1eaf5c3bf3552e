// The fleet page: one row per cell, sorted, filtered and searched in the
// browser; only the rows in view exist in the DOM (28 px each), so 1,000
// cells scroll as smoothly as 10. Live changes come as "cell" events.
"use strict";
(function () {
  const ROW_H = 28, OVERSCAN = 10;
  const SEV_RANK = { critical: 3, warning: 2, info: 1 };
  const cells = new Map();
  let view = [];
  let sortKey = "cell_id", sortDir = 1;
  const body = document.getElementById("fleet-body");
  const spacer = document.getElementById("fleet-spacer");
  const search = document.getElementById("search");
  const filter = document.getElementById("filter");

  function alarmRank(row) {
    let rank = 0;
    for (const code in row.alarms || {}) rank = Math.max(rank, SEV_RANK[row.alarms[code].severity] || 1);
    return rank * 1000 + Object.keys(row.alarms || {}).length;
  }
  function put(row) {
    row.alarm_rank = alarmRank(row);
    cells.set(row.cell_id, row);
  }
  function keep(row, text, what) {
    if (text && row.cell_id.toLowerCase().indexOf(text) < 0) return false;
    if (what === "online") return row.online === true;
    if (what === "offline") return row.online === false;
    if (what === "alarms") return row.alarm_rank > 0;
    if (what === "critical") return row.alarm_rank >= 3000;
    return true;
  }
  function compare(a, b) {
    let x = a[sortKey], y = b[sortKey];
    // empty values last in either direction
    const xe = x === null || x === undefined, ye = y === null || y === undefined;
    if (xe || ye) return xe && ye ? 0 : xe ? 1 : -1;
    if (typeof x === "boolean") { x = +x; y = +y; }
    const c = x < y ? -1 : x > y ? 1 : 0;
    return c * sortDir || (a.cell_id < b.cell_id ? -1 : 1);
  }
  function rebuild() {
    const text = search.value.trim().toLowerCase(), what = filter.value;
    view = [];
    for (const row of cells.values()) if (keep(row, text, what)) view.push(row);
    view.sort(compare);
    spacer.style.height = view.length * ROW_H + "px";
    document.getElementById("fleet-count").textContent = view.length + " of " + cells.size + " cells";
    body.dataset.total = cells.size;
    body.dataset.shown = view.length;
    render();
  }
  function cellsOf(row) {
    const out = [];
    const span = (text, cls) => { const s = PW.el("span", cls ? { class: cls } : {}, text); out.push(s); return s; };
    span(row.cell_id);
    const st = span("");
    st.appendChild(PW.el("span", { class: "badge " + PW.statusClass(row.online) }, PW.statusText(row.online)));
    span(row.state || "\u2014");
    span(PW.fmt(row.soc_pct, 0), "num");
    span(row.inventory_pct === null ? "\u2014" : PW.fmt(row.inventory_pct, 2) + " \u00b1 " + PW.fmt(row.inventory_band_pct, 2), "num");
    span(row.eol_cycle_pred === null ? "\u2014" : PW.fmt(row.eol_cycle_pred, 0) + " [" + PW.fmt(row.eol_cycle_lo, 0) + "\u2013" + PW.fmt(row.eol_cycle_hi, 0) + "]", "num");
    span(PW.fmt(row.r_drift_pct, 1), "num");
    const al = span("");
    al.className = "alarms";
    for (const code in row.alarms || {}) {
      const a = row.alarms[code];
      al.appendChild(PW.el("span", { class: "badge sev-" + a.severity, title: a.severity + " since cycle " + a.since_cycle }, code));
    }
    span(PW.ago(row.last_seen_s));
    return out;
  }
  function render() {
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(view.length, Math.ceil((body.scrollTop + body.clientHeight) / ROW_H) + OVERSCAN);
    const frag = document.createDocumentFragment();
    frag.appendChild(spacer);
    for (let i = first; i < last; i++) {
      const row = view[i];
      const div = PW.el("div", { class: "grid-row", "data-cell": row.cell_id, role: "link" });
      div.style.top = i * ROW_H + "px";
      for (const c of cellsOf(row)) div.appendChild(c);
      frag.appendChild(div);
    }
    body.replaceChildren(frag);
    body.dataset.rendered = last - first;
  }
  let pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; rebuild(); });
  }
  document.getElementById("fleet-head").addEventListener("click", (ev) => {
    const key = ev.target.dataset && ev.target.dataset.key;
    if (!key) return;
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    for (const s of ev.currentTarget.children) delete s.dataset.dir;
    ev.target.dataset.dir = sortDir > 0 ? "asc" : "desc";
    rebuild();
  });
  body.addEventListener("scroll", render, { passive: true });
  body.addEventListener("click", (ev) => {
    const row = ev.target.closest(".grid-row");
    if (row) location.href = "/cells/" + encodeURIComponent(row.dataset.cell);
  });
  search.addEventListener("input", rebuild);
  filter.addEventListener("change", rebuild);
  window.addEventListener("resize", render);
  setInterval(render, 5000); // "last seen" ages

  async function load() {
    const t0 = performance.now();
    const data = await PW.json("/api/fleet");
    for (const row of data.cells) put(row);
    rebuild();
    document.getElementById("fleet-head").querySelector('[data-key="cell_id"]').dataset.dir = "asc";
    body.dataset.renderMs = (performance.now() - t0).toFixed(1);
    document.body.dataset.ready = "1";
    return data.cursor;
  }
  const liveState = document.getElementById("live-state");
  load().then((cursor) => {
    PW.live("since=" + cursor, {
      hello() { liveState.textContent = "live"; },
      cell(row) { put(row); soon(); },
    }).onerror = () => { liveState.textContent = "reconnecting\u2026"; };
  }).catch((e) => { document.getElementById("fleet-count").textContent = String(e); });
})();
