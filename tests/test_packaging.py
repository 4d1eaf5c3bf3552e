"""The installed project is one import name, ``platewise``, and works from
its wheel (not only from an editable checkout): the firmware sources it
compiles and flashes, the cell presets and every subcommand come from the
installed package.

The wheel is built from a copy of the tracked tree (no build/ left in the
checkout) and installed without dependencies into a folder of its own; the
commands then run with that folder first on the path, from outside the
repository, so nothing of the checkout can stand in for a missing file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from repo_paths import REPO_ROOT

SKIP_COPY = {".git", ".venv", "typings", "build", "__pycache__", ".pytest_cache", "platewise.egg-info"}


def _pip(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", *args, "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src") / "platewise"
    shutil.copytree(REPO_ROOT, src, ignore=lambda d, names: [n for n in names if n in SKIP_COPY or n.endswith(".egg-info")])
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src))
    (whl,) = out.glob("platewise-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "--no-compile", "--target", str(target), str(wheel))
    return target


def _run(site: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-P", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=site.parent
    )


def test_the_wheel_has_one_top_level_name(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")] or [None]
        declared = z.read(top_level).decode().split() if top_level else ["platewise"]
    assert tops == {"platewise"}, tops
    assert declared == ["platewise"], declared
    # The parts are inside it, with the firmware as a board gets it and the presets as data.
    for want in (
        "platewise/cli.py",
        "platewise/firmware/main.py",
        "platewise/firmware/boards/emulated.py",
        "platewise/shared/wire.py",
        "platewise/host/twin/service.py",
        "platewise/host/presets/lfp-liquid.json",
        "platewise/hil/cell/model.py",
        "platewise/hil/plugin.py",
        "platewise/hil/scenarios/overcharge-stuck-source.toml",
    ):
        assert want in names, want
    (eps,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as z:
        assert "platewise_hil = platewise.hil.plugin" in z.read(eps).decode()  # the pytest11 plugin
    assert not [n for n in names if n.startswith("platewise/tests/") or "/__pycache__/" in n]


def test_installed_package_is_the_one_imported(installed):
    r = _run(installed, "-c", "import platewise, platewise.host.presets as p, platewise.shared.wire as w; print(platewise.__file__); print(p.PRESET_DIR); print(w.__name__)")
    assert r.returncode == 0, r.stderr
    pkg_file, preset_dir, wire_name = r.stdout.split()
    assert pkg_file.startswith(str(installed)) and preset_dir.startswith(str(installed))
    assert wire_name == "platewise.shared.wire"
    # The board names are not importable on the host: only `platewise` was installed.
    r = _run(installed, "-c", "import importlib.util as u; print([n for n in ('firmware', 'shared', 'host', 'hil') if u.find_spec(n)])")
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_every_subcommand_answers_from_the_wheel(installed):
    r = _run(installed, "-m", "platewise", "--help")
    assert r.returncode == 0, r.stderr
    subs = ("demo", "cell", "twin", "cmd", "flash", "bench", "hil")
    assert all(s in r.stdout for s in subs)
    for argv in [(s, "--help") for s in subs] + [
        ("cell", "run", "--help"),
        ("cell", "presets", "--help"),
        ("twin", "replay", "--help"),
        ("twin", "run", "--help"),
        ("twin", "export", "--help"),
        ("twin", "serve", "--help"),
        ("bench", "cell", "--help"),
        ("bench", "firmware", "--help"),
        ("bench", "twin", "--help"),
        ("hil", "run", "--help"),
        ("hil", "baseline", "save", "--help"),
    ]:
        r = _run(installed, "-m", "platewise", *argv)
        assert r.returncode == 0 and "usage: platewise" in r.stdout, (argv, r.stderr)


def test_the_wheel_runs_the_firmware_and_reads_its_presets(installed):
    r = _run(installed, "-m", "platewise", "cell", "presets", "--json")
    assert r.returncode == 0, r.stderr
    assert {p["preset"] for p in json.loads(r.stdout)} >= {"lfp-liquid", "nmc811-liquid", "sulfide-ssb"}
    # The shipped HIL scenarios are package data, found and validated from the wheel.
    r = _run(installed, "-m", "platewise", "hil", "list")
    assert r.returncode == 0 and "overcharge-stuck-source" in r.stdout, r.stdout + r.stderr
    # The firmware compiled from the installed sources, in the MicroPython VM.
    r = _run(installed, "-m", "platewise", "bench", "firmware", "--ticks", "300", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["ticks"] == 300 and d["heap_growth_bytes_10k_ticks"] == 0
    # The whole system: a virtual board on the installed firmware, the broker, the twin.
    r = _run(installed, "-m", "platewise", "demo", "--cells", "1", "--cycles", "1", "--json", "--quiet", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (cell,) = json.loads(r.stdout)["cells"]
    assert cell["gaps"] == 0 and cell["received"] == cell["published"] > 100, cell
    err_pct = 100.0 * (cell["inventory_est_ah"] - cell["inventory_true_ah"]) / cell["inventory_true_ah"]
    assert abs(err_pct) < 2.0, cell
