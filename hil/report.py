"""HIL run reports: a result as JSON, and the self-contained HTML report.

``result_json(result)`` is what ``--json`` and the baselines are made from:
the scenario's identity (preset, mode, seed, aging factor: an aging factor
above 1 compresses life and travels with every figure), verdict, each
criterion with its measured value and threshold, every metric, and, for the
plots, the series (the trace thinned to at most ``MAX_POINTS`` points, the
plating limit and impedance estimate from telemetry, the fault, throttle and
alarm events, the twin's inventory estimate with its band against the
truth). ``without_series`` drops the series for the JSON file.

``write_html(results, path)`` writes one HTML file with the plots as
embedded PNGs (matplotlib, Agg backend): per scenario V/I/T/P against time,
the impedance (truth and the board's estimate) with the plating limit and
the events marked, and the inventory truth against the twin's estimate +/-
2 sigma.

Failure behaviour: a result without series (a run that crashed before its
first tick) gets its verdict table and no plots; an unwritable path raises
OSError naming it.
"""

from __future__ import annotations

import base64
import html
import io
import json

from platewise.shared.wire import CHARGE_CC, CHARGE_CV

MAX_POINTS = 1500
MAX_LABELS = 20


def _thin(n: int) -> int:
    return max(1, -(-n // MAX_POINTS))


def result_json(res) -> dict:
    rec = res.record
    sc = res.scenario
    tr = rec.trace
    k = _thin(len(tr["t_s"]))
    series = {name: [round(x, 7) for x in col[::k]] for name, col in tr.items()}
    tele = rec.telemetry
    kt = _thin(len(tele))
    series["telemetry"] = [[m["t_s"], m.get("i_limit_a"), m.get("r_ohm"), m["state"]] for m in tele[::kt]]
    series["events"] = [[e["t_s"], e["event"], e["code"]] for e in rec.fw_events if e["event"] in ("fault", "throttle", "alarm")]
    t_of_cycle = {c["cycle"]: c["t_s"] for c in rec.cycles}
    inv = []
    for e in rec.estimates:
        t = t_of_cycle.get(e["cycle"])
        if t is None or e.get("inventory_ah") is None:
            continue
        inv.append([t, _truth_at(tr, t), e["inventory_ah"], e.get("inventory_std_ah")])
    series["inventory"] = inv
    return {
        "name": sc.name,
        "file": str(sc.path),
        "description": sc.description,
        "preset": rec.params.get("preset"),
        "mode": sc.mode,
        "seed": sc.seed,
        "aging_factor": rec.params.get("aging_factor"),
        "passed": res.passed,
        "error": res.error,
        "verdicts": [
            {
                "criterion": v.criterion.text(),
                "metric": v.criterion.metric,
                "op": v.criterion.op,
                "threshold": v.criterion.value,
                "value": v.value,
                "ok": v.ok,
            }
            for v in res.verdicts
        ],
        "values": res.values,
        "fired": rec.fired,
        "baseline_moves": [],
        "series": series,
    }


def _truth_at(tr, t_s: float):
    ts = tr["t_s"]
    for k in range(len(ts)):
        if ts[k] >= t_s:
            return tr["inventory_ah"][k]
    return tr["inventory_ah"][-1] if len(ts) else None


def without_series(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "series"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(r: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = r.get("series") or {}
    if not s.get("t_s"):
        return ""
    t_h = [t / 3600.0 for t in s["t_s"]]
    fig, axes = plt.subplots(4, 1, figsize=(9, 7), sharex=True)
    for ax, key, label in zip(
        axes, ("voltage_v", "current_a", "temperature_c", "pressure_mpa"), ("V [V]", "I [A]", "T [degC]", "P [MPa]")
    ):
        ax.plot(t_h, s[key], lw=0.8)
        ax.set_ylabel(label)
        for t, what in r["fired"]:
            ax.axvline(t / 3600.0, color="tab:red", lw=0.8, ls="--")
    axes[0].set_title(f"{r['name']}: truth at the cell (dashed: scenario events)")
    axes[-1].set_xlabel("simulated time [h]")
    out = [_png(fig)]
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(t_h, s["resistance_ohm"], lw=0.8, label="R true [ohm]")
    tele = s.get("telemetry") or []
    est = [(m[0] / 3600.0, m[2]) for m in tele if m[2]]
    if est:
        ax.plot(*zip(*est), ".", ms=2, color="tab:gray", label="R board estimate [ohm]")
    ax.set_ylabel("impedance [ohm]")
    lim = [(m[0] / 3600.0, m[1]) for m in tele if m[1] is not None and m[3] in (CHARGE_CC, CHARGE_CV)]
    if lim:
        ax2 = ax.twinx()
        ax2.plot(*zip(*lim), color="tab:green", lw=0.8, label="plating limit [A]")
        ax2.set_ylabel("plating limit [A]")
    events = s.get("events", [])
    label = len(events) <= MAX_LABELS  # past that, marks only: labels would hide the curves
    for t, event, code in events:
        color = {"fault": "tab:red", "throttle": "tab:orange"}.get(event, "tab:purple")
        ax.axvline(t / 3600.0, color=color, lw=0.6, alpha=0.6 if label else 0.15)
        if label:
            ax.annotate(code, (t / 3600.0, ax.get_ylim()[1]), fontsize=7, rotation=90, va="top", color=color)
    if not label:
        ax.text(0.01, 0.97, f"{len(events)} fault/throttle/alarm events (marks only)", transform=ax.transAxes, fontsize=7, va="top")
    ax.set_xlabel("simulated time [h]")
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title("impedance drift, plating limit, fault/throttle/alarm events")
    out.append(_png(fig))
    plt.close(fig)

    inv = s.get("inventory") or []
    if inv:
        fig, ax = plt.subplots(figsize=(9, 3))
        th = [row[0] / 3600.0 for row in inv]
        ax.plot(th, [row[1] for row in inv], "o-", ms=3, label="truth")
        est_v = [row[2] for row in inv]
        band = [2 * (row[3] or 0.0) for row in inv]
        ax.plot(th, est_v, "s-", ms=3, label="twin estimate")
        ax.fill_between(th, [e - b for e, b in zip(est_v, band)], [e + b for e, b in zip(est_v, band)], alpha=0.25, label="+/- 2 sigma")
        ax.set_ylabel("Li inventory [Ah]")
        ax.set_xlabel("simulated time [h]")
        ax.legend(fontsize=7)
        ax.set_title("inventory: emulator truth vs the twin's estimate")
        out.append(_png(fig))
        plt.close(fig)
    return "".join(f'<img alt="plot" src="data:image/png;base64,{b}">' for b in out)


def write_html(results: list[dict], path: str) -> None:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Platewise HIL report</title><style>"
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px}.pass{color:#070}.fail{color:#b00}"
        "img{display:block;max-width:100%}</style></head><body>",
        f"<h1>Platewise HIL report</h1><p>{sum(r['passed'] for r in results)} of {len(results)} scenarios passed.</p>",
        "<table><tr><th>scenario</th><th>verdict</th><th>preset</th><th>mode</th><th>aging factor</th></tr>",
    ]
    for r in results:
        cls = "pass" if r["passed"] else "fail"
        parts.append(
            f"<tr><td><a href='#{e(r['name'])}'>{e(r['name'])}</a></td><td class='{cls}'>{'PASS' if r['passed'] else 'FAIL'}</td>"
            f"<td>{e(str(r['preset']))}</td><td>{e(r['mode'])}</td><td>{r['aging_factor']}</td></tr>"
        )
    parts.append("</table>")
    for r in results:
        cls = "pass" if r["passed"] else "fail"
        parts.append(f"<h2 id='{e(r['name'])}'>{e(r['name'])}: <span class='{cls}'>{'PASS' if r['passed'] else 'FAIL'}</span></h2>")
        parts.append(f"<p>{e(r['description'])}</p><p>preset {e(str(r['preset']))}, mode {e(r['mode'])}, seed {r['seed']}, "
                     f"aging factor {r['aging_factor']} (above 1: life compressed)</p>")
        if r.get("error"):
            parts.append(f"<p class='fail'>run error: {e(r['error'])}</p>")
        parts.append("<table><tr><th>criterion</th><th>measured</th><th>threshold</th><th></th></tr>")
        for v in r["verdicts"]:
            parts.append(
                f"<tr><td>{e(v['criterion'])}</td><td>{e(json.dumps(v['value']))}</td><td>{e(v['op'])} {e(json.dumps(v['threshold']))}</td>"
                f"<td class='{'pass' if v['ok'] else 'fail'}'>{'ok' if v['ok'] else 'FAILED'}</td></tr>"
            )
        parts.append("</table>")
        if r.get("baseline_moves"):
            parts.append("<p class='fail'>moved against the baseline:</p><ul>" + "".join(f"<li>{e(m)}</li>" for m in r["baseline_moves"]) + "</ul>")
        parts.append(_plots(r))
    parts.append("</body></html>")
    with open(path, "w") as f:
        f.write("".join(parts))
