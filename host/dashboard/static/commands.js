// The cell page's commands: each is confirmed here, then posted; the server
// signs it with the fleet's keyring and waits for the board's answer
// (host/dashboard/commands.py). Read-only dashboards disable the buttons and
// say why; the server refuses a post all the same.
"use strict";
(function () {
  const cellId = decodeURIComponent(location.pathname.split("/").pop());
  const url = "/api/cells/" + encodeURIComponent(cellId) + "/commands";
  const form = document.getElementById("commands");
  const state = document.getElementById("cmd-state");
  const result = document.getElementById("cmd-result");
  const dialog = document.getElementById("cmd-confirm");
  let operator = "";

  function argsOf(name) {
    const box = form.querySelector('fieldset[data-cmd="' + name + '"]');
    const args = {};
    if (!box) return args;
    for (const input of box.querySelectorAll("input")) {
      if (input.value.trim() !== "") args[input.name] = Number(input.value);
    }
    return args;
  }
  function describe(name, args) {
    const parts = Object.keys(args).map((k) => k + " = " + args[k]);
    return name + (parts.length ? " (" + parts.join(", ") + ")" : "");
  }
  function answerText(r) {
    return (r.answer || []).map((m) => (m.error ? m.error : m.event + " " + m.code + ": " + m.msg)).join("; ");
  }
  function drawLog(rows) {
    const tb = document.querySelector("#cmd-log tbody");
    tb.replaceChildren(...rows.map((r) => {
      const tr = PW.el("tr", { "data-id": r.id });
      tr.appendChild(PW.el("td", {}, new Date(r.sent_at * 1000).toLocaleString()));
      tr.appendChild(PW.el("td", {}, r.operator));
      tr.appendChild(PW.el("td", {}, describe(r.command, r.args)));
      tr.appendChild(PW.el("td", {}, r.ctr === null ? "\u2014" : String(r.ctr)));
      tr.appendChild(PW.el("td", { class: "outcome-" + r.outcome }, r.outcome));
      tr.appendChild(PW.el("td", {}, answerText(r)));
      return tr;
    }));
    document.body.dataset.cmdLogRows = rows.length;
  }
  async function refresh() {
    const c = await PW.json(url);
    operator = c.operator;
    drawLog(c.log);
    return c;
  }
  function confirmed(text) {
    return new Promise((ok) => {
      document.getElementById("cmd-what").textContent = text;
      dialog.onclose = () => ok(dialog.returnValue === "send");
      dialog.returnValue = "";
      dialog.showModal();
    });
  }
  async function send(name) {
    const args = argsOf(name);
    if (!(await confirmed("Send " + describe(name, args) + " to " + cellId + ", signed as operator " + operator + "?"))) {
      result.textContent = name + ": not sent";
      return;
    }
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    result.textContent = name + ": sent, waiting for the board\u2026";
    document.body.dataset.cmdBusy = "1";
    try {
      const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ command: name, args }) });
      const body = await r.json();
      result.textContent = r.ok ? name + ": " + body.outcome + (answerText(body) ? " \u2014 " + answerText(body) : "") : name + ": refused \u2014 " + body.error;
      result.className = "hint outcome-" + (r.ok ? body.outcome : "refused");
      await refresh();
    } catch (e) {
      result.textContent = name + ": " + e;
    } finally {
      for (const b of form.querySelectorAll("button")) b.disabled = false;
      document.body.dataset.cmdBusy = "0";
    }
  }

  refresh().then((c) => {
    state.textContent = c.enabled ? "signed by this dashboard as operator " + c.operator + "; each is confirmed first" : c.why;
    for (const el of form.querySelectorAll("button, input")) el.disabled = !c.enabled;
    for (const b of form.querySelectorAll("button[data-cmd]")) b.addEventListener("click", () => send(b.dataset.cmd));
    document.body.dataset.commands = c.enabled ? "on" : "off";
  }).catch((e) => { state.textContent = String(e); });
})();
