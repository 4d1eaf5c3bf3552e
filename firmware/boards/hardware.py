"""The board driver shared by the rp2 and esp32 boards: parts built from a
validated hardware config (board_config.py), behind the same interface as
the virtual board (boards/emulated.py).

``build(cfg, machine, clock, make_adc)`` takes the ``machine`` module, the
``time`` module and the port's ADC factory as arguments: only rp2.py and
esp32.py import them. Build order is safety order: the contactor pin is
created at its open level first, then both DACs are written to 0 A, then the
sensors are checked; if any part is missing, construction raises
RuntimeError naming it, with the outputs already safe.

Clock: ``ticks_ms`` is the port's ticks_ms (wraps at 2**30, as
shared.compat assumes); ``wait_tick(period_ms, client)`` waits to a
deadline that advances by exactly one period per call, so ticks do not
drift; a tick that ran past its deadline resynchronises instead of bursting
(counted in ``overruns``). While the MQTT client is connected, the wait is
spent in its ``service(now_ms, wait_ms)``, so acknowledgements and commands
are handled as they arrive rather than once a tick; otherwise it sleeps.
``time_s`` counts seconds since construction across tick wraps.

Sensors: each reading is the part's value with the channel's calibration
(gain, offset) applied. A failed read is NaN, with the reason in the part's
``fault`` (see ``sensor_faults()``); the safety supervisor trips on NaN.

Actuators: ``set_current_a`` > 0 drives the charge source, < 0 the
discharge load (the other one is zeroed first, so both are never on); with
no load configured a negative setpoint gives 0 A and counts in
``setpoint_rejects``. If a DAC write fails, the current source may be stuck
at its last value, so the board latches ``actuator_fault``, opens the
contactor itself (an interlock, like a hardware one) and reads the current
as NaN from then on, so the supervisor latches a fault and the application
agrees the contactor is open. ``set_contactor(True)`` is refused while the
actuator fault stands.

Watchdog: machine.WDT is created at the first ``feed_watchdog()`` (start-up
and config loading may take their time; the control loop may not). Once
started it cannot be stopped: after ``close()`` the board resets when the
timeout expires, and main.py starts again.
"""

from firmware.drivers.contactor import Contactor
from firmware.drivers.hx711 import HX711
from firmware.drivers.mcp4725 import MCP4725
from firmware.drivers.ntc import NTC

_NAN = float("nan")


class HardwareBoard:
    def __init__(self, meter, ntc, cell, charge_dac, load_dac, contactor, cal, clock, current_invert=False, make_wdt=None, watchdog_timeout_ms=0):
        self.meter = meter
        self.ntc = ntc
        self.cell = cell
        self.charge_dac = charge_dac
        self.load_dac = load_dac
        self.contactor = contactor
        self._clock = clock
        self._make_wdt = make_wdt
        self.watchdog_timeout_ms = watchdog_timeout_ms if make_wdt else 0  # for main to check against its tick
        self._wdt = None
        self.watchdog_feeds = 0
        self._v_gain = cal["voltage_gain"]
        self._v_off = cal["voltage_offset_v"]
        self._i_gain = -cal["current_gain"] if current_invert else cal["current_gain"]
        self._i_off = cal["current_offset_a"]
        self._t_gain = cal["temperature_gain"]
        self._t_off = cal["temperature_offset_c"]
        self._p_gain = cal["pressure_gain"]
        self._p_off = cal["pressure_offset_mpa"]
        self.setpoint_a = 0.0
        self.setpoint_rejects = 0
        self.actuator_fault = None
        self.overruns = 0
        self._deadline = None
        self._last_ms = clock.ticks_ms()
        self._elapsed_ms = 0

    # --- clock -------------------------------------------------------------
    def ticks_ms(self):
        return self._clock.ticks_ms()

    def net_ticks_ms(self):
        return self._clock.ticks_ms()

    def time_s(self):
        # Called every tick, far more often than the 2**29 ms a ticks_diff spans.
        now = self._clock.ticks_ms()
        self._elapsed_ms += self._clock.ticks_diff(now, self._last_ms)
        self._last_ms = now
        return self._elapsed_ms / 1000.0

    def wait_tick(self, period_ms, client=None):
        clk = self._clock
        now = clk.ticks_ms()
        if self._deadline is None:
            self._deadline = now
        self._deadline = clk.ticks_add(self._deadline, period_ms)
        left_ms = clk.ticks_diff(self._deadline, now)
        if left_ms <= 0:
            self.overruns += 1
            self._deadline = now  # resync: late ticks are not made up in a burst
        else:
            # A connected client blocks in its poll for at most what is
            # left; in any other state it returns at once, so the rest is slept.
            while client is not None and left_ms > 0 and client.connected():
                client.service(now, left_ms)
                now = clk.ticks_ms()
                left_ms = clk.ticks_diff(self._deadline, now)
            if left_ms > 0:
                clk.sleep_ms(left_ms)
        self.time_s()  # keep the elapsed-time count current even if nobody asks

    # --- sensors -----------------------------------------------------------
    def read_voltage_v(self):
        return self.meter.read_bus_voltage_v() * self._v_gain + self._v_off

    def read_current_a(self):
        if self.actuator_fault is not None:
            return _NAN
        return self.meter.read_current_a() * self._i_gain + self._i_off

    def read_temperature_c(self):
        return self.ntc.read_temperature_c() * self._t_gain + self._t_off

    def read_pressure_mpa(self):
        return self.cell.read_pressure_mpa() * self._p_gain + self._p_off

    def sensor_faults(self):
        """[(channel, reason)] for every failing channel (for reports; allocates)."""
        out = []
        for name, part in (("power_monitor", self.meter), ("ntc", self.ntc), ("load_cell", self.cell)):
            if part.fault is not None:
                out.append((name, part.fault))
        if self.actuator_fault is not None:
            out.append(("dac", self.actuator_fault))
        return out

    # --- actuators ---------------------------------------------------------
    def set_current_a(self, a):
        if not a == a:  # NaN setpoint: treat as 0
            a = 0.0
        load = self.load_dac
        try:
            if a > 0.0:
                if load is not None:
                    load.write_code(0)
                self.charge_dac.set_current_a(a)
            elif a < 0.0 and load is not None:
                self.charge_dac.write_code(0)
                load.set_current_a(-a)
            else:
                if a < 0.0:
                    self.setpoint_rejects += 1
                    a = 0.0
                self.charge_dac.write_code(0)
                if load is not None:
                    load.write_code(0)
        except OSError:
            self.actuator_fault = "dac_i2c"
            self.contactor.set(False)
            a = 0.0
        self.setpoint_a = a

    def set_contactor(self, closed):
        if closed and self.actuator_fault is not None:
            closed = False
        self.contactor.set(closed)

    def feed_watchdog(self):
        if self._wdt is None:
            if self._make_wdt is None:
                return
            self._wdt = self._make_wdt()
        self._wdt.feed()
        self.watchdog_feeds += 1

    def close(self):
        """Safe state: contactor open, sources at 0 A. The watchdog keeps running."""
        self.contactor.set(False)
        for dac in (self.charge_dac, self.load_dac):
            if dac is not None:
                try:
                    dac.write_code(0)
                except OSError:
                    pass


