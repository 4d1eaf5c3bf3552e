"""pytest plugin: HIL scenario files as test items, and HIL fixtures.

Registered through the ``pytest11`` entry point (pyproject.toml), so any
pytest run in an environment with platewise installed has it:

- A ``.toml`` file in a folder named ``scenarios``, any ``*.hil.toml``, and
  a ``.toml`` file named on the command line is collected as one item per scenario (hil/scenario.py), named after the
  scenario, so ``-k``, ``-x``, ``--junitxml`` and pytest-xdist's ``-n`` work
  as for any test. The item runs it (hil/runner.py) and fails with each
  failed criterion's measured value and threshold, and with each figure
  that moved against ``--hil-baseline`` (old and new value).
- ``--hil-fw-config FILE``: a JSON object of firmware config overrides
  applied to every scenario (a lab's edited config).
- ``--hil-json FILE`` / ``--hil-html FILE`` / ``--hil-save-baseline FILE``:
  written at the end of the session from every scenario's result (each
  worker writes its results into a shared folder; the controller reads them).
- Fixtures for users' own tests: ``broker`` (a private Mosquitto),
  ``twin`` (the digital twin subscribed to it), ``emulated_cell`` (a Cell
  of the ``hil_preset`` marker's preset, default lfp-liquid, seed from the
  marker, default 0) and ``virtual_board`` (a factory: ``virtual_board(cycles=1,
  on_step=None, **firmware_overrides)`` gives a VirtualBoard on that cell
  with the broker's address, not started; every board is killed at teardown).

Failure behaviour: a scenario file that does not validate is a collection
error naming the file and the key; a ``--hil-fw-config`` file that is not a
JSON object stops the session with a usage error naming it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from platewise.hil import baseline as baselines
from platewise.hil import report
from platewise.hil.hilcli import OPTIONS
from platewise.hil.scenario import ScenarioError, load

_RESULTS_KEY = "hil_results_dir"


def pytest_addoption(parser) -> None:
    g = parser.getgroup("platewise-hil", "Platewise HIL scenarios")
    for plugin, _cli, help_ in OPTIONS:
        g.addoption(plugin, default=None, help=help_)
    g.addoption("--hil-progress", action="store_true", help="a progress line on stderr while a scenario runs")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "hil_preset(name, seed=0): the emulated_cell fixture's preset and seed")
    path = config.getoption("--hil-fw-config")
    over = {}
    if path:
        try:
            with open(path) as f:
                over = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise pytest.UsageError(f"--hil-fw-config {path}: {e}") from None
        if not isinstance(over, dict):
            raise pytest.UsageError(f"--hil-fw-config {path}: expected a JSON object of firmware config fields")
    config._hil_fw_over = over
    config._hil_base = baselines.load(config.getoption("--hil-baseline")) if config.getoption("--hil-baseline") else None
    winput = getattr(config, "workerinput", None)
    if winput is not None:
        config._hil_dir = winput.get(_RESULTS_KEY)
    else:
        config._hil_tmp = tempfile.TemporaryDirectory(prefix="platewise-hil-results-")
        config._hil_dir = config._hil_tmp.name


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist: the workers write their results where the controller reads them."""
    node.workerinput[_RESULTS_KEY] = node.config._hil_dir


def _named_on_command_line(config, file_path: Path) -> bool:
    here = config.invocation_params.dir
    return any((here / a.split("::")[0]).resolve() == file_path.resolve() for a in config.args)


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix != ".toml":
        return None
    if file_path.name.endswith(".hil.toml") or file_path.parent.name == "scenarios" or _named_on_command_line(parent.config, file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        try:
            sc = load(self.path)
        except ScenarioError as e:
            raise self.CollectError(str(e)) from None
        yield ScenarioItem.from_parent(self, name=sc.name, scenario=sc)


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario, **kw):
        super().__init__(**kw)
        self.scenario = scenario

    def runtest(self) -> None:
        from platewise.hil.runner import run

        cfg = self.config
        progress = None
        if cfg.getoption("--hil-progress"):
            progress = _progress_line(self.scenario)
        res = run(self.scenario, fw_overrides=cfg._hil_fw_over, progress=progress, device=cfg.getoption("--hil-device"),
                  board_host=cfg.getoption("--hil-board-host") or "127.0.0.1")  # fmt: skip
        if progress is not None:
            sys.stderr.write("\n")
        out = report.result_json(res)
        moved = []
        if cfg._hil_base is not None:
            moved = baselines.compare(cfg._hil_base, self.scenario, res.values)
            out["baseline_moves"] = moved
            out["passed"] = out["passed"] and not moved
        if cfg._hil_dir:
            with open(os.path.join(cfg._hil_dir, f"{os.getpid()}-{self.scenario.name}.json"), "w") as f:
                json.dump(out, f)
        for v in res.verdicts:
            self.user_properties.append((v.criterion.text(), json.dumps(v.value)))
        failures = res.failures() + [f"baseline: {m}" for m in moved]
        if failures:
            raise ScenarioFailed("\n".join(failures))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (ScenarioFailed, ScenarioError)):
            return f"scenario {self.scenario.name} ({self.path.name}):\n" + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"hil scenario: {self.scenario.name}"


