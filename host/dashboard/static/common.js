// Shared by the fleet and cell pages: formatting, fetching, the one live stream per tab.
"use strict";
const PW = {
  fmt(v, digits) {
    return v === null || v === undefined || Number.isNaN(v) ? "\u2014" : Number(v).toFixed(digits);
  },
  ago(epochS) {
    if (epochS === null || epochS === undefined) return "\u2014";
    const s = Math.max(0, Date.now() / 1000 - epochS);
    if (s < 90) return s.toFixed(0) + " s ago";
    if (s < 5400) return (s / 60).toFixed(0) + " min ago";
    if (s < 172800) return (s / 3600).toFixed(1) + " h ago";
    return (s / 86400).toFixed(0) + " d ago";
  },
  statusClass(online) {
    return online === true ? "online" : online === false ? "offline" : "unknown";
  },
  statusText(online) {
    return online === true ? "online" : online === false ? "offline" : "unknown";
  },
  el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  },
  async json(url) {
    const r = await fetch(url);
    const body = await r.json();
    if (!r.ok) throw new Error(url + ": " + (body.error || r.status));
    return body;
  },
  // One EventSource per tab (browsers allow ~6 streams per origin): every
  // page subscribes its handlers here by event name. The browser resends
  // the last id on reconnect, so nothing is sent twice.
  live(query, handlers) {
    const es = new EventSource("/api/live" + (query ? "?" + query : ""));
    for (const name in handlers) {
      es.addEventListener(name, (ev) => handlers[name](JSON.parse(ev.data), ev));
    }
    return es;
  },
  // the cell's figures as cards (the cell page and the report)
  cards(parent, f) {
    const card = (label, value, note) => {
      const c = PW.el("div", { class: "card" });
      c.appendChild(PW.el("small", {}, label));
      c.appendChild(PW.el("b", {}, value));
      if (note) c.appendChild(PW.el("small", {}, note));
      return c;
    };
    parent.replaceChildren(
      card("charger", f.state || "\u2014", f.cycle === null ? "" : "cycle " + f.cycle),
      card("SOC", PW.fmt(f.soc_pct, 0) + " %", "coulomb count"),
      card("inventory", PW.fmt(f.inventory_pct, 2) + " %", "\u00b1 " + PW.fmt(f.inventory_band_pct, 2) + " % (90 %)"),
      card("EOL cycle", PW.fmt(f.eol_cycle_pred, 0), "[" + PW.fmt(f.eol_cycle_lo, 0) + "\u2013" + PW.fmt(f.eol_cycle_hi, 0) + "] 90 %"),
      card("R drift", PW.fmt(f.r_drift_pct, 1) + " %", "R25 " + PW.fmt(f.r25_ohm, 4) + " \u03a9"),
      card("short risk", PW.fmt(f.short_risk, 3), ""),
      card("alarms", Object.keys(f.alarms || {}).join(", ") || "none", ""),
      card("last seen", PW.ago(f.last_seen_s), f.messages + " messages")
    );
  },
  // what crossed which threshold, by how much: the alarm's evidence as text
  evidenceText(e) {
    if (!e || typeof e !== "object") return "";
    return Object.keys(e).sort().map((k) => k + " = " + (typeof e[k] === "number" ? +e[k].toPrecision(4) : JSON.stringify(e[k]))).join("; ");
  },
  css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  },
};
