"""Reduced-order model of one anode-less lithium-metal cell (Cu || cathode).

What it keeps (cell-physics section in brackets):
- Li inventory in four pools, cathode + plated + SEI + dead == initial, to
  rounding, after every step [sec. 1, 2]. Charging moves Li from the cathode
  to the Cu; part goes to SEI (dominant on the first cycle, then decaying).
  Stripping returns Li to the cathode and isolates a fraction as dead Li, so
  per-cycle CE < 1 and the inventory falls roughly as CE^N [sec. 2].
- Voltage = cathode OCV(delithiated fraction) - negative potential
  + series IR + one RC + nucleation overpotential on bare Cu [sec. 1, 3].
  The negative sits at ~0 V vs Li while plated Li remains and jumps to the
  collector's potential when it runs out: the anode-less collapse [sec. 1].
- Morphology memory: each deposit's porosity is set by its plating current
  density against the preset's optimum (the highest non-dendritic rate):
  quality rises up to it and falls sharply above it; the first cycles
  (formation) imprint most of the memory [sec. 3]. Porosity feeds dead Li,
  SEI and swelling.
- Stack pressure from fixture stiffness and thickness (4.85 um per mAh/cm2,
  irreversible part from dead Li + SEI) [sec. 4]; pressure outside its
  window raises dead Li; low pressure grows voids on stripping (interfacial
  resistance); high pressure accumulates damage up to fracture [sec. 4, 6].
- Filaments grow when the local current density exceeds the critical
  current density (lower at low pressure and low temperature), heal in part
  on stripping; past a threshold they form a soft short (leakage resistance
  shrinking over time), at the end a hard short with heat [sec. 3, 6].
- Lumped thermal node: Joule, RC, nucleation, short and side-reaction heat,
  cooling to ambient; temperature feeds resistance (Arrhenius), SEI rate,
  active area and critical current density [sec. 5].

Edges, bookkept and never silent: charge past an empty cathode oxidises
electrolyte (``overcharge_ah``, no Li moves, voltage runs away); discharge
past the plated Li oxidises the collector (``collector_ah``). A leak (short)
strips Li internally back to the cathode, with the usual dead-Li share.
``resistance_ohm`` is the instantaneous series resistance (ohmic +
charge transfer, linearised + interface); the RC adds ``r1_ohm`` with
``tau1_s``. Charge transfer is linear (no Butler-Volmer curvature).

Sign: current_a > 0 charges (plates Li on Cu), < 0 discharges, 0 rests.
Time is passed in (``step(dt_s, current_a)``); nothing reads a clock.
The step is scalar float math with no allocation (target < 10 us per step).
``hil/cell/batch.py`` is the numpy twin of this file: change both together
(tests/hil/test_cell_batch.py proves they agree).
"""

import math
import random

from platewise.host.presets import PRESETS, ParamError, load_params  # noqa: F401 (re-exported API)
from platewise.shared.mathx import arrhenius

OCV_GRID_POINTS = 1001  # the preset's OCV table is resampled on a uniform grid: O(1) lookup
_EXP_CUTOFF = 40.0  # exp(-40) ~ 4e-18: treat as zero and skip the exp
# Temperature-dependent terms (4 exps) are recomputed only when the temperature
# moves by a 0.01 K step: < 0.07 % in any Arrhenius factor, and most steps skip them.
T_QUANTUM_INV = 100.0

FAULTS = (
    "pressure_loss",
    "pressure_overload",
    "set_pressure",
    "internal_short",
    "cooling_loss",
    "ambient",
    "interfacial_drift",
    "clear",
)


def resample_table(table, n=OCV_GRID_POINTS):
    """Piecewise-linear table [[x, v], ...] on x in [0, 1] -> n uniform samples."""
    out = []
    k = 0
    for i in range(n):
        x = i / (n - 1)
        while k < len(table) - 2 and table[k + 1][0] < x:
            k += 1
        x0, v0 = table[k]
        x1, v1 = table[k + 1]
        f = (x - x0) / (x1 - x0)
        if f < 0.0:
            f = 0.0
        elif f > 1.0:
            f = 1.0
        out.append(v0 + (v1 - v0) * f)
    return out