def _progress_line(sc):
    total_s = sc.max_hours * 3600.0 or None

    def show(sim_s: float, wall_s: float) -> None:
        if total_s:
            n = int(30 * min(1.0, sim_s / total_s))
            bar = "#" * n + "." * (30 - n)
            sys.stderr.write(f"\r  {sc.name}: [{bar}] {sim_s / 3600:6.2f}/{total_s / 3600:.2f} h sim, {wall_s:5.1f} s")
        else:
            sys.stderr.write(f"\r  {sc.name}: {sim_s / 3600:6.2f} h sim, {wall_s:5.1f} s")
        sys.stderr.flush()

    return show


def pytest_sessionfinish(session, exitstatus) -> None:
    cfg = session.config
    if getattr(cfg, "workerinput", None) is not None or not getattr(cfg, "_hil_dir", None):
        return
    results = []
    for p in sorted(Path(cfg._hil_dir).glob("*.json")):
        results.append(json.loads(p.read_text()))
    results.sort(key=lambda r: r["name"])
    if results and cfg.getoption("--hil-json"):
        with open(cfg.getoption("--hil-json"), "w") as f:
            json.dump({"scenarios": [report.without_series(r) for r in results]}, f, indent=1)
    if results and cfg.getoption("--hil-html"):
        report.write_html(results, cfg.getoption("--hil-html"))
    if results and cfg.getoption("--hil-save-baseline"):
        baselines.save(results, cfg.getoption("--hil-save-baseline"))
    tmp = getattr(cfg, "_hil_tmp", None)
    if tmp is not None:
        tmp.cleanup()


# --- fixtures for users' own HIL tests -------------------------------------
@pytest.fixture
def broker():
    """A private Mosquitto broker (platewise.host.broker.MosquittoBroker)."""
    from platewise.host.broker import MosquittoBroker

    with MosquittoBroker() as b:
        yield b


@pytest.fixture
def twin(broker, tmp_path):
    """The digital twin, its store in tmp_path, subscribed to ``broker``."""
    from platewise.host.twin.mqtt import TwinSubscriber
    from platewise.host.twin.service import Twin

    t = Twin(db_path=str(tmp_path / "twin.db"))
    sub = TwinSubscriber(t, broker.host, broker.port, client_id=f"fixture-twin-{broker.port}")
    sub.start()
    try:
        yield t
    finally:
        sub.stop()
        t.close()


@pytest.fixture
def emulated_cell(request):
    """A Cell of the ``hil_preset`` marker's preset and seed (default lfp-liquid, 0)."""
    from platewise.hil.cell.model import Cell, load_params

    m = request.node.get_closest_marker("hil_preset")
    preset = m.args[0] if m and m.args else "lfp-liquid"
    seed = m.kwargs.get("seed", 0) if m else 0
    return Cell(load_params(preset), seed=seed)


@pytest.fixture
def virtual_board(emulated_cell, broker):
    """Factory: ``virtual_board(cycles=1, on_step=None, cell_id="hil-1", seed=None, **fw_overrides)``."""
    from platewise.hil.cell.sensors import Sensors
    from platewise.hil.demo import firmware_config
    from platewise.hil.virtual_board import VirtualBoard

    made = []

    def make(cycles: int = 1, on_step=None, cell_id: str = "hil-1", seed: int | None = None, **overrides):
        cell = emulated_cell
        cfg = firmware_config(cell, cell_id, broker.host, broker.port, cycles, **overrides)
        vb = VirtualBoard(cell, Sensors(cell.params, seed=cell.seed if seed is None else seed), cfg, on_step=on_step)
        made.append(vb)
        return vb

    yield make
    for vb in made:
        vb.kill()