def build(cfg, machine, clock, make_adc, ntc_supply_uv=0):
    """Construct every part from a validated config; see the module doc for the order."""
    Pin = machine.Pin
    con = cfg["contactor"]
    contactor = Contactor(Pin(con["pin"], Pin.OUT, value=Contactor.open_level(con["active_high"])), con["active_high"])
    bus = cfg["i2c"]
    i2c = machine.I2C(bus["id"], scl=Pin(bus["scl"]), sda=Pin(bus["sda"]), freq=bus["freq_hz"])
    cal = cfg["calibration"]
    dac = cfg["dac"]
    charge_dac = MCP4725(i2c, dac["charge_addr"], dac["charge_full_scale_a"], cal["charge_gain"], cal["charge_offset_a"])
    load_dac = None
    if dac["load_addr"]:
        load_dac = MCP4725(i2c, dac["load_addr"], dac["load_full_scale_a"], cal["load_gain"], cal["load_offset_a"])
    pm = cfg["power_monitor"]
    if pm["part"] == "ina228":
        from firmware.drivers.ina228 import INA228 as Meter
    else:
        from firmware.drivers.ina226 import INA226 as Meter
    conversion_us = pm["conversion_us"] or (1052 if pm["part"] == "ina228" else 1100)
    meter = Meter(i2c, pm["addr"], pm["shunt_ohm"], pm["max_current_a"], conversion_us, pm["averages"])
    # Result registers read 0 until the first averaged cycle completes: wait
    # it out so the first tick does not see a 0 V cell.
    clock.sleep_ms(int(meter.cycle_ms) + 1)
    n = cfg["ntc"]
    sh = (n["sh_a"], n["sh_b"], n["sh_c"]) if n["model"] == "steinhart_hart" else None
    ntc = NTC(make_adc(n["pin"]), n["r_fixed_ohm"], n["topology"], n["beta_k"], n["r0_ohm"], n["t0_c"], sh, n["samples"], n["rail_margin"], ntc_supply_uv)
    lc = cfg["load_cell"]
    cell = HX711(
        Pin(lc["dout"], Pin.IN, Pin.PULL_UP),
        Pin(lc["sck"], Pin.OUT, value=0),
        lc["gain"],
        lc["offset_counts"],
        lc["scale_n_per_count"],
        lc["cell_area_cm2"],
        lc["stale_limit"],
        machine.disable_irq,
        machine.enable_irq,
        clock.sleep_ms,
    )
    timeout_ms = cfg["watchdog"]["timeout_ms"]

    def make_wdt():
        return machine.WDT(timeout=timeout_ms)

    return HardwareBoard(meter, ntc, cell, charge_dac, load_dac, contactor, cal, clock, pm["current_invert"], make_wdt if timeout_ms else None, timeout_ms)
