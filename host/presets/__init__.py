"""Cell parameters: presets as JSON data, one schema, one loader.

A preset file is ``{"name", "description", "params": {field: {"value", "unit",
"source"}}}``. Every physical default cites its cell-physics section (or says
"engineering value"), so a number in the emulator can be traced to the review.

``load_params`` returns a flat dict ``{field: value}`` (plus ``"preset"`` and
``"meta"``: per-field unit and source) that the model, the sensors, the batch
model and the cycler read by name. Any problem raises ``ParamError`` whose
``field`` attribute (and message) names the offending field.
"""

import json
import math
import os

PRESET_DIR = os.path.dirname(os.path.abspath(__file__))


class ParamError(ValueError):
    """A preset or override is invalid; ``.field`` names the bad field."""

    def __init__(self, field, reason):
        super().__init__("%s: %s" % (field, reason))
        self.field = field
        self.reason = reason


# (field, unit, lo, hi). Bounds are sanity limits (typos, sign errors), not physics.
# Every field is required in a preset: a cell is either fully specified or rejected.
SCHEMA = (
    # geometry and capacity
    ("area_cm2", "cm2", 1e-3, 1e5),
    ("loading_mah_cm2", "mAh/cm2", 0.05, 20.0),
    ("initial_lithiation", "-", 0.5, 1.0),
    ("thickness0_um", "um", 1.0, 1e5),
    # equilibrium potentials
    ("cathode_ocv_table", "[delithiated fraction, V vs Li]", None, None),
    ("collector_potential_v", "V vs Li", 0.5, 4.0),
    ("negative_knee_mah_cm2", "mAh/cm2", 1e-5, 0.2),
    # kinetics (area-specific, at t_ref_c)
    ("t_ref_c", "degC", -40.0, 100.0),
    ("r_ohm_ohm_cm2", "ohm cm2", 0.0, 1e4),
    ("ea_ohm_kj_mol", "kJ/mol", 0.0, 200.0),
    ("r_ct_ohm_cm2", "ohm cm2", 0.0, 1e4),
    ("ea_ct_kj_mol", "kJ/mol", 0.0, 200.0),
    ("r1_ohm_cm2", "ohm cm2", 0.0, 1e4),
    ("tau1_s", "s", 1e-3, 1e6),
    ("r_int_ohm_cm2", "ohm cm2", 0.0, 1e4),
    ("r_sei_ohm_cm2_per_mah_cm2", "ohm cm2 per mAh/cm2", 0.0, 1e5),
    ("nucleation_overpotential_v", "V", 0.0, 0.5),
    ("nucleation_knee_mah_cm2", "mAh/cm2", 1e-6, 1.0),
    ("nucleation_repeat_fraction", "-", 0.0, 1.0),
    # lithium losses
    ("forced_ce", "-", 0.0, 1.0),
    ("aging_factor", "-", 0.0, 1e4),
    ("sei_first_fraction", "-", 0.0, 0.9),
    ("sei_decay_capacity_fraction", "-", 1e-6, 1.0),
    ("sei_floor_fraction", "-", 0.0, 0.5),
    ("sei_porosity_gain", "-", 0.0, 100.0),
    ("ea_sei_kj_mol", "kJ/mol", 0.0, 200.0),
    ("sei_calendar_per_h", "1/h", 0.0, 1.0),
    ("dead_fraction", "-", 0.0, 0.5),
    ("dead_porosity_gain", "-", 0.0, 100.0),
    ("dead_ccd_gain", "-", 0.0, 100.0),
    ("dead_temperature_exponent", "-", 0.0, 10.0),
    ("dead_low_pressure_gain", "-", 0.0, 100.0),
    ("dead_high_pressure_gain", "-", 0.0, 100.0),
    # morphology memory (formation quality)
    ("formation_optimum_ma_cm2", "mA/cm2", 1e-4, 100.0),
    ("formation_low_rate_penalty", "per e-fold", 0.0, 1.0),
    ("formation_high_rate_sharpness", "-", 0.0, 100.0),
    ("porosity_min", "-", 0.0, 0.9),
    ("porosity_max", "-", 0.0, 0.9),
    ("formation_memory_mah_cm2", "mAh/cm2", 1e-3, 1e3),
    ("formation_memory_weight", "-", 0.0, 1.0),
    ("recent_memory_mah_cm2", "mAh/cm2", 1e-3, 1e3),
    ("active_area_low", "-", 0.05, 1.0),
    ("active_area_low_c", "degC", -40.0, 150.0),
    ("active_area_high", "-", 0.05, 1.0),
    ("active_area_high_c", "degC", -40.0, 150.0),
    # stack pressure and thickness
    ("stack_pressure_mpa", "MPa", 0.0, 500.0),
    ("fixture_stiffness_mpa_per_um", "MPa/um", 0.0, 100.0),
    ("pressure_window_low_mpa", "MPa", 0.0, 500.0),
    ("pressure_window_high_mpa", "MPa", 0.0, 500.0),
    ("li_thickness_um_per_mah_cm2", "um per mAh/cm2", 0.1, 100.0),
    ("dead_volume_factor", "-", 0.0, 20.0),
    ("sei_volume_factor", "-", 0.0, 20.0),
    ("contact_pressure_mpa", "MPa", 0.0, 500.0),
    ("void_growth_per_mah_cm2", "per mAh/cm2", 0.0, 100.0),
    ("contact_recovery_per_mah_cm2", "per mAh/cm2", 0.0, 100.0),
    # fracture
    ("fracture_onset_mpa", "MPa", 0.0, 1e4),
    ("fracture_instant_mpa", "MPa", 0.0, 1e4),
    ("fracture_damage_per_mah_cm2", "per mAh/cm2", 0.0, 1e3),
    ("fracture_resistance_factor", "-", 1.0, 1e4),
    ("fracture_filament_jump", "-", 0.0, 1.0),
    # filaments and shorts
    ("ccd_ma_cm2", "mA/cm2", 1e-3, 1e3),
    ("ccd_ref_pressure_mpa", "MPa", 1e-3, 500.0),
    ("ccd_pressure_exponent", "-", 0.0, 10.0),
    ("ea_ccd_kj_mol", "kJ/mol", 0.0, 200.0),
    ("filament_growth_per_mah_cm2", "per mAh/cm2", 0.0, 1e3),
    ("filament_heal_per_mah_cm2", "per mAh/cm2", 0.0, 1e3),
    ("soft_short_threshold", "-", 0.0, 0.999),
    ("soft_short_growth_per_h", "1/h", 0.0, 100.0),
    ("soft_short_start_ohm", "ohm", 1e-3, 1e9),
    ("hard_short_ohm", "ohm", 1e-4, 1e6),
    ("short_noise", "-", 0.0, 5.0),
    # thermal
    ("ambient_c", "degC", -60.0, 150.0),
    ("heat_capacity_j_k", "J/K", 1e-3, 1e6),
    ("cooling_w_k", "W/K", 1e-6, 1e4),
    ("side_reaction_heat_v", "J/C", 0.0, 10.0),
    # sensors (what a board's ADCs see)
    ("sensor_v_offset_v", "V", 0.0, 1.0),
    ("sensor_v_gain_error", "-", 0.0, 0.2),
    ("sensor_v_noise_v", "V", 0.0, 1.0),
    ("sensor_v_lsb_v", "V", 0.0, 1.0),
    ("sensor_i_offset_a", "A", 0.0, 10.0),
    ("sensor_i_gain_error", "-", 0.0, 0.2),
    ("sensor_i_noise_a", "A", 0.0, 10.0),
    ("sensor_i_lsb_a", "A", 0.0, 10.0),
    ("sensor_t_offset_c", "degC", 0.0, 20.0),
    ("sensor_t_gain_error", "-", 0.0, 0.2),
    ("sensor_t_noise_c", "degC", 0.0, 20.0),
    ("sensor_t_lsb_c", "degC", 0.0, 10.0),
    ("sensor_p_offset_mpa", "MPa", 0.0, 50.0),
    ("sensor_p_gain_error", "-", 0.0, 0.2),
    ("sensor_p_noise_mpa", "MPa", 0.0, 50.0),
    ("sensor_p_lsb_mpa", "MPa", 0.0, 50.0),
    # recommended charger settings (data for firmware, cycler and demo)
    ("charge_voltage_v", "V", 2.0, 5.0),
    ("discharge_cutoff_v", "V", 0.5, 4.5),
    ("nominal_current_ma_cm2", "mA/cm2", 1e-4, 100.0),
    ("max_current_ma_cm2", "mA/cm2", 1e-4, 100.0),
    ("cv_cutoff_c", "C", 1e-4, 10.0),
    ("formation_cycles", "cycles", 0.0, 100.0),
    ("formation_current_ma_cm2", "mA/cm2", 1e-4, 100.0),
)

