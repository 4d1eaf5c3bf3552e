"""Run one HIL scenario: the real firmware on a virtual board, a real
Mosquitto broker, the digital twin, and the scenario's timed events.

``run(scenario)`` builds the cell from the preset and the scenario's
overrides, the firmware's config from hil/demo.py ``firmware_config`` plus
the scenario's ``[firmware]`` table (and a lab's own overrides), checks that
config with the firmware's own validator, starts the broker, the twin (its
store in a temporary folder) and the board, and fires each event on the
tick its anchor plus ``after_s`` is reached (hil/scenario.py ANCHORS). The
board's MQTT goes through a relay (hil/netlink.py), so a Wi-Fi drop is a
link drop with the broker up. The returned ``Result`` has the run record
(hil/metrics.py says what is in it), every metric's value and each
criterion's verdict.

Time: the scenario's clock is the simulated time since the first boot; a
power cycle adds the board's boot time and the time it was off, so each
message's ``t_s`` (the board's clock) is mapped to the scenario's clock by
its boot (the seq block in the boot event).

Failure behaviour: a config the firmware rejects raises ``ScenarioError``
before anything starts. A run that crashes (firmware exit not 0, emulator
error) or passes ``timeout_s`` returns a Result with ``error`` set and
``passed`` False; its criteria are still evaluated on what was recorded.
Every process, broker and thread is stopped on the way out. A board whose
fault is latched, with no event left to fire, is stopped FAULT_TAIL_S after
the fault instead of idling to max_hours (its exit summary is then
``{"killed": True, "fault": code}``).
"""

from __future__ import annotations

import json
import tempfile
import time
from array import array
from pathlib import Path

from platewise.hil.cell.model import Cell
from platewise.hil.cell.sensors import Sensors
from platewise.hil.commands import CommandPort
from platewise.hil.demo import firmware_config
from platewise.hil.metrics import compute
from platewise.hil.netlink import NetLink
from platewise.hil.scenario import Scenario, validate_firmware
from platewise.hil.virtual_board import HilError, VirtualBoard
from platewise.host.broker import MosquittoBroker
from platewise.host.flash import PIL_STATE_DIR
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin

TRACE_FIELDS = ("t_s", "voltage_v", "current_a", "temperature_c", "pressure_mpa", "contactor", "resistance_ohm", "inventory_ah")
CMD_KEY = bytes(range(100, 132))  # the scenario board's command key (its secrets file)
# While a command is on its way virtual time is held to this many seconds
# per real second, so the board cannot run out its scenario before the
# command arrives; lifted when the board has published its decision.
COMMAND_SPEED_CAP = 20.0
COMMAND_WAIT_S = 15.0
# A board whose fault is latched idles until max_run_s; with no event left
# the run ends this long (simulated) after the fault, enough for the
# figures that look past it (the contactor stays open).
FAULT_TAIL_S = 900.0


class Record:
    """What one run produced (hil/metrics.py computes the figures from it)."""

    def __init__(self, scenario: Scenario, cfg: dict, params: dict):
        self.scenario = scenario
        self.cfg = cfg
        self.params = params
        self.trace = {k: array("d") for k in TRACE_FIELDS}
        self.fired: list[tuple[float, str]] = []
        self.fw: list[dict] = []  # per boot: the firmware's exit summary ({"killed": True} for a power cut)
        self.fw_events: list[dict] = []
        self.telemetry: list[dict] = []
        self.cycles: list[dict] = []
        self.estimates: list[dict] = []
        self.twin_cell: dict = {}
        self.cell_end: dict = {}
        self.boot_offsets_s: list[float] = [0.0]
        self.wall_s = 0.0
        self.error: str | None = None


class Verdict:
    def __init__(self, criterion, value):
        self.criterion = criterion
        self.value = value
        self.ok = criterion.holds(value)

    def text(self) -> str:
        mark = "ok" if self.ok else "FAILED"
        return f"{self.criterion.text()}: measured {json.dumps(self.value)} ({mark})"


