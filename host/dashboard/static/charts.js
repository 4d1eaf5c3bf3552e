// uPlot charts for the cell page: units on every axis, a CSV of what a chart
// shows, wheel zoom and pan, event markers, bands for 90 % intervals.
"use strict";
const Charts = {
  // spec: {id, title, x: {label, hours}, series: [{label, unit, color, scale, band: [hiIdx, loIdx]?}], markers()}
  make(parent, spec, data) {
    const box = PW.el("div", { class: "chart", id: "chart-" + spec.id });
    const h3 = PW.el("h3", {}, spec.title);
    const csv = PW.el("button", { type: "button", "data-csv": spec.id, title: "CSV of the shown range" }, "CSV");
    h3.appendChild(csv);
    box.appendChild(h3);
    parent.appendChild(box);
    const fg = PW.css("--fg"), grid = PW.css("--line");
    const axis = (label, scale, side) => {
      const a = { label, scale, stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
      if (side !== undefined) a.side = side;
      if (scale !== "x") a.values = (u, vals) => vals.map((v) => +v.toPrecision(4));
      return a;
    };
    const scales = { x: { time: false } };
    const axes = [Object.assign(axis(spec.x.label, "x"), spec.x.hours ? { values: (u, vals) => vals.map((v) => (v / 3600).toFixed(v > 36000 ? 1 : 2)) } : {})];
    const seen = {};
    for (const s of spec.series) {
      if (s.hidden || seen[s.scale]) continue;
      seen[s.scale] = true;
      scales[s.scale] = { auto: true };
      axes.push(axis(s.unit, s.scale, axes.length === 1 ? 3 : 1));
      if (axes.length > 2) axes[axes.length - 1].grid = { show: false };
    }
    const opts = {
      width: Math.max(320, box.clientWidth - 8),
      height: 220,
      scales,
      axes,
      series: [{ label: spec.x.label, value: spec.x.hours ? (u, v) => (v === null ? "\u2014" : (v / 3600).toFixed(3) + " h") : undefined }].concat(
        spec.series.map((s) => ({
          label: s.label + " (" + s.unit + ")",
          stroke: s.color ? PW.css(s.color) : undefined,
          width: s.width || 1.5,
          scale: s.scale,
          points: { show: spec.points || false },
          dash: s.dash,
          show: true,
        }))
      ),
      bands: spec.bands ? spec.bands.map((b) => ({ series: b, fill: PW.css("--band") })) : undefined,
      cursor: { sync: spec.sync ? { key: spec.sync, setSeries: false } : undefined, drag: { x: true, y: false } },
      hooks: {
        draw: [(u) => Charts.drawMarkers(u, spec.markers ? spec.markers() : [])],
        setScale: [(u, key) => { if (key === "x" && spec.onScale) spec.onScale(u); }],
      },
    };
    const u = new uPlot(opts, data, box);
    u.over.addEventListener("wheel", (ev) => Charts.wheel(u, ev), { passive: false });
    csv.addEventListener("click", () => Charts.download(u, spec));
    window.__charts = window.__charts || {};
    window.__charts[spec.id] = u;
    return u;
  },
  drawMarkers(u, markers) {
    if (!markers.length) return;
    const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save();
    ctx.lineWidth = 1.5 * devicePixelRatio;
    for (const m of markers) {
      if (m.x < u.scales.x.min || m.x > u.scales.x.max) continue;
      const x = Math.round(u.valToPos(m.x, "x", true));
      ctx.strokeStyle = PW.css(m.color);
      ctx.setLineDash(m.dash || []);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + h);
      ctx.stroke();
    }
    ctx.restore();
  },
  wheel(u, ev) {
    ev.preventDefault();
    const min = u.scales.x.min, max = u.scales.x.max, span = max - min;
    if (!(span > 0)) return;
    if (ev.shiftKey) {
      const d = span * 0.1 * Math.sign(ev.deltaY || ev.deltaX);
      u.setScale("x", { min: min + d, max: max + d });
      return;
    }
    const at = u.posToVal(ev.offsetX, "x");
    const f = ev.deltaY < 0 ? 0.8 : 1.25;
    u.setScale("x", { min: at - (at - min) * f, max: at + (max - at) * f });
  },
  // rows of the data whose x is in the shown range
  csv(u, spec) {
    const lo = u.scales.x.min, hi = u.scales.x.max, xs = u.data[0];
    const head = [spec.x.hours ? "board_t_s" : spec.x.label.replace(/\W+/g, "_")].concat(
      spec.series.map((s) => s.label.replace(/\W+/g, "_").replace(/_$/, "") + "_" + s.unit.replace(/\W+/g, ""))
    );
    const lines = [head.join(",")];
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] < lo || xs[i] > hi) continue;
      const row = [xs[i]];
      for (let k = 1; k < u.data.length; k++) row.push(u.data[k][i] === null || u.data[k][i] === undefined ? "" : u.data[k][i]);
      lines.push(row.join(","));
    }
    return lines.join("\n") + "\n";
  },
  download(u, spec) {
    const blob = new Blob([Charts.csv(u, spec)], { type: "text/csv" });
    const a = PW.el("a", { href: URL.createObjectURL(blob), download: (spec.file || spec.id) + ".csv" });
    document.body.appendChild(a);
    a.click();
    a.remove();
  },
  // the per-cycle figures: the cell page and the report draw the same
  CYCLE: [
    { id: "inventory", title: "Lithium inventory (90 % band)", bands: [[3, 2]],
      series: [{ label: "inventory", unit: "Ah", color: "--s1", scale: "Ah", k: "inventory_ah" },
               { label: "inventory 5 %", unit: "Ah", color: "--s1", scale: "Ah", dash: [4, 4], width: 1, k: "inv_lo" },
               { label: "inventory 95 %", unit: "Ah", color: "--s1", scale: "Ah", dash: [4, 4], width: 1, k: "inv_hi" }] },
    { id: "loss", title: "Loss split (SEI vs dead Li)",
      series: [{ label: "SEI", unit: "Ah", color: "--s3", scale: "Ah", k: "sei_ah" }, { label: "dead Li", unit: "Ah", color: "--s2", scale: "Ah", k: "dead_ah" }] },
    { id: "ce", title: "Coulombic efficiency", series: [{ label: "CE", unit: "ratio", color: "--s4", scale: "ce", k: "ce" }] },
    { id: "resistance", title: "Resistance",
      series: [{ label: "R at 25 C", unit: "\u03a9", color: "--s1", scale: "ohm", k: "r25_ohm" }, { label: "R measured", unit: "\u03a9", color: "--s2", scale: "ohm", k: "r_ohm", width: 1 }] },
    { id: "pressure", title: "Stack pressure per cycle",
      series: [{ label: "pressure min", unit: "MPa", color: "--s4", scale: "MPa", k: "p_min_mpa" }, { label: "pressure max", unit: "MPa", color: "--s2", scale: "MPa", k: "p_max_mpa" }] },
    { id: "eol", title: "EOL projection (90 % interval)", bands: [[3, 2]],
      series: [{ label: "EOL", unit: "cycle", color: "--s2", scale: "eol", k: "eol_cycle_pred" },
               { label: "EOL 5 %", unit: "cycle", color: "--s2", scale: "eol", dash: [4, 4], width: 1, k: "eol_cycle_lo" },
               { label: "EOL 95 %", unit: "cycle", color: "--s2", scale: "eol", dash: [4, 4], width: 1, k: "eol_cycle_hi" }] },
  ],
  Z90: 1.6448536269514722, // two-sided 90 % of a normal estimate
  // draw (or update) the per-cycle charts of a history (/api/cells/<id>/history rows)
  cycleCharts(parent, charts, history, cellId) {
    for (const r of history) {
      const band = r.inventory_std_ah === null ? null : Charts.Z90 * r.inventory_std_ah;
      r.inv_lo = band === null ? null : r.inventory_ah - band;
      r.inv_hi = band === null ? null : r.inventory_ah + band;
    }
    const x = history.map((r) => r.cycle);
    Charts.CYCLE.forEach((spec, i) => {
      const data = [x].concat(spec.series.map((s) => history.map((r) => (r[s.k] === undefined ? null : r[s.k]))));
      if (!charts[i]) {
        const full = Object.assign({ x: { label: "cycle" }, points: true, file: cellId + "_" + spec.id }, spec);
        charts[i] = Charts.make(parent, full, data);
      } else charts[i].setData(data);
    });
  },
};
