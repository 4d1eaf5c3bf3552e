// The per-cell report: the cell page's figures drawn from data embedded in
// the file (REPORT), so it opens anywhere without a server.
"use strict";
(function () {
  const R = window.REPORT;
  document.getElementById("cell-id").textContent = R.cell_id;
  document.getElementById("made").textContent = "made " + new Date(R.made_at * 1000).toLocaleString() + " from " + R.db;
  const st = document.getElementById("cell-status");
  st.className = "badge " + PW.statusClass(R.fleet.online);
  st.textContent = PW.statusText(R.fleet.online);
  PW.cards(document.getElementById("cards"), R.fleet);
  Charts.cycleCharts(document.getElementById("cycle-charts"), [], R.history, R.cell_id);
  const tb = document.querySelector("#log tbody");
  for (const a of R.alarms) {
    const tr = PW.el("tr", { class: "sev-" + a.severity });
    tr.appendChild(PW.el("td", {}, "cycle " + a.cycle));
    tr.appendChild(PW.el("td", {}, a.action));
    tr.appendChild(PW.el("td", {}, a.code + " (" + a.severity + ")" + (a.value === null ? "" : " value " + +Number(a.value).toPrecision(4))));
    const ev = PW.el("td", {});
    ev.appendChild(PW.el("code", {}, PW.evidenceText(a.evidence)));
    tr.appendChild(ev);
    tb.appendChild(tr);
  }
  document.body.dataset.cycles = R.history.length;
  document.body.dataset.alarms = R.alarms.length;
  document.body.dataset.ready = "1";
})();
