"""HIL scenarios as data: load and validate ``hil/scenarios/*.toml``.

A scenario file (stdlib ``tomllib``) has these tables; every key is checked
and an unknown one is an error:

  [scenario]   name (default: the file's stem), description, preset (a preset
               name or a JSON file, relative to the scenario file), mode
               ("cccv" | "adaptive"), seed, aging_factor, cycles, max_hours
               (simulated, the firmware's max_run_s; default
               DEFAULT_HOURS_PER_CYCLE x cycles), timeout_s (wall), and
               criteria: a list of strings "METRIC OP VALUE", OP one of <=, <,
               >=, >, ==, != and VALUE a number, a quoted string, true/false
               or null (a key of [scenario]: TOML puts any key after an
               [[events]] table into that event)
  [cell]       preset field overrides (host.presets FIELDS)
  [firmware]   firmware config overrides (firmware/config.py's table)
  [[events]]   at (an anchor, ANCHORS), after_s (seconds after it), do (EVENTS)
               and the event's own fields (EVENTS[do])
  [tolerance]  METRIC = allowed move against a baseline (metric's unit)

Failure behaviour: every problem raises ``ScenarioError`` naming the file
and the key (``"x.toml: events[2].fault: unknown cell fault 'foo' (have
...)"``); a scenario is returned only whole, so nothing runs
half-configured. The firmware checks its own config at boot as a board
does; ``validate_firmware`` runs that same check in the MicroPython port
before a run starts.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

from platewise.hil.cell.model import FAULTS as CELL_FAULTS
from platewise.hil.cell.sensors import CHANNELS, SENSOR_FAULTS
from platewise.hil.metrics import METRICS
from platewise.host.mpybuild import micropython_env, micropython_path
from platewise.host.presets import FIELDS as CELL_FIELDS
from platewise.host.presets import ParamError, load_params

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
# max_hours when a scenario gives none: a board with a latched fault runs
# until max_run_s, so every run has one (a slow formation cycle of the
# presets takes about 10 h).
DEFAULT_HOURS_PER_CYCLE = 14.0

# When an event fires: the first tick at which the anchor holds, plus after_s.
ANCHORS = {
    "start": "the first tick of the run",
    "charge": "the first tick that charges (current > 0)",
    "discharge": "the first tick that discharges (current < 0)",
    "rest": "the first tick at rest (contactor open, no current) after a charge",
    "recharge": "the first charge after a discharge (cycle 2)",
    "previous": "the tick the previous event fired",
}

# Per cell fault, the keyword arguments hil/cell/model.py Cell.inject takes.
_CELL_FAULT_ARGS = {
    "pressure_loss": ("pressure_mpa",),
    "pressure_overload": ("pressure_mpa",),
    "set_pressure": ("pressure_mpa",),
    "internal_short": ("resistance_ohm", "shrink_per_h"),
    "cooling_loss": ("factor",),
    "ambient": ("temperature_c",),
    "interfacial_drift": ("factor",),
    "clear": (),
}
assert set(_CELL_FAULT_ARGS) == set(CELL_FAULTS), "a cell fault without its argument list"
_SENSOR_FAULT_ARGS = {"stuck": ("value",), "open": ("value",), "noisy": ("factor",), "drift": ("rate_per_s",), "clear": ()}
COMMAND_AUTH = ("signed", "forged", "replayed")
COMMANDS = ("set_limits", "pulse", "clear_fault", "start", "stop")

# do -> {field: (type, required)}; "args" is a table checked per event kind.
EVENTS = {
    "cell_fault": {"fault": (str, True), "args": (dict, False)},
    "sensor_fault": {"channel": (str, True), "fault": (str, True), "args": (dict, False)},
    "stuck_source": {"current_a": (float, False), "i_max_factor": (float, False)},
    "release_source": {},
    "broker_down": {},
    "broker_up": {},
    "wifi_down": {},
    "wifi_up": {},
    "power_cycle": {"off_s": (float, False)},
    "command": {"cmd": (str, True), "auth": (str, False), "args": (dict, False), "nominal_factor": (dict, False)},
    "ambient": {"temperature_c": (float, True)},
    "pressure": {"pressure_mpa": (float, True)},
}
EVENT_DOC = {
    "cell_fault": "inject a cell fault (hil/cell/model.py FAULTS) with its args",
    "sensor_fault": "inject a sensor fault on channel v|i|t|p (hil/cell/sensors.py)",
    "stuck_source": "the actuator sticks at current_a, or i_max_factor x the firmware's i_max_a (only the contactor stops it)",
    "release_source": "the stuck actuator is released",
    "broker_down": "the broker stops (its persistence kept)",
    "broker_up": "the broker starts again on the same port",
    "wifi_down": "the board's network link drops (the broker and the twin stay up)",
    "wifi_up": "the board's link comes back",
    "power_cycle": "the board loses power (killed, no clean stop) and boots again after off_s from its flash state",
    "command": "a command to the board: auth signed (default), forged (wrong key) or replayed (the last signed one again); "
    "args as given, and nominal_factor = {arg = f} sets arg to f x the firmware's charge_current_a",
    "ambient": "ambient temperature step to temperature_c",
    "pressure": "fixture pressure step to pressure_mpa",
}

_SCENARIO_KEYS = {
    "name": str,
    "description": str,
    "preset": str,
    "mode": str,
    "seed": int,
    "aging_factor": float,
    "cycles": int,
    "max_hours": float,
    "timeout_s": float,
    "criteria": list,
}
_TOP_KEYS = ("scenario", "cell", "firmware", "events", "tolerance")
_OPS = ("<=", ">=", "==", "!=", "<", ">")
_CRITERION = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$")
# Keys the runner owns: a scenario that sets them would break the harness.
_RUNNER_KEYS = ("cell_id", "mqtt_host", "mqtt_port", "persist_dir", "secrets_path", "max_cycles", "max_run_s", "mode")


class ScenarioError(ValueError):
    pass


class Criterion:
    def __init__(self, metric: str, op: str, value):
        self.metric = metric
        self.op = op
        self.value = value

    def text(self) -> str:
        return f"{self.metric} {self.op} {json.dumps(self.value)}"

    def holds(self, measured) -> bool:
        if self.op == "==":
            return measured == self.value
        if self.op == "!=":
            return measured != self.value
        if not isinstance(measured, (int, float)) or isinstance(measured, bool):
            return False  # a missing figure (None) fails an ordering
        return {"<=": measured <= self.value, ">=": measured >= self.value, "<": measured < self.value, ">": measured > self.value}[self.op]


class Event:
    def __init__(self, at: str, after_s: float, do: str, fields: dict):
        self.at = at
        self.after_s = after_s
        self.do = do
        self.fields = fields

    def label(self) -> str:
        extra = self.fields.get("fault") or self.fields.get("cmd") or ""
        return f"{self.do}{':' + extra if extra else ''}"


class Scenario:
    def __init__(self, path: Path, name: str, description: str, preset: str, mode: str, seed: int,
                 aging_factor: float | None, cycles: int, max_hours: float, timeout_s: float,
                 cell: dict, firmware: dict, events: list, criteria: list, tolerance: dict):
        self.path = path
        self.name = name
        self.description = description
        self.preset = preset
        self.mode = mode
        self.seed = seed
        self.aging_factor = aging_factor
        self.cycles = cycles
        self.max_hours = max_hours
        self.timeout_s = timeout_s
        self.cell = cell
        self.firmware = firmware
        self.events = events
        self.criteria = criteria
        self.tolerance = tolerance

    def params(self) -> dict:
        """The cell's parameters: the preset with the scenario's overrides."""
        over = dict(self.cell)
        if self.aging_factor is not None:
            over["aging_factor"] = self.aging_factor
        return load_params(self.preset, over)


def _typed(where: str, value, typ):
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ScenarioError(f"{where}: expected {typ.__name__}, got {type(value).__name__} {value!r}")
    return value


def parse_criterion(where: str, text) -> Criterion:
    if not isinstance(text, str):
        raise ScenarioError(f"{where}: expected a string 'METRIC OP VALUE', got {text!r}")
    m = _CRITERION.match(text)
    if not m:
        raise ScenarioError(f"{where}: {text!r} is not 'METRIC OP VALUE' (OP one of {' '.join(_OPS)})")
    metric, op, raw = m.groups()
    if metric not in METRICS:
        raise ScenarioError(f"{where}: unknown metric {metric!r} (see `platewise hil list --metrics`)")
    try:
        value = json.loads(raw.replace("'", '"'))
    except json.JSONDecodeError:
        raise ScenarioError(f"{where}: value {raw!r} is not a number, a quoted string, true, false or null") from None
    if op not in ("==", "!=") and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        raise ScenarioError(f"{where}: {op} needs a number, got {raw!r}")
    return Criterion(metric, op, value)


def _event(where: str, raw) -> Event:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a table")
    raw = dict(raw)
    do = raw.pop("do", None)
    if do not in EVENTS:
        raise ScenarioError(f"{where}.do: unknown event {do!r} (have {', '.join(EVENTS)})")
    at = raw.pop("at", "start")
    if at not in ANCHORS:
        raise ScenarioError(f"{where}.at: unknown anchor {at!r} (have {', '.join(ANCHORS)})")
    after_s = _typed(f"{where}.after_s", raw.pop("after_s", 0.0), float)
    if after_s < 0:
        raise ScenarioError(f"{where}.after_s: must be >= 0")
    spec = EVENTS[do]
    fields = {}
    for k, v in raw.items():
        if k not in spec:
            raise ScenarioError(f"{where}.{k}: unknown field of {do} (have {', '.join(('at', 'after_s', 'do') + tuple(spec))})")
        fields[k] = _typed(f"{where}.{k}", v, spec[k][0])
    for k, (_t, required) in spec.items():
        if required and k not in fields:
            raise ScenarioError(f"{where}.{k}: {do} needs it")
    args = fields.get("args", {})
    if do == "cell_fault":
        allowed = _CELL_FAULT_ARGS.get(fields["fault"])
        if allowed is None:
            raise ScenarioError(f"{where}.fault: unknown cell fault {fields['fault']!r} (have {', '.join(CELL_FAULTS)})")
    elif do == "sensor_fault":
        if fields["channel"] not in CHANNELS:
            raise ScenarioError(f"{where}.channel: unknown channel {fields['channel']!r} (have {', '.join(CHANNELS)})")
        allowed = _SENSOR_FAULT_ARGS.get(fields["fault"])
        if allowed is None:
            raise ScenarioError(f"{where}.fault: unknown sensor fault {fields['fault']!r} (have {', '.join(SENSOR_FAULTS)})")
        if fields["fault"] == "drift" and "rate_per_s" not in args:
            raise ScenarioError(f"{where}.args.rate_per_s: a drift needs it")
    elif do == "command":
        if fields["cmd"] not in COMMANDS:
            raise ScenarioError(f"{where}.cmd: unknown command {fields['cmd']!r} (have {', '.join(COMMANDS)})")
        fields.setdefault("auth", "signed")
        if fields["auth"] not in COMMAND_AUTH:
            raise ScenarioError(f"{where}.auth: {fields['auth']!r} is not one of {', '.join(COMMAND_AUTH)}")
        allowed = None  # the firmware judges the arguments: that is what is tested
        for k, v in fields.get("nominal_factor", {}).items():
            _typed(f"{where}.nominal_factor.{k}", v, float)
    elif do == "stuck_source" and ("current_a" in fields) == ("i_max_factor" in fields):
        raise ScenarioError(f"{where}: stuck_source needs exactly one of current_a, i_max_factor")
    else:
        allowed = ()
    if allowed is not None:
        for k, v in args.items():
            if k not in allowed:
                raise ScenarioError(f"{where}.args.{k}: unknown argument of {fields.get('fault', do)} (have {', '.join(allowed) or 'none'})")
            _typed(f"{where}.args.{k}", v, float)
    return Event(at, after_s, do, fields)


def load(path: str | Path) -> Scenario:
    """Load and validate one scenario file (module doc); ScenarioError names file and key."""
    path = Path(path)
    f = path.name
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as e:
        raise ScenarioError(f"{f}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{f}: not valid TOML: {e}") from None
    for k in doc:
        if k not in _TOP_KEYS:
            raise ScenarioError(f"{f}: {k}: unknown table (have {', '.join(_TOP_KEYS)})")
    head = doc.get("scenario")
    if not isinstance(head, dict):
        raise ScenarioError(f"{f}: scenario: the [scenario] table is required")
    s = {}
    for k, v in head.items():
        if k not in _SCENARIO_KEYS:
            raise ScenarioError(f"{f}: scenario.{k}: unknown key (have {', '.join(_SCENARIO_KEYS)})")
        s[k] = _typed(f"{f}: scenario.{k}", v, _SCENARIO_KEYS[k])
    mode = s.get("mode", "cccv")
    if mode not in ("cccv", "adaptive"):
        raise ScenarioError(f"{f}: scenario.mode: {mode!r} is not one of cccv, adaptive")
    preset = s.get("preset", "lfp-liquid")
    if preset.endswith(".json"):
        preset = str((path.parent / preset).resolve())
    cell = doc.get("cell", {})
    for k in cell:
        if k not in CELL_FIELDS:
            raise ScenarioError(f"{f}: cell.{k}: unknown preset field")
    firmware = dict(doc.get("firmware", {}))
    for k in firmware:
        if k in _RUNNER_KEYS:
            raise ScenarioError(f"{f}: firmware.{k}: set by the runner (use scenario.cycles, max_hours, mode)")
    events = doc.get("events", [])
    if not isinstance(events, list):
        raise ScenarioError(f"{f}: events: expected [[events]] tables")
    evs = [_event(f"{f}: events[{n}]", e) for n, e in enumerate(events)]
    crit = s.get("criteria", [])
    if not crit:
        raise ScenarioError(f"{f}: scenario.criteria: a scenario needs at least one criterion")
    criteria = [parse_criterion(f"{f}: scenario.criteria[{n}]", c) for n, c in enumerate(crit)]
    tolerance = {}
    for k, v in doc.get("tolerance", {}).items():
        if k not in METRICS:
            raise ScenarioError(f"{f}: tolerance.{k}: unknown metric")
        tolerance[k] = _typed(f"{f}: tolerance.{k}", v, float)
    cycles = s.get("cycles", 1)
    # Always a bound: a latched fault holds the board until max_run_s.
    max_hours = s.get("max_hours", DEFAULT_HOURS_PER_CYCLE * cycles)
    if cycles < 1 or max_hours <= 0:
        raise ScenarioError(f"{f}: scenario.cycles must be >= 1 and max_hours > 0")
    sc = Scenario(
        path=path, name=s.get("name", path.name.removesuffix(".toml").removesuffix(".hil")), description=s.get("description", ""), preset=preset,
        mode=mode, seed=s.get("seed", 0), aging_factor=s.get("aging_factor"), cycles=cycles,
        max_hours=max_hours, timeout_s=s.get("timeout_s", 240.0), cell=dict(cell), firmware=firmware,
        events=evs, criteria=criteria, tolerance=tolerance,
    )
    try:
        sc.params()
    except ParamError as e:
        raise ScenarioError(f"{f}: cell: {e}") from None
    return sc


def discover(targets: list[str] | None = None) -> list[Path]:
    """Scenario files for NAMES, FILES or DIRs (none: the shipped set), sorted within each."""
    if not targets:
        return sorted(SCENARIO_DIR.glob("*.toml"))
    out: list[Path] = []
    for t in targets:
        p = Path(t)
        if p.is_dir():
            out += sorted(p.glob("*.toml"))
        elif p.suffix == ".toml":
            if not p.exists():
                raise ScenarioError(f"{t}: no such scenario file")
            out.append(p)
        elif (SCENARIO_DIR / f"{t}.toml").exists():
            out.append(SCENARIO_DIR / f"{t}.toml")
        else:
            raise ScenarioError(f"{t}: no shipped scenario of that name and no such file or folder")
    return out


_CHECK = """
import json, sys
from firmware.config import defaults, validate, ConfigError
cfg = defaults()
cfg.update(json.loads(sys.stdin.read()))
try:
    validate(cfg)
    print("OK")
except ConfigError as e:
    print("ERR " + str(e))
"""


def validate_firmware(where: str, cfg: dict) -> None:
    """The firmware's own boot check (firmware/config.py validate) on ``cfg``,
    in the MicroPython port; ScenarioError names ``where`` and the field."""
    proc = subprocess.run(
        [micropython_path(), "-c", _CHECK], input=json.dumps(cfg), capture_output=True, text=True,
        env=micropython_env(), timeout=30,
    )
    out = proc.stdout.strip().splitlines()
    if not out or out[-1] not in ("OK",) and not out[-1].startswith("ERR "):
        raise ScenarioError(f"{where}: the firmware's config check did not run: {proc.stderr[-400:]}")
    if out[-1].startswith("ERR "):
        raise ScenarioError(f"{where}: firmware config: {out[-1][4:]}")