class Result:
    def __init__(self, record: Record):
        self.record = record
        self.scenario = record.scenario
        self.values = compute(record)
        self.verdicts = [Verdict(c, self.values[c.metric]) for c in record.scenario.criteria]
        self.error = record.error
        self.passed = self.error is None and all(v.ok for v in self.verdicts)

    def failures(self) -> list[str]:
        out = [f"run error: {self.error}"] if self.error else []
        return out + [v.text() for v in self.verdicts if not v.ok]


class _Clock:
    """Anchors and pending events, advanced once per tick (in the board's serve thread)."""

    def __init__(self, events):
        self.pending = list(enumerate(events))
        self.anchor_s: dict[str, float] = {}
        self.fired_s: dict[int, float] = {}
        self.charged = False
        self.discharged = False

    def due(self, t_s: float, current_a: float, contactor: bool):
        a = self.anchor_s
        a.setdefault("start", t_s)
        if current_a > 0:
            a.setdefault("charge", t_s)
            self.charged = True
            if self.discharged:
                a.setdefault("recharge", t_s)
        elif current_a < 0:
            a.setdefault("discharge", t_s)
            self.discharged = True
        elif self.charged and not contactor:
            a.setdefault("rest", t_s)
        out = []
        for n, ev in list(self.pending):
            base = self.fired_s.get(n - 1) if ev.at == "previous" else a.get(ev.at)
            if base is not None and t_s >= base + ev.after_s:
                self.pending.remove((n, ev))
                self.fired_s[n] = t_s
                out.append(ev)
        return out


def _rows(store, cell_id: str, offsets: list[float]):
    """The twin's stored board messages, decoded, on the scenario clock (module doc)."""
    rows = [r for r in store.messages(cell_id) if not r["retained"] and r["kind"] in ("event", "telemetry", "cycle")]
    rows.sort(key=lambda r: r["seq"])
    bases = sorted(int(m["value"]) for m in (json.loads(r["payload"]) for r in rows if r["kind"] == "event") if m["event"] == "boot")
    out = []
    for r in rows:
        m = json.loads(r["payload"])
        boot = max(0, sum(1 for b in bases if b <= r["seq"]) - 1)
        m["t_s"] = m["t_s"] + offsets[min(boot, len(offsets) - 1)]
        out.append((r["kind"], m))
    return out


def _fault_tail_over(port: CommandPort, board_t_s: float) -> bool:
    """A fault latched in the running boot more than FAULT_TAIL_S ago (board clock)."""
    t_fault = None
    for e in port.of("event"):
        if e["event"] == "boot":
            t_fault = None  # a new boot: earlier faults are another boot's clock
        elif e["event"] == "fault" and "before reboot" not in e.get("msg", ""):
            t_fault = e["t_s"]
    return t_fault is not None and board_t_s - t_fault > FAULT_TAIL_S


def _flash_pil(device: str, root: Path, fw_config: dict) -> None:
    """The run's config and secrets onto the real board, which resets into the run (raises HilError)."""
    from platewise.host.flash import FlashError, flash

    (root / "pil-config.json").write_text(json.dumps(fw_config))
    try:
        flash(device, config=str(root / "pil-config.json"), secrets=str(root / "secrets.json"), pil=True)
    except FlashError as e:
        raise HilError(f"flashing the board on {device}: {e}") from None