FIELDS = {row[0]: row for row in SCHEMA}


def _preset_names():
    try:
        names = [f[:-5] for f in os.listdir(PRESET_DIR) if f.endswith(".json")]
    except OSError:
        names = []
    return tuple(sorted(names))


PRESETS = _preset_names()


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_table(field, table):
    if not isinstance(table, list) or len(table) < 3:
        raise ParamError(field, "must be a list of at least 3 [x, v] pairs")
    last_x = None
    for k, pair in enumerate(table):
        if not isinstance(pair, list) or len(pair) != 2 or not all(_is_number(v) for v in pair):
            raise ParamError(field, "entry %d must be [x, v] numbers" % k)
        if last_x is not None and pair[0] <= last_x:
            raise ParamError(field, "x must increase strictly (entry %d)" % k)
        if not 0.0 < pair[1] < 6.0:
            raise ParamError(field, "entry %d potential out of range (0, 6) V" % k)
        last_x = pair[0]
    if table[0][0] != 0.0 or table[-1][0] != 1.0:
        raise ParamError(field, "x must run from 0.0 to 1.0")
    return [[float(a), float(b)] for a, b in table]


def validate(values):
    """Check a flat {field: value} dict; return a cleaned copy (floats). Raises ParamError."""
    out = {}
    for field in values:
        if field not in FIELDS:
            raise ParamError(field, "unknown field")
    for field, unit, lo, hi in SCHEMA:
        if field not in values:
            raise ParamError(field, "missing")
        v = values[field]
        if field == "cathode_ocv_table":
            out[field] = _check_table(field, v)
            continue
        if not _is_number(v):
            raise ParamError(field, "must be a finite number, got %r" % (v,))
        if not lo <= v <= hi:
            raise ParamError(field, "%r outside [%g, %g] %s" % (v, lo, hi, unit))
        out[field] = float(v)
    # cross-field consistency
    if out["porosity_max"] < out["porosity_min"]:
        raise ParamError("porosity_max", "must be >= porosity_min")
    if out["pressure_window_high_mpa"] < out["pressure_window_low_mpa"]:
        raise ParamError("pressure_window_high_mpa", "must be >= pressure_window_low_mpa")
    if out["active_area_high_c"] <= out["active_area_low_c"]:
        raise ParamError("active_area_high_c", "must be > active_area_low_c")
    if out["fracture_instant_mpa"] < out["fracture_onset_mpa"]:
        raise ParamError("fracture_instant_mpa", "must be >= fracture_onset_mpa")
    if out["discharge_cutoff_v"] >= out["charge_voltage_v"]:
        raise ParamError("discharge_cutoff_v", "must be below charge_voltage_v")
    if out["hard_short_ohm"] > out["soft_short_start_ohm"]:
        raise ParamError("hard_short_ohm", "must be <= soft_short_start_ohm")
    if out["forced_ce"] != 0.0 and not 0.5 <= out["forced_ce"] < 1.0:
        raise ParamError("forced_ce", "0 (off) or in [0.5, 1)")
    return out


