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
  css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  },
};