def run(scenario: Scenario, fw_overrides: dict | None = None, progress=None, device: str | None = None,
        board_host: str = "127.0.0.1") -> Result:
    """Run ``scenario``; ``fw_overrides`` (a lab's config edits) go over its
    ``[firmware]`` table; ``progress(sim_s, wall_s)`` is called about once a second.

    ``device``: processor in the loop, the firmware on the real board at this
    serial port: the run's config and secrets are flashed to it first
    (``platewise flash --pil``, which resets it into the run), and
    ``board_host`` is this machine's address as the board reaches it over
    its network (the broker link listens there). A power cycle needs the
    board's power, which the harness does not hold: such a scenario is
    refused (HilError) before anything runs."""
    if device is not None and any(ev.do == "power_cycle" for ev in scenario.events):
        raise HilError(f"{scenario.name}: power_cycle events need the virtual board (not with a real board on {device})")
    params = scenario.params()
    cell = Cell(params, seed=scenario.seed)
    sensors = Sensors(params, seed=scenario.seed)
    tmp = tempfile.TemporaryDirectory(prefix=f"platewise-scen-{scenario.name}-")
    root = Path(tmp.name)
    (root / "state").mkdir()
    (root / "broker").mkdir()
    (root / "secrets.json").write_text(json.dumps({"cmd_key_hex": CMD_KEY.hex()}))
    cell_id = "scen-1"
    max_run_s = int(round(scenario.max_hours * 3600))
    over = dict(scenario.firmware)
    over.update(fw_overrides or {})
    cfg = firmware_config(
        cell, cell_id, "127.0.0.1", 1883, scenario.cycles, mode=scenario.mode, persist_dir=str(root / "state"),
        secrets_path=str(root / "secrets.json"), max_run_s=max_run_s, **over,
    )
    try:
        validate_firmware(f"{scenario.path.name}: firmware", cfg)
    except BaseException:
        tmp.cleanup()
        raise
    rec = Record(scenario, cfg, params)
    clock = _Clock(scenario.events)
    st = {"stuck_a": None, "cycle_at": None, "off_s": 0.0, "offset_s": 0.0, "capped": False}
    broker = MosquittoBroker(data_dir=str(root / "broker")).start()
    brokers = [broker]
    link = NetLink(broker.host, broker.port, host="127.0.0.1" if device is None else board_host).start()
    cfg.update(mqtt_host=link.host, mqtt_port=link.port)
    if device is not None:
        # The board's own files: its state folder (emptied by the flash) and its secrets file.
        cfg.update(persist_dir=PIL_STATE_DIR, secrets_path="secrets.json")
    twin = Twin(db_path=str(root / "twin.db"))
    sub = TwinSubscriber(twin, broker.host, broker.port, client_id=f"scen-twin-{scenario.name}"[:60])
    port = CommandPort(broker.host, broker.port, cell_id, CMD_KEY)
    board: VirtualBoard | None = None
    tr = rec.trace
    t0 = time.monotonic()

    def fire(b: VirtualBoard, ev, t_s: float) -> None:
        f, args = ev.fields, ev.fields.get("args", {})
        do = ev.do
        if do == "cell_fault":
            b.cell.inject(f["fault"], **args)
        elif do == "sensor_fault":
            b.sensors.inject(f["channel"], f["fault"], **args)
        elif do == "ambient":
            b.cell.inject("ambient", temperature_c=f["temperature_c"])
        elif do == "pressure":
            b.cell.inject("set_pressure", pressure_mpa=f["pressure_mpa"])
        elif do == "stuck_source":
            st["stuck_a"] = f["current_a"] if "current_a" in f else f["i_max_factor"] * cfg["i_max_a"]
            b.actuator_stuck_a = st["stuck_a"]
        elif do == "release_source":
            st["stuck_a"] = b.actuator_stuck_a = None
        elif do == "broker_down":
            brokers[-1].stop()
        elif do == "broker_up":
            brokers.append(MosquittoBroker(port=broker.port, data_dir=str(root / "broker")).start())
        elif do == "wifi_down":
            link.down()
        elif do == "wifi_up":
            link.up()
        elif do == "power_cycle":
            st["cycle_at"] = t_s
            st["off_s"] = f.get("off_s", 0.0)
            b._proc.kill()  # no clean stop, from this very tick (the serve loop ends on the closed socket)
        elif do == "command":
            args = dict(args)
            for k, factor in f.get("nominal_factor", {}).items():
                args[k] = factor * cfg["charge_current_a"]
            port.send(f["cmd"], args, f["auth"])
            b.speed_cap(COMMAND_SPEED_CAP)
            st["capped"] = True
        rec.fired.append((t_s, ev.label()))

    def on_step(b: VirtualBoard) -> None:
        t_s = st["offset_s"] + b.t_s
        c = b.cell
        for ev in clock.due(t_s, b.current_a, b.contactor):
            fire(b, ev, t_s)
            if st["cycle_at"] is not None:
                return  # the board is off: this tick never happened for it
        tr["t_s"].append(t_s)
        tr["voltage_v"].append(c.voltage_v)
        tr["current_a"].append(b.current_a)
        tr["temperature_c"].append(c.temperature_c)
        tr["pressure_mpa"].append(c.pressure_mpa)
        tr["contactor"].append(1.0 if b.contactor else 0.0)
        tr["resistance_ohm"].append(c.resistance_ohm)
        tr["inventory_ah"].append(c.inventory_ah)

    def boot(run_s: int) -> VirtualBoard:
        b = VirtualBoard(cell, sensors, dict(cfg, max_run_s=run_s), on_step=on_step, device=device)
        b.actuator_stuck_a = st["stuck_a"]
        if device is not None:
            _flash_pil(device, root, b.fw_config)
        return b.start()

    try:
        sub.start()
        board = boot(max_run_s)
        last = 0.0
        while True:
            now = time.monotonic()
            if now - t0 > scenario.timeout_s:
                raise HilError(f"{scenario.name}: not finished after {scenario.timeout_s:.0f} s wall (timeout_s)")
            if st["capped"] and (port.decided() or now - port.sent_at > COMMAND_WAIT_S):
                st["capped"] = False
                board.speed_cap(None)
            if progress is not None and now - last >= 1.0:
                last = now
                progress(st["offset_s"] + board.t_s, now - t0)
            if board.running():
                if not clock.pending and _fault_tail_over(port, board.t_s):
                    board.kill()  # latched, nothing left to fire: the rest would be idle ticks
                    rec.fw.append({"killed": True, "fault": port.events("fault")[-1]["code"]})
                    break
                time.sleep(0.02)
                continue
            if st["cycle_at"] is None:
                rc = board.wait(timeout_s=30)
                rec.fw.append(board.summary or {})
                if rc != 0:
                    rec.error = f"firmware exit {rc}: {(board.stderr or board.stdout)[-800:]}"
                break
            board.kill()
            rec.fw.append({"killed": True})
            off_s = st["off_s"]
            if off_s > 0:
                cell.step(off_s, 0.0)
            st["offset_s"] = st["cycle_at"] + off_s
            rec.boot_offsets_s.append(st["offset_s"])
            st["cycle_at"] = None
            board = boot(max(1, max_run_s - int(st["offset_s"])))
        # The last deliveries in flight reach the twin.
        want = sum(f.get("published", 0) for f in rec.fw)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if twin.cell(cell_id)["received"] >= want:
                    break
            except KeyError:
                pass
            time.sleep(0.05)
    except HilError as e:
        rec.error = str(e)
    finally:
        if board is not None:
            board.kill()
        port.close()
        sub.stop()
        link.stop()
        twin.flush()
        try:
            rec.twin_cell = twin.cell(cell_id)
        except KeyError:
            rec.twin_cell = {}
        for kind, m in _rows(twin.store, cell_id, rec.boot_offsets_s):
            {"event": rec.fw_events, "telemetry": rec.telemetry, "cycle": rec.cycles}[kind].append(m)
        rec.estimates = [dict(r) for r in twin.store.estimates(cell_id)]
        twin.close()
        for b in brokers:
            b.stop()
        tmp.cleanup()
    rec.cell_end = dict(cell.state(), overcharge_ah=cell.overcharge_ah, initial_inventory_ah=cell.initial_inventory_ah)
    rec.wall_s = time.monotonic() - t0
    return Result(rec)
