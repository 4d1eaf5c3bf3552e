"""N cells at once: the numpy twin of hil/cell/model.py, for benchmarks and fleets.

Same equations, same order, same parameters (one preset for the batch);
per-cell state and environment are arrays, so cells may be driven at
different currents, pressures and temperatures. Branches of the scalar step
become masks. tests/hil/test_cell_batch.py proves the two agree to 1e-9
(the soft-short noise draws from a different generator, so that test runs
with short_noise = 0).

    b = CellBatch(load_params("lfp-liquid"), 1000, seed=0)
    b.fixture_pressure_mpa[:] = np.linspace(0.2, 3.0, 1000)
    b.step(1.0, current_a)          # scalar or (n,) array; dt_s is one scalar
    b.inventory_ah                  # (n,) arrays, named as on Cell
"""

import numpy as np

from platewise.hil.cell.model import _EXP_CUTOFF, T_QUANTUM_INV, Cell, load_params
from platewise.shared.mathx import R_GAS_J_MOL_K, ZERO_C_K

class CellBatch:
    # constants copied from a scalar Cell (same names, same values)
    _sei_floor: float
    _sei_first: float
    _sei_decay_ah: float
    _areal: float
    _aging: float
    _fil_growth: float
    _damage_rate: float
    _recover: float
    _forced_ce: float
    _forced_dead: float
    _dead0: float
    _void: float
    _fil_heal: float
    _sei_cal: float
    _fil_thr: float
    _soft_growth: float
    _li_um: float
    _soft_r: float
    _log_hard_soft: float
    _ocv_n1: float
    _neg_knee: float
    _cu_v: float
    _nuc_v: float
    _nuc_knee: float
    _nuc_repeat: float
    _t_ref_c: float
    _af_ref: float
    # per-cell state and environment, (n,) arrays named as on Cell
    cathode_ah: np.ndarray
    plated_ah: np.ndarray
    sei_ah: np.ndarray
    dead_ah: np.ndarray
    overcharge_ah: np.ndarray
    collector_ah: np.ndarray
    charge_ah: np.ndarray
    discharge_ah: np.ndarray
    cum_plated_mah_cm2: np.ndarray
    imprint_porosity: np.ndarray
    recent_porosity: np.ndarray
    porosity: np.ndarray
    plating_severity: np.ndarray
    contact_loss: np.ndarray
    damage: np.ndarray
    filament: np.ndarray
    fixture_pressure_mpa: np.ndarray
    ambient_c: np.ndarray
    temperature_c: np.ndarray
    v_rc_v: np.ndarray
    current_a: np.ndarray
    heat_w: np.ndarray
    voltage_v: np.ndarray
    ocv_v: np.ndarray
    pressure_mpa: np.ndarray
    thickness_um: np.ndarray
    resistance_ohm: np.ndarray

    def __init__(self, params, n, seed=0):
        if not isinstance(params, dict):
            params = load_params(params)
        proto = Cell(params, seed=seed)  # constants and initial state come from the scalar model
        self.params = params
        self.n = n
        self._rng = np.random.default_rng(seed)
        for k, kind in CellBatch.__annotations__.items():
            if kind is float:
                setattr(self, k, getattr(proto, k))
        self._ocv = np.array(proto._ocv)
        self._ocv_slope = np.array(proto._ocv_slope)
        self.area_cm2 = proto.area_cm2
        self.capacity_ah = proto.capacity_ah
        self.initial_inventory_ah = np.full(n, proto.initial_inventory_ah)
        for k, kind in CellBatch.__annotations__.items():
            if kind is np.ndarray:  # per-cell state starts as the scalar cell's
                setattr(self, k, np.full(n, float(getattr(proto, k))))
        self.time_s = 0.0
        self.fractured = np.zeros(n, bool)
        self.hard_short = np.zeros(n, bool)
        self._frac_factor = np.ones(n)
        self._inj_leak_ohm = np.zeros(n)
        self._inj_shrink_per_s = np.zeros(n)
        self._stiffness = np.full(n, proto._stiffness)
        self._cooling_w_k = np.full(n, proto._cooling_w_k)
        self._leak_g = np.zeros(n)
        self._eta_nuc = np.zeros(n)
        self._last_dt = -1.0
        self._temperature_terms()
        self._finish(np.zeros(n))

    @property
    def inventory_ah(self):
        return self.cathode_ah + self.plated_ah

    def _temperature_terms(self):
        p = self.params
        t_q = np.floor(self.temperature_c * T_QUANTUM_INV + 0.5) / T_QUANTUM_INV  # as the scalar model
        # shared.mathx.arrhenius, vectorised: rates scale by it, resistances by its inverse
        x = 1.0 / (self._t_ref_c + ZERO_C_K) - 1.0 / (t_q + ZERO_C_K)
        self._arr_ohm = 1.0 / np.exp(1e3 * p["ea_ohm_kj_mol"] / R_GAS_J_MOL_K * x)
        self._arr_ct = 1.0 / np.exp(1e3 * p["ea_ct_kj_mol"] / R_GAS_J_MOL_K * x)
        self._arr_sei = np.exp(1e3 * p["ea_sei_kj_mol"] / R_GAS_J_MOL_K * x)
        self._arr_ccd = np.exp(1e3 * p["ea_ccd_kj_mol"] / R_GAS_J_MOL_K * x)
        lo, hi = p["active_area_low"], p["active_area_high"]
        slope = (hi - lo) / (p["active_area_high_c"] - p["active_area_low_c"])
        af = np.clip(lo + slope * (t_q - p["active_area_low_c"]), 0.1, hi)
        self._crowding = self._af_ref / af
        self._dead_t = self._crowding ** p["dead_temperature_exponent"]

    def step(self, dt_s, current_a):
        """Advance all cells dt_s seconds (one scalar) at current_a (scalar or (n,) A, > 0 charges)."""
        if not dt_s > 0.0:
            if dt_s == 0.0:
                return
            raise ValueError("dt_s must be >= 0")
        p = self.params
        n = self.n
        cur = np.broadcast_to(np.asarray(current_a, dtype=float), (n,))
        self.time_s += dt_s
        if dt_s != self._last_dt:
            self._e_rc = float(np.exp(-dt_s / p["tau1_s"]))
            self._last_dt = dt_s
        self._temperature_terms()
        areal = self._areal
        aging = self._aging

        g = self._leak_g
        i_cell = cur - self.voltage_v * g
        q_ah = i_cell * dt_s / 3600.0
        self.charge_ah = self.charge_ah + np.where(cur > 0.0, cur * dt_s / 3600.0, 0.0)
        self.discharge_ah = self.discharge_ah - np.where(cur < 0.0, cur * dt_s / 3600.0, 0.0)
        pressure = self.pressure_mpa
        por = self.porosity
        side = np.zeros(n)

        # ---- plating
        ch = q_ah > 0.0
        if ch.any():
            li = np.where(ch, np.minimum(q_ah, self.cathode_ah), 0.0)
            self.overcharge_ah = self.overcharge_ah + np.where(ch & (q_ah > self.cathode_ah), q_ah - self.cathode_ah, 0.0)
            if aging > 0.0:
                f_sei = (
                    (self._sei_floor + self._sei_first * np.exp(-self.sei_ah / self._sei_decay_ah))
                    * (1.0 + p["sei_porosity_gain"] * por)
                    * self._arr_sei
                )
                f_sei = np.minimum(f_sei, 0.9)
            else:
                f_sei = 0.0
            d_sei = li * f_sei
            self.cathode_ah = self.cathode_ah - li
            self.plated_ah = self.plated_ah + (li - d_sei)
            self.sei_ah = self.sei_ah + d_sei
            side = side + d_sei
            dq = li * areal
            m = ch & (dq > 0.0)
            j_local = np.where(m, i_cell * areal * self._crowding, 1.0)
            r = j_local / p["formation_optimum_ma_cm2"]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                qual = np.where(
                    r <= 1.0,
                    np.maximum(1.0 + p["formation_low_rate_penalty"] * np.log(np.where(r > 0.0, r, 1.0)), 0.0),
                    np.exp(-p["formation_high_rate_sharpness"] * (r - 1.0) * (r - 1.0)),
                )
            p_dep = p["porosity_min"] + (p["porosity_max"] - p["porosity_min"]) * (1.0 - qual)
            cum_old = self.cum_plated_mah_cm2
            cum = cum_old + dq
            self.cum_plated_mah_cm2 = np.where(m, cum, cum_old)
            forming = m & (cum_old < p["formation_memory_mah_cm2"])
            safe_cum = np.where(cum > 0.0, cum, 1.0)
            self.imprint_porosity = np.where(
                forming, self.imprint_porosity + (p_dep - self.imprint_porosity) * dq / safe_cum, self.imprint_porosity
            )
            w_new = dq / (dq + p["recent_memory_mah_cm2"])
            self.recent_porosity = np.where(m, self.recent_porosity + (p_dep - self.recent_porosity) * w_new, self.recent_porosity)
            w = p["formation_memory_weight"]
            self.porosity = np.where(m, w * self.imprint_porosity + (1.0 - w) * self.recent_porosity, self.porosity)
            ccd = p["ccd_ma_cm2"] * self._arr_ccd
            if p["ccd_pressure_exponent"] > 0.0:
                ccd = ccd * (np.maximum(pressure, 1e-3) / p["ccd_ref_pressure_mpa"]) ** p["ccd_pressure_exponent"]
            sev = j_local / ccd
            self.plating_severity = np.where(m, self.plating_severity + (sev - self.plating_severity) * w_new, self.plating_severity)
            if aging > 0.0:
                grow = m & (sev > 1.0) & ~self.hard_short
                self.filament = self.filament + np.where(grow, self._fil_growth * (sev - 1.0) * dq, 0.0)
                onset = p["fracture_onset_mpa"]
                self.damage = self.damage + np.where(m & (pressure > onset), self._damage_rate * (pressure / onset - 1.0) * dq, 0.0)
                rec = m & (self.contact_loss > 0.0) & (pressure >= p["contact_pressure_mpa"])
                self.contact_loss = np.where(rec, np.maximum(self.contact_loss - self.contact_loss * self._recover * dq, 0.0), self.contact_loss)

        # ---- stripping
        dis = q_ah < 0.0
        if dis.any():
            strip = np.where(dis, -q_ah, 0.0)
            if self._forced_ce > 0.0:
                f_dead = np.full(n, self._forced_dead)
            elif self._dead0 > 0.0:
                f_dead = (
                    self._dead0
                    * (1.0 + p["dead_porosity_gain"] * por)
                    * (1.0 + p["dead_ccd_gain"] * self.plating_severity * self.plating_severity)
                    * self._dead_t
                )
                lo, hi = p["pressure_window_low_mpa"], p["pressure_window_high_mpa"]
                f_dead = f_dead * np.where(
                    pressure < lo,
                    1.0 + p["dead_low_pressure_gain"] * (lo - pressure) / lo if lo > 0.0 else 1.0,
                    np.where(pressure > hi, 1.0 + p["dead_high_pressure_gain"] * (pressure - hi) / (hi if hi > 0.0 else 1.0), 1.0),
                )
            else:
                f_dead = np.zeros(n)
            plated = self.plated_ah
            enough = strip * (1.0 + f_dead) <= plated
            li_short = plated / (1.0 + f_dead)
            li = np.where(enough, strip, li_short)
            d_dead = np.where(enough, strip * f_dead, plated - li_short)
            self.collector_ah = self.collector_ah + np.where(dis & ~enough, strip - li, 0.0)
            self.plated_ah = np.where(dis, np.where(enough, plated - strip - d_dead, 0.0), plated)
            li = np.where(dis, li, 0.0)
            d_dead = np.where(dis, d_dead, 0.0)
            self.cathode_ah = self.cathode_ah + li
            self.dead_ah = self.dead_ah + d_dead
            side = side + d_dead
            if aging > 0.0:
                dq = li * areal
                cp = p["contact_pressure_mpa"]
                void = dis & (pressure < cp)
                self.contact_loss = self.contact_loss + np.where(
                    void, self._void * (1.0 - pressure / cp) * dq * (1.0 - self.contact_loss), 0.0
                )
                heal = dis & (self.filament > 0.0) & ~self.hard_short
                self.filament = self.filament - np.where(heal, self._fil_heal * self.filament * dq, 0.0)

        # calendar corrosion of plated Li
        if self._sei_cal > 0.0:
            d = self.plated_ah * self._sei_cal * self._arr_sei * (1.0 + p["sei_porosity_gain"] * por) * dt_s
            d = np.minimum(d, self.plated_ah)
            self.plated_ah = self.plated_ah - d
            self.sei_ah = self.sei_ah + d
            side = side + d

        soft = (self.filament >= self._fil_thr) & ~self.hard_short
        self.filament = self.filament + np.where(soft, self._soft_growth * dt_s, 0.0)
        self._inj_leak_ohm = np.where(
            self._inj_shrink_per_s > 0.0, self._inj_leak_ohm * np.exp(-self._inj_shrink_per_s * dt_s), self._inj_leak_ohm
        )

        self.v_rc_v = self.v_rc_v * self._e_rc + self._r1 * i_cell * (1.0 - self._e_rc)
        heat = i_cell * i_cell * self.resistance_ohm + self.v_rc_v * i_cell
        heat = heat + self.voltage_v * self.voltage_v * g
        heat = heat + np.where(i_cell > 0.0, self._eta_nuc * i_cell, 0.0)
        heat = heat + p["side_reaction_heat_v"] * side * 3600.0 / dt_s
        self.heat_w = heat
        h = self._cooling_w_k
        t_eq = self.ambient_c + heat / h
        self.temperature_c = t_eq + (self.temperature_c - t_eq) * np.exp(-dt_s * h / p["heat_capacity_j_k"])
        self.current_a = cur.copy()
        self._finish(cur)

    def _finish(self, cur):
        p = self.params
        areal = self._areal
        self._temperature_terms()
        pa = self.plated_ah * areal
        swell = self._li_um * (
            pa / (1.0 - self.porosity)
            + self.dead_ah * areal * p["dead_volume_factor"]
            + self.sei_ah * areal * p["sei_volume_factor"]
        )
        self.thickness_um = p["thickness0_um"] + swell
        self.pressure_mpa = np.maximum(self.fixture_pressure_mpa + self._stiffness * swell, 0.0)
        frac = ~self.fractured & ((self.damage >= 1.0) | (self.pressure_mpa >= p["fracture_instant_mpa"]))
        if frac.any():
            self.fractured = self.fractured | frac
            self.damage = np.where(frac, np.maximum(self.damage, 1.0), self.damage)
            self._frac_factor = np.where(frac, p["fracture_resistance_factor"], self._frac_factor)
            self.filament = self.filament + np.where(frac, p["fracture_filament_jump"], 0.0)

        contact = np.minimum(self.contact_loss, 0.95)
        r_int = p["r_int_ohm_cm2"] / (1.0 - contact) + p["r_sei_ohm_cm2_per_mah_cm2"] * self.sei_ah * areal
        self.resistance_ohm = (
            p["r_ohm_ohm_cm2"] * self._arr_ohm * self._frac_factor + (p["r_ct_ohm_cm2"] + r_int) * self._arr_ct
        ) / self.area_cm2
        self._r1 = p["r1_ohm_cm2"] * self._arr_ct / self.area_cm2

        self.hard_short = self.hard_short | (self.filament >= 1.0)
        soft = ~self.hard_short & (self.filament >= self._fil_thr)
        g = np.where(self.hard_short, 1.0 / p["hard_short_ohm"], 0.0)
        if soft.any():
            x = (self.filament - self._fil_thr) / (1.0 - self._fil_thr)
            noise = p["short_noise"] * self._rng.standard_normal(self.n) if p["short_noise"] > 0.0 else 0.0
            g = g + np.where(soft, 1.0 / (self._soft_r * np.exp(self._log_hard_soft * x + noise)), 0.0)
        inj = self._inj_leak_ohm > 0.0
        g = g + np.where(inj, 1.0 / np.where(inj, self._inj_leak_ohm, 1.0), 0.0)
        self._leak_g = g

        y = np.clip(1.0 - self.cathode_ah / self.capacity_ah, 0.0, 1.0)
        x = y * self._ocv_n1
        i = x.astype(np.int64)
        ocv_c = self._ocv[i] + self._ocv_slope[i] * (x - i)
        k = pa / self._neg_knee
        v_neg = np.where(k < _EXP_CUTOFF, self._cu_v * np.exp(-np.minimum(k, _EXP_CUTOFF)), 0.0)
        self.ocv_v = ocv_c - v_neg

        if self._nuc_v > 0.0:
            kn = pa / self._nuc_knee
            c = self.cum_plated_mah_cm2 / self._nuc_knee
            bare = self._nuc_repeat + (1.0 - self._nuc_repeat) * np.where(c < _EXP_CUTOFF, np.exp(-np.minimum(c, _EXP_CUTOFF)), 0.0)
            eta = np.where((cur > 0.0) & (kn < _EXP_CUTOFF), self._nuc_v * bare * np.exp(-np.minimum(kn, _EXP_CUTOFF)), 0.0)
        else:
            eta = np.zeros(self.n)
        self._eta_nuc = eta
        r_s = self.resistance_ohm
        self.voltage_v = (self.ocv_v + self.v_rc_v + eta + r_s * cur) / (1.0 + r_s * g)

    def inject(self, name, cells=None, **kw):
        """Cell.inject for a subset (``cells``: index, slice, mask; default all)."""
        p = self.params
        sel = np.zeros(self.n, bool)
        sel[slice(None) if cells is None else cells] = True
        if name == "pressure_loss":
            self.fixture_pressure_mpa[sel] = kw.get("pressure_mpa", 0.0)
            self._stiffness[sel] = 0.0
        elif name in ("pressure_overload", "set_pressure"):
            default = 2.0 * p["fracture_onset_mpa"] if name == "pressure_overload" else p["stack_pressure_mpa"]
            self.fixture_pressure_mpa[sel] = kw.get("pressure_mpa", default)
            self._stiffness[sel] = p["fixture_stiffness_mpa_per_um"]
        elif name == "internal_short":
            self._inj_leak_ohm[sel] = kw.get("resistance_ohm", 1000.0)
            self._inj_shrink_per_s[sel] = kw.get("shrink_per_h", 0.0) / 3600.0
        elif name == "cooling_loss":
            self._cooling_w_k[sel] = p["cooling_w_k"] * kw.get("factor", 0.05)
        elif name == "ambient":
            self.ambient_c[sel] = kw["temperature_c"]
        else:
            raise ValueError("unknown fault %r" % (name,))
        self._finish(self.current_a)