def active_area_fraction(p, temperature_c):
    """Electrochemically active area vs temperature, linear through the two review points (cell-physics sec. 5)."""
    lo, hi = p["active_area_low"], p["active_area_high"]
    slope = (hi - lo) / (p["active_area_high_c"] - p["active_area_low_c"])
    a = lo + slope * (temperature_c - p["active_area_low_c"])
    if a > hi:
        return hi
    if a < 0.1:  # floor: below this the extrapolation means nothing
        return 0.1
    return a


class _Constants:
    """The preset's scalar values as attributes: the step reads these instead of the dict."""

    def __init__(self, p):
        for name, value in p.items():
            if isinstance(value, float):
                setattr(self, name, value)
        self.porosity_span = p["porosity_max"] - p["porosity_min"]

    def __getattr__(self, name) -> float:  # reached only for a name not in the preset: a typo
        raise AttributeError("no preset value %r" % name)


class Cell:
    """One anode-less cell. See the module docstring for the physics."""

    def __init__(self, params, seed=0):
        if not isinstance(params, dict):
            params = load_params(params)
        p = params
        self.params = p
        self.seed = seed
        self._rng = random.Random(seed)  # only soft-short noise draws from it

        # geometry and capacity
        self.area_cm2 = p["area_cm2"]
        self.capacity_ah = p["area_cm2"] * p["loading_mah_cm2"] / 1000.0
        self._areal = 1000.0 / p["area_cm2"]  # Ah -> mAh/cm2
        self._ocv = resample_table(p["cathode_ocv_table"])
        self._ocv_n1 = len(self._ocv) - 1
        self._ocv_slope = [self._ocv[i + 1] - self._ocv[i] for i in range(self._ocv_n1)] + [0.0]

        # fixed parameters used in the step, as attributes (fast, no dict lookups)
        self._k = _Constants(p)
        self._cu_v = p["collector_potential_v"]
        self._neg_knee = p["negative_knee_mah_cm2"]
        self._nuc_v = p["nucleation_overpotential_v"]
        self._nuc_knee = p["nucleation_knee_mah_cm2"]
        self._nuc_repeat = p["nucleation_repeat_fraction"]
        self._t_ref_c = p["t_ref_c"]
        self._forced_ce = p["forced_ce"]
        # forced CE: a stripping loss that gives exactly that CE, all other aging off
        self._forced_dead = (1.0 / p["forced_ce"] - 1.0) if p["forced_ce"] > 0.0 else 0.0
        aging = 0.0 if p["forced_ce"] > 0.0 else p["aging_factor"]
        self._aging = aging
        self._sei_first = p["sei_first_fraction"] * aging
        self._sei_floor = p["sei_floor_fraction"] * aging
        self._sei_decay_ah = p["sei_decay_capacity_fraction"] * self.capacity_ah
        self._sei_cal = p["sei_calendar_per_h"] * aging / 3600.0  # per s
        self._dead0 = p["dead_fraction"] * aging
        self._li_um = p["li_thickness_um_per_mah_cm2"]
        self._af_ref = active_area_fraction(p, p["t_ref_c"])
        self._fil_growth = p["filament_growth_per_mah_cm2"] * aging
        self._fil_heal = p["filament_heal_per_mah_cm2"] * aging
        self._soft_growth = p["soft_short_growth_per_h"] * aging / 3600.0
        self._void = p["void_growth_per_mah_cm2"] * aging
        self._recover = p["contact_recovery_per_mah_cm2"]
        self._damage_rate = p["fracture_damage_per_mah_cm2"] * aging
        self._soft_r = p["soft_short_start_ohm"]
        self._log_hard_soft = math.log(p["hard_short_ohm"] / p["soft_short_start_ohm"])
        self._fil_thr = p["soft_short_threshold"]

        # Li inventory [cell-physics sec. 1]: all of it starts in the cathode
        self.cathode_ah = self.capacity_ah * p["initial_lithiation"]
        self.plated_ah = 0.0
        self.sei_ah = 0.0
        self.dead_ah = 0.0
        self.initial_inventory_ah = self.cathode_ah
        # charge passed that moved no Li: overcharge (electrolyte oxidation) and
        # discharge past exhaustion (collector oxidation); kept for the record
        self.overcharge_ah = 0.0
        self.collector_ah = 0.0
        # external throughput, for CE bookkeeping by the caller
        self.charge_ah = 0.0
        self.discharge_ah = 0.0

        # morphology memory [sec. 3]
        self.cum_plated_mah_cm2 = 0.0
        self.imprint_porosity = p["porosity_min"]
        self.recent_porosity = p["porosity_min"]
        self.porosity = p["porosity_min"]
        self.plating_severity = 0.0  # plating current density / CCD, charge-weighted recent mean

        # mechanics, interfaces, shorts
        self.contact_loss = 0.0  # 0..1, fraction of interface lost to voids [sec. 4]
        self.damage = 0.0  # 0..1, electrolyte damage; 1 = fracture [sec. 4, 6]
        self.fractured = False
        self._frac_factor = 1.0
        self.filament = 0.0  # 0..1, filament progress; soft short above threshold, hard at 1 [sec. 6]
        self.hard_short = False
        self._inj_leak_ohm = 0.0  # injected internal short (0 = none)
        self._inj_shrink_per_s = 0.0
        self._inj_r_int_factor = 1.0  # interfacial_drift fault
        self.leak_ohm = math.inf

        # environment (fault injection changes these)
        self.fixture_pressure_mpa = p["stack_pressure_mpa"]
        self._stiffness = p["fixture_stiffness_mpa_per_um"]
        self.ambient_c = p["ambient_c"]
        self._cooling_w_k = p["cooling_w_k"]
        self.faults = {}

        # dynamic state
        self.time_s = 0.0
        self.temperature_c = p["ambient_c"]
        self.v_rc_v = 0.0
        self.current_a = 0.0
        self.heat_w = 0.0
        self._last_dt = -1.0
        self._e_rc = 0.0
        self._e_th = 0.0
        self._t_cached = None
        self._update_temperature_terms(math.floor(self.temperature_c * T_QUANTUM_INV + 0.5) / T_QUANTUM_INV)
        self._finish(0.0)
        self.initial_thickness_um = self.thickness_um

    # ---- derived quantities -------------------------------------------------
    @property
    def inventory_ah(self):
        """Cyclable Li: cathode + plated [cell-physics sec. 2]."""
        return self.cathode_ah + self.plated_ah

    @property
    def lost_ah(self):
        return self.sei_ah + self.dead_ah

    @property
    def soc(self):
        """Plated Li over the initial inventory (what can still be discharged)."""
        return self.plated_ah / self.initial_inventory_ah

    @property
    def r1_ohm(self):
        return self._r1

    @property
    def tau1_s(self):
        return self.params["tau1_s"]

    @property
    def soft_short(self):
        return self.leak_ohm < math.inf and not self.hard_short

    def _update_temperature_terms(self, temperature_c):
        # Arrhenius factors relative to t_ref: rates (SEI growth, critical
        # current density) scale by arrhenius(), resistances by its inverse.
        p = self.params
        t, t_ref = temperature_c, self._t_ref_c
        self._arr_ohm = 1.0 / arrhenius(1e3 * p["ea_ohm_kj_mol"], t, t_ref)
        self._arr_ct = 1.0 / arrhenius(1e3 * p["ea_ct_kj_mol"], t, t_ref)
        self._arr_sei = arrhenius(1e3 * p["ea_sei_kj_mol"], t, t_ref)
        self._arr_ccd = arrhenius(1e3 * p["ea_ccd_kj_mol"], t, t_ref)
        af = active_area_fraction(p, temperature_c)
        # less active area -> higher local current density on the islands [sec. 5]
        self._crowding = self._af_ref / af
        self._dead_t = self._crowding ** p["dead_temperature_exponent"]
        self._t_cached = temperature_c

    # ---- the step -----------------------------------------------------------
    def step(self, dt_s, current_a):
        """Advance dt_s seconds at terminal current current_a (A, > 0 charges)."""
        if not dt_s > 0.0:
            if dt_s == 0.0:
                return
            raise ValueError("dt_s must be >= 0")
        k = self._k  # constants from the preset, cached in __init__ (no dict lookups here)
        self.time_s += dt_s
        if dt_s != self._last_dt:
            self._e_rc = math.exp(-dt_s / k.tau1_s)
            self._last_dt = dt_s
        t_q = math.floor(self.temperature_c * T_QUANTUM_INV + 0.5) / T_QUANTUM_INV
        if t_q != self._t_cached:
            self._update_temperature_terms(t_q)
        areal = self._areal
        aging = self._aging

        # internal leakage (filament or injected short) drawn at the last voltage
        g = self._leak_g
        i_cell = current_a - self.voltage_v * g if g > 0.0 else current_a
        q_ah = i_cell * dt_s / 3600.0
        if current_a > 0.0:
            self.charge_ah += current_a * dt_s / 3600.0
        elif current_a < 0.0:
            self.discharge_ah -= current_a * dt_s / 3600.0
        pressure = self.pressure_mpa
        side_ah = 0.0
        por = self.porosity

        if q_ah > 0.0:
            # ---- plating: Li leaves the cathode; part feeds SEI [sec. 1, 2]
            li = q_ah
            cathode = self.cathode_ah
            if li > cathode:  # cathode empty: the rest oxidises electrolyte
                self.overcharge_ah += li - cathode
                li = cathode
            f_sei = 0.0
            if aging > 0.0:
                f_sei = (
                    (self._sei_floor + self._sei_first * math.exp(-self.sei_ah / self._sei_decay_ah))
                    * (1.0 + k.sei_porosity_gain * por)
                    * self._arr_sei
                )
                if f_sei > 0.9:
                    f_sei = 0.9
            d_sei = li * f_sei
            self.cathode_ah = cathode - li
            self.plated_ah += li - d_sei
            self.sei_ah += d_sei
            side_ah = d_sei
            dq = li * areal  # mAh/cm2 plated (incl. SEI share)
            if dq > 0.0:
                # morphology of this deposit [sec. 3]
                j_local = i_cell * areal * self._crowding  # mA/cm2 on the active area
                r = j_local / k.formation_optimum_ma_cm2
                if r <= 1.0:
                    qual = 1.0 + k.formation_low_rate_penalty * math.log(r)
                    if qual < 0.0:
                        qual = 0.0
                else:
                    qual = math.exp(-k.formation_high_rate_sharpness * (r - 1.0) * (r - 1.0))
                p_dep = k.porosity_min + k.porosity_span * (1.0 - qual)
                cum_old = self.cum_plated_mah_cm2
                cum = cum_old + dq
                self.cum_plated_mah_cm2 = cum
                if cum_old < k.formation_memory_mah_cm2:  # still forming: charge-weighted mean
                    self.imprint_porosity += (p_dep - self.imprint_porosity) * dq / cum
                w_new = dq / (dq + k.recent_memory_mah_cm2)
                recent = self.recent_porosity + (p_dep - self.recent_porosity) * w_new
                self.recent_porosity = recent
                w = k.formation_memory_weight
                self.porosity = w * self.imprint_porosity + (1.0 - w) * recent
                ccd = k.ccd_ma_cm2 * self._arr_ccd
                if k.ccd_pressure_exponent > 0.0:
                    pr = pressure if pressure > 1e-3 else 1e-3
                    ccd *= (pr / k.ccd_ref_pressure_mpa) ** k.ccd_pressure_exponent
                sev = j_local / ccd
                self.plating_severity += (sev - self.plating_severity) * w_new
                if aging > 0.0:
                    # filaments above the critical current density [sec. 3, 6]
                    if sev > 1.0 and not self.hard_short:
                        self.filament += self._fil_growth * (sev - 1.0) * dq
                    # pressure above the onset damages the electrolyte [sec. 4]
                    if pressure > k.fracture_onset_mpa:
                        self.damage += self._damage_rate * (pressure / k.fracture_onset_mpa - 1.0) * dq
                    # good pressure re-establishes contact as Li fills voids
                    contact = self.contact_loss
                    if contact > 0.0 and pressure >= k.contact_pressure_mpa:
                        contact -= contact * self._recover * dq
                        self.contact_loss = contact if contact > 0.0 else 0.0
        elif q_ah < 0.0:
            # ---- stripping: Li returns to the cathode, a fraction is isolated [sec. 2]
            strip = -q_ah
            if self._forced_ce > 0.0:
                f_dead = self._forced_dead
            else:
                f_dead = self._dead0
                if f_dead > 0.0:
                    sev = self.plating_severity
                    f_dead *= (1.0 + k.dead_porosity_gain * por) * (1.0 + k.dead_ccd_gain * sev * sev) * self._dead_t
                    lo = k.pressure_window_low_mpa
                    hi = k.pressure_window_high_mpa
                    if pressure < lo:
                        f_dead *= 1.0 + k.dead_low_pressure_gain * (lo - pressure) / lo
                    elif pressure > hi:
                        f_dead *= 1.0 + k.dead_high_pressure_gain * (pressure - hi) / hi
            plated = self.plated_ah
            if strip * (1.0 + f_dead) <= plated:
                d_dead = strip * f_dead
                self.plated_ah = plated - strip - d_dead
            else:  # plated Li exhausted: the rest oxidises the collector, no Li moves
                li = plated / (1.0 + f_dead)
                d_dead = plated - li
                self.collector_ah += strip - li
                strip = li
                self.plated_ah = 0.0
            self.cathode_ah += strip
            self.dead_ah += d_dead
            side_ah = d_dead
            if aging > 0.0:
                dq = strip * areal
                cp = k.contact_pressure_mpa
                if pressure < cp:  # voids open where Li is stripped under low pressure [sec. 4]
                    self.contact_loss += self._void * (1.0 - pressure / cp) * dq * (1.0 - self.contact_loss)
                if self.filament > 0.0 and not self.hard_short:
                    self.filament -= self._fil_heal * self.filament * dq

        # calendar corrosion of plated Li (self-discharge into SEI, no current)
        plated = self.plated_ah
        if self._sei_cal > 0.0 and plated > 0.0:
            d = plated * self._sei_cal * self._arr_sei * (1.0 + k.sei_porosity_gain * por) * dt_s
            if d > plated:
                d = plated
            self.plated_ah = plated - d
            self.sei_ah += d
            side_ah += d

        # soft short progresses with time [sec. 6]
        if self.filament >= self._fil_thr and not self.hard_short:
            self.filament += self._soft_growth * dt_s
        if self._inj_shrink_per_s > 0.0:
            self._inj_leak_ohm *= math.exp(-self._inj_shrink_per_s * dt_s)

        # RC element (exact for constant current over the step)
        e_rc = self._e_rc
        v_rc = self.v_rc_v * e_rc + self._r1 * i_cell * (1.0 - e_rc)
        self.v_rc_v = v_rc

        # lumped thermal node, exact exponential approach to equilibrium [sec. 5]
        heat = i_cell * i_cell * self.resistance_ohm + v_rc * i_cell
        if g > 0.0:
            heat += self.voltage_v * self.voltage_v * g
        if i_cell > 0.0:
            heat += self._eta_nuc * i_cell
        if side_ah > 0.0:
            heat += k.side_reaction_heat_v * side_ah * 3600.0 / dt_s
        self.heat_w = heat
        h = self._cooling_w_k
        t_eq = self.ambient_c + heat / h
        t_now = self.temperature_c
        if heat != 0.0 or t_now != t_eq:
            self.temperature_c = t_eq + (t_now - t_eq) * math.exp(-dt_s * h / k.heat_capacity_j_k)

        self.current_a = current_a
        self._finish(current_a)

    def _finish(self, current_a):
        """Recompute outputs (resistance, pressure, voltage) from the state."""
        k = self._k
        areal = self._areal
        t_q = math.floor(self.temperature_c * T_QUANTUM_INV + 0.5) / T_QUANTUM_INV
        if t_q != self._t_cached:
            self._update_temperature_terms(t_q)

        # thickness and pressure [sec. 4]
        pa = self.plated_ah * areal
        sei_areal = self.sei_ah * areal
        swell = self._li_um * (pa / (1.0 - self.porosity) + self.dead_ah * areal * k.dead_volume_factor + sei_areal * k.sei_volume_factor)
        self.thickness_um = k.thickness0_um + swell
        pressure = self.fixture_pressure_mpa + self._stiffness * swell
        if pressure < 0.0:
            pressure = 0.0
        self.pressure_mpa = pressure
        if not self.fractured and (self.damage >= 1.0 or pressure >= k.fracture_instant_mpa):
            self._fracture()

        # resistances: ohmic + charge transfer + interface (contact loss, SEI) [sec. 2, 4, 6]
        contact = self.contact_loss if self.contact_loss < 0.95 else 0.95
        r_int = k.r_int_ohm_cm2 * self._inj_r_int_factor / (1.0 - contact) + k.r_sei_ohm_cm2_per_mah_cm2 * sei_areal
        r_s = (k.r_ohm_ohm_cm2 * self._arr_ohm * self._frac_factor + (k.r_ct_ohm_cm2 + r_int) * self._arr_ct) / self.area_cm2
        self.resistance_ohm = r_s
        self._r1 = k.r1_ohm_cm2 * self._arr_ct / self.area_cm2

        # leakage path [sec. 6]
        g = 0.0
        fil = self.filament
        if fil >= 1.0:
            self.hard_short = True
        if self.hard_short:
            g = 1.0 / k.hard_short_ohm
        elif fil >= self._fil_thr:
            x = (fil - self._fil_thr) / (1.0 - self._fil_thr)
            r_leak = self._soft_r * math.exp(self._log_hard_soft * x + k.short_noise * self._rng.gauss(0.0, 1.0))
            g = 1.0 / r_leak
        if self._inj_leak_ohm > 0.0:
            g += 1.0 / self._inj_leak_ohm
        self._leak_g = g
        self.leak_ohm = 1.0 / g if g > 0.0 else math.inf

        # equilibrium potentials [sec. 1]
        y = 1.0 - self.cathode_ah / self.capacity_ah  # delithiated fraction of the cathode
        if y < 0.0:
            y = 0.0
        elif y > 1.0:
            y = 1.0
        x = y * self._ocv_n1
        i = int(x)
        ocv = self._ocv[i] + self._ocv_slope[i] * (x - i)
        kn = pa / self._neg_knee
        if kn < _EXP_CUTOFF:
            ocv -= self._cu_v * math.exp(-kn)
        self.ocv_v = ocv

        # nucleation overpotential while plating on (nearly) bare Cu [sec. 3]
        eta = 0.0
        if current_a > 0.0 and self._nuc_v > 0.0:
            kn = pa / self._nuc_knee
            if kn < _EXP_CUTOFF:
                c = self.cum_plated_mah_cm2 / self._nuc_knee
                bare = self._nuc_repeat + (1.0 - self._nuc_repeat) * (math.exp(-c) if c < _EXP_CUTOFF else 0.0)
                eta = self._nuc_v * bare * math.exp(-kn)
        self._eta_nuc = eta

        v = ocv + self.v_rc_v + eta + r_s * current_a
        if g > 0.0:
            v /= 1.0 + r_s * g  # leak in parallel with the cell branch
        self.voltage_v = v

    def _fracture(self):
        p = self.params
        self.fractured = True
        self.damage = 1.0 if self.damage < 1.0 else self.damage
        self._frac_factor = p["fracture_resistance_factor"]
        self.filament += p["fracture_filament_jump"]

    # ---- helpers for chargers ----------------------------------------------
    def current_for_voltage(self, voltage_v, dt_s):
        """Terminal current that holds ``voltage_v`` over the next step (CV control), from the present state."""
        e = math.exp(-dt_s / self.params["tau1_s"])
        # dOCV/dQ on charge, so the OCV rise during the step is accounted for
        # (semi-implicit): without it a coarse step near the steep delithiation
        # end overshoots and the CV end point jitters from cycle to cycle.
        y = 1.0 - self.cathode_ah / self.capacity_ah
        i = int((y if 0.0 < y < 1.0 else (0.0 if y <= 0.0 else 1.0)) * self._ocv_n1)
        # (cathode side only: the negative's knee is far below any CV target)
        docv_dah = self._ocv_slope[i] * self._ocv_n1 / self.capacity_ah
        r_eff = self.resistance_ohm + self._r1 * (1.0 - e) + docv_dah * dt_s / 3600.0
        g = self._leak_g
        base = self.ocv_v + self.v_rc_v * e + self._eta_nuc
        # v (1 + r_s g) = base + r_eff I  ->  I = (v (1 + r_s g) - base) / r_eff
        return (voltage_v * (1.0 + self.resistance_ohm * g) - base) / r_eff

    # ---- fault injection ---------------------------------------------------
    def inject(self, name, **kw):
        """Inject a fault now (any simulated time). Names: see FAULTS.

        pressure_loss(pressure_mpa=0.0): fixture released, swelling no longer loads it.
        pressure_overload(pressure_mpa=2 x fracture onset) / set_pressure(pressure_mpa).
        internal_short(resistance_ohm=1000.0, shrink_per_h=0.0): leakage path that
            shrinks by that fraction per hour (soft short progressing).
        cooling_loss(factor=0.05): cooling conductance times factor.
        interfacial_drift(factor=2.0): interfacial resistance times factor, as
            contact loss or SEI growth would do (cell-physics sec. 4, 6); factor
            1.0 takes it back (the drift recedes).
        ambient(temperature_c).  clear(): undo environment faults (not damage).
        """
        p = self.params
        if name == "pressure_loss":
            self.fixture_pressure_mpa = kw.get("pressure_mpa", 0.0)
            self._stiffness = 0.0
        elif name in ("pressure_overload", "set_pressure"):
            default = 2.0 * p["fracture_onset_mpa"] if name == "pressure_overload" else p["stack_pressure_mpa"]
            self.fixture_pressure_mpa = kw.get("pressure_mpa", default)
            self._stiffness = p["fixture_stiffness_mpa_per_um"]
        elif name == "internal_short":
            self._inj_leak_ohm = kw.get("resistance_ohm", 1000.0)
            self._inj_shrink_per_s = kw.get("shrink_per_h", 0.0) / 3600.0
        elif name == "cooling_loss":
            self._cooling_w_k = p["cooling_w_k"] * kw.get("factor", 0.05)
        elif name == "ambient":
            self.ambient_c = kw["temperature_c"]
        elif name == "interfacial_drift":
            factor = float(kw.get("factor", 2.0))
            if not factor > 0.0:
                raise ValueError("interfacial_drift factor must be > 0")
            self._inj_r_int_factor = factor
        elif name == "clear":
            self.fixture_pressure_mpa = p["stack_pressure_mpa"]
            self._stiffness = p["fixture_stiffness_mpa_per_um"]
            self._cooling_w_k = p["cooling_w_k"]
            self.ambient_c = p["ambient_c"]
            self._inj_leak_ohm = 0.0
            self._inj_shrink_per_s = 0.0
            self._inj_r_int_factor = 1.0
            self.faults = {}
        else:
            raise ValueError("unknown fault %r (have %s)" % (name, ", ".join(FAULTS)))
        if name != "clear":
            self.faults[name] = dict(kw, time_s=self.time_s)
        self._finish(self.current_a)

    def state(self):
        """Snapshot of the true state (for logs, the twin's judge, debugging)."""
        return {
            "time_s": self.time_s,
            "voltage_v": self.voltage_v,
            "ocv_v": self.ocv_v,
            "current_a": self.current_a,
            "temperature_c": self.temperature_c,
            "pressure_mpa": self.pressure_mpa,
            "thickness_um": self.thickness_um,
            "resistance_ohm": self.resistance_ohm,
            "inventory_ah": self.inventory_ah,
            "cathode_ah": self.cathode_ah,
            "plated_ah": self.plated_ah,
            "sei_ah": self.sei_ah,
            "dead_ah": self.dead_ah,
            "porosity": self.porosity,
            "contact_loss": self.contact_loss,
            "damage": self.damage,
            "fractured": self.fractured,
            "filament": self.filament,
            "leak_ohm": self.leak_ohm,
            "hard_short": self.hard_short,
        }
