"""Scenario files: every shipped one validates; each kind of mistake is an
error that names the file and the key (hil/scenario.py), and the metric
registry documents every metric with a unit."""

from __future__ import annotations

import pytest

from platewise.hil.metrics import METRICS
from platewise.hil.scenario import SCENARIO_DIR, ScenarioError, discover, load, validate_firmware

GOOD = """
[scenario]
description = "ok"
seed = 2
max_hours = 1.0
criteria = ['fault == "OV"', "contactor_open_after_fault_ticks <= 1"]

[firmware]
rest_s = 300

[[events]]
at = "charge"
after_s = 60
do = "sensor_fault"
channel = "v"
fault = "stuck"
"""


def _write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_the_shipped_set_loads_and_names_are_unique():
    paths = discover()
    assert len(paths) >= 15
    names = [load(p).name for p in paths]
    assert len(set(names)) == len(names)
    assert all(p.parent == SCENARIO_DIR for p in paths)


def test_a_good_file_loads_with_its_fields(tmp_path):
    sc = load(_write(tmp_path, GOOD))
    assert (sc.name, sc.seed, sc.max_hours, sc.mode, sc.cycles) == ("s", 2, 1.0, "cccv", 1)
    assert sc.firmware == {"rest_s": 300}
    (ev,) = sc.events
    assert (ev.at, ev.after_s, ev.do, ev.fields) == ("charge", 60.0, "sensor_fault", {"channel": "v", "fault": "stuck"})
    assert [c.text() for c in sc.criteria] == ['fault == "OV"', "contactor_open_after_fault_ticks <= 1"]
    assert sc.criteria[1].holds(1) and not sc.criteria[1].holds(2) and not sc.criteria[1].holds(None)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("seed = 2", "sead = 2", "s.toml: scenario.sead: unknown key"),
        ('do = "sensor_fault"', 'do = "sensor_falt"', "s.toml: events[0].do: unknown event 'sensor_falt'"),
        ('fault = "stuck"', 'fault = "stuk"', "s.toml: events[0].fault: unknown sensor fault 'stuk'"),
        ('channel = "v"', 'channel = "x"', "s.toml: events[0].channel: unknown channel 'x'"),
        ('at = "charge"', 'at = "chrage"', "s.toml: events[0].at: unknown anchor 'chrage'"),
        ('channel = "v"', 'channel = "v"\nvalue = 3.0', "s.toml: events[0].value: unknown field of sensor_fault"),
        ("contactor_open_after_fault_ticks <= 1", "contactor_open_ticks <= 1", "s.toml: scenario.criteria[1]: unknown metric 'contactor_open_ticks'"),
        ("<= 1", "<= one", "s.toml: scenario.criteria[1]: value 'one' is not a number"),
        ("rest_s = 300", "persist_dir = 'x'", "s.toml: firmware.persist_dir: set by the runner"),
        ("[firmware]", "[cell]\nbogus_ohm = 1.0\n[firmware]", "s.toml: cell.bogus_ohm: unknown preset field"),
        ("[firmware]", "[tolerance]\nfualt = 1\n[firmware]", "s.toml: tolerance.fualt: unknown metric"),
        ("[firmware]", "[extra]\n[firmware]", "s.toml: extra: unknown table"),
        ("max_hours = 1.0", 'max_hours = "1"', "s.toml: scenario.max_hours: expected float"),
        ("seed = 2", 'seed = 2\npreset = "lfp-liqid"', "s.toml: cell: "),
    ],
)
def test_each_mistake_names_the_file_and_the_key(tmp_path, old, new, message):
    assert old in GOOD
    with pytest.raises(ScenarioError) as e:
        load(_write(tmp_path, GOOD.replace(old, new, 1)))
    assert message in str(e.value)


def test_cell_fault_arguments_are_checked(tmp_path):
    bad = GOOD.replace('do = "sensor_fault"\nchannel = "v"\nfault = "stuck"', 'do = "cell_fault"\nfault = "internal_short"\nargs = { ohms = 2.0 }')
    with pytest.raises(ScenarioError, match=r"events\[0\]\.args\.ohms: unknown argument of internal_short \(have resistance_ohm, shrink_per_h\)"):
        load(_write(tmp_path, bad))


def test_a_criterion_after_an_events_table_is_caught(tmp_path):
    # TOML puts a key written after [[events]] into that event: it must not
    # pass silently as a scenario without its criterion.
    text = GOOD + '\ncriteria = ["faults == 1"]\n'
    with pytest.raises(ScenarioError, match=r"events\[0\]\.criteria: unknown field of sensor_fault"):
        load(_write(tmp_path, text))


def test_the_firmware_check_runs_before_anything_starts():
    cfg = {"charge_voltage_v": 3.65, "v_max_v": 3.6}
    with pytest.raises(ScenarioError, match="x.toml: firmware: firmware config: charge_voltage_v/discharge_cutoff_v"):
        validate_firmware("x.toml: firmware", cfg)
    with pytest.raises(ScenarioError, match="unknown config field: rest_sec"):
        validate_firmware("x.toml: firmware", {"rest_sec": 3})
    validate_firmware("x.toml: firmware", {"rest_s": 300})


def test_every_metric_has_a_unit_and_a_doc_line():
    assert len(METRICS) >= 30
    for m in METRICS.values():
        assert m.unit and len(m.doc) > 20 and m.tol >= 0, m.name