def _read_preset_file(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise ParamError("preset", "cannot read %s (%s)" % (path, e))
    except ValueError as e:
        raise ParamError("preset", "%s is not valid JSON (%s)" % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict):
        raise ParamError("params", "preset must be an object with a 'params' object")
    values, meta = {}, {}
    for field, entry in doc["params"].items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise ParamError(field, "must be an object with value, unit, source")
        for key in ("unit", "source"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ParamError(field, "needs a non-empty '%s'" % key)
        values[field] = entry["value"]
        meta[field] = {"unit": entry["unit"], "source": entry["source"]}
    name = doc.get("name") or os.path.splitext(os.path.basename(path))[0]
    return name, values, meta


def load_params(source, overrides=None):
    """Load a preset by name (see PRESETS) or from a JSON file path; validate.

    ``overrides`` ({field: value}) replaces values after loading and is
    validated the same way: e.g. ``load_params("lfp-liquid", {"aging_factor": 20})``.
    Returns a flat dict of values plus ``"preset"`` (name) and ``"meta"``.
    """
    if isinstance(source, dict):  # an already loaded dict: re-validate a copy
        name = source.get("preset", "custom")
        values = {k: v for k, v in source.items() if k not in ("preset", "meta")}
        meta = dict(source.get("meta", {}))
    else:
        path = source
        if not (source.endswith(".json") or os.sep in source):
            path = os.path.join(PRESET_DIR, source + ".json")
            if not os.path.exists(path):
                raise ParamError("preset", "unknown preset %r (have %s)" % (source, ", ".join(PRESETS)))
        name, values, meta = _read_preset_file(path)
    if overrides:
        for field, v in overrides.items():
            if field not in FIELDS:
                raise ParamError(field, "unknown field")
            values[field] = v
            meta[field] = {"unit": FIELDS[field][1], "source": "override"}
    out = validate(values)
    out["preset"] = name
    out["meta"] = meta
    return out
