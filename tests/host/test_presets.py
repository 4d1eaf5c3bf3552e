"""Presets load, every value cites a source, bad input names the field."""

import json

import pytest

from platewise.hil.cell.model import PRESETS, ParamError, load_params
from platewise.host.presets import PRESET_DIR, SCHEMA


def test_required_presets_exist():
    for name in ("lfp-liquid", "nmc811-liquid", "sulfide-ssb"):
        assert name in PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_every_field_has_unit_and_source(name):
    p = load_params(name)
    assert p["preset"] == name
    for field, unit, _lo, _hi in SCHEMA:
        assert field in p
        meta = p["meta"][field]
        assert meta["unit"] == unit
        src = meta["source"]
        assert "cell-physics sec." in src or "engineering value" in src or src.startswith("test switch"), (field, src)


def test_physical_defaults_cite_cell_physics():
    p = load_params("sulfide-ssb")
    assert "cell-physics sec. 4" in p["meta"]["stack_pressure_mpa"]["source"]
    assert p["stack_pressure_mpa"] == 10.0
    assert p["li_thickness_um_per_mah_cm2"] == 4.85
    assert p["nucleation_overpotential_v"] == 0.041


def _write(tmp_path, doc):
    path = tmp_path / "cell.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _doc(name="lfp-liquid"):
    with open("%s/%s.json" % (PRESET_DIR, name)) as f:
        return json.load(f)


def test_load_from_path(tmp_path):
    doc = _doc()
    doc["params"]["area_cm2"]["value"] = 5.0
    p = load_params(_write(tmp_path, doc))
    assert p["area_cm2"] == 5.0


@pytest.mark.parametrize(
    "field, value",
    [("area_cm2", -1.0), ("loading_mah_cm2", "2"), ("dead_fraction", float("nan")), ("aging_factor", True)],
)
def test_bad_value_names_field(tmp_path, field, value):
    doc = _doc()
    doc["params"][field]["value"] = value
    with pytest.raises(ParamError) as e:
        load_params(_write(tmp_path, doc))
    assert e.value.field == field
    assert field in str(e.value)


def test_missing_and_unknown_field(tmp_path):
    doc = _doc()
    del doc["params"]["ccd_ma_cm2"]
    with pytest.raises(ParamError) as e:
        load_params(_write(tmp_path, doc))
    assert e.value.field == "ccd_ma_cm2"
    with pytest.raises(ParamError) as e:
        load_params("lfp-liquid", {"no_such_field": 1.0})
    assert e.value.field == "no_such_field"


def test_missing_source_rejected(tmp_path):
    doc = _doc()
    del doc["params"]["tau1_s"]["source"]
    with pytest.raises(ParamError) as e:
        load_params(_write(tmp_path, doc))
    assert e.value.field == "tau1_s"


def test_bad_ocv_table(tmp_path):
    doc = _doc()
    doc["params"]["cathode_ocv_table"]["value"] = [[0.0, 3.0], [0.5, 3.4], [0.4, 3.5], [1.0, 4.0]]
    with pytest.raises(ParamError) as e:
        load_params(_write(tmp_path, doc))
    assert e.value.field == "cathode_ocv_table"


def test_cross_field_and_unknown_preset():
    with pytest.raises(ParamError) as e:
        load_params("lfp-liquid", {"discharge_cutoff_v": 3.9})
    assert e.value.field == "discharge_cutoff_v"
    with pytest.raises(ParamError) as e:
        load_params("no-such-cell")
    assert e.value.field == "preset"


def test_overrides_validated_and_marked():
    p = load_params("lfp-liquid", {"aging_factor": 20})
    assert p["aging_factor"] == 20.0
    assert p["meta"]["aging_factor"]["source"] == "override"
    with pytest.raises(ParamError):
        load_params("lfp-liquid", {"aging_factor": -1})
