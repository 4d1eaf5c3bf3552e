"""The BMS: measure -> estimate -> detect/decide (safety) -> charge -> act.

``BMS.step(now_ms)`` is the control tick: it reads the board, updates the
estimates, lets the safety supervisor judge the readings *before* the
charger decides, and applies the result: a latched fault opens the
contactor, a raised warning derates any charge current (the limiter's
``f_warn``). ``_act`` is the only code that touches the contactor and the
current setpoint. ``BMS.report(now_ms)`` runs after the tick and queues
messages; it is kept out of ``step`` so the tick stays allocation-free and
its time does not depend on the network.

Commands on ``cmd`` are queued by the MQTT layer and handled in
``report`` (firmware/commands.py: HMAC-authenticated, replay-protected,
bounds-checked); each decision is published as a ``cmd_ok`` or
``cmd_reject`` event and only an accepted one acts (``_apply``).

The command code (commands.py, shared/auth.py and shared/wirecheck.py; its
heap is in docs/firmware.md, Heap figures) is loaded when a command arrives
and dropped when the queue is empty: commands are rare, and the heap it
would hold the rest of the time is what a small board lacks. The BMS keeps the commands' state (key,
bounds, last counter, counts), so nothing is lost in between. A command
that arrives when the code cannot be loaded or run (MemoryError) waits: it
is tried again on each of the next passes, and only once 16 s of the
network clock have passed without memory for it is each queued command
rejected with ``cmd_reject``/``internal``; the loop goes on either way.
"""

from firmware.measure import Measurement
from firmware.safety import Supervisor
from firmware.charger import Charger, FAULT, DONE, IDLE, REST
from firmware.impedance import ImpedanceEstimator
from firmware.limiter import PlatingLimiter
from firmware.report import Reporter
from shared.compat import const, forget, ticks_diff

_MAX_PENDING_CMDS = const(4)
# How long queued commands wait for memory to judge them, by the network
# clock (board.net_ticks_ms), before they are rejected (see _commands).
_CMD_WAIT_MS = const(16000)
# Loaded per batch of commands, dropped after it (see the module's doc).
_CMD_MODULES = const(("firmware.commands", "shared.auth", "shared.wirecheck"))


class BMS:
    def __init__(self, board, cfg, net, store=None, key=None, cmd_spec=None):
        # cfg is read here and not kept: main.py drops the config after
        # construction, and nothing in the running BMS needs it.
        self.board = board
        self.meas = Measurement(cfg["meas_filter_tau_s"])
        self.safety = Supervisor(cfg)
        self.charger = Charger(cfg)
        step_a = min(cfg["charge_current_a"], cfg["discharge_current_a"])
        if cfg["mode"] == "adaptive" and cfg["formation_current_a"] < step_a:
            step_a = cfg["formation_current_a"]
        self.z = ImpedanceEstimator(
            0.25 * step_a,
            cfg["discharge_cutoff_v"],
            cfg["r_nominal_ohm"],
            forgetting=cfg["impedance_forgetting"],
            ea_j_mol=cfg["impedance_ea_kj_mol"] * 1000.0,
            t_ref_c=cfg["t_ref_c"],
        )
        self.adaptive = cfg["mode"] == "adaptive"
        self.limiter = PlatingLimiter(cfg)
        self.drift_max_std = cfg["drift_max_std"]
        self.reporter = Reporter(cfg["cell_id"], net)
        self.telemetry_period_ms = cfg["telemetry_period_ms"]
        self._last_sample_ms = None
        self._new_fault = None
        self._baseline_learned = False
        self._cmds = []
        self._cmd_short_since_ms = None  # network clock when the queue first lacked memory
        self._cleared = None  # fault code a clear_fault just cleared (reported after its cmd_ok)
        # Persistent state (firmware/persist.py, loaded and started by main)
        # and authenticated commands (firmware/commands.py).
        self.store = store
        # cmd_spec: cmdlimits.resolve(cfg), done at boot by main.py (the
        # table then leaves the heap); resolved here when not given.
        if cmd_spec is None:
            from firmware.cmdlimits import resolve

            cmd_spec = resolve(cfg)
        self.cell_id = cfg["cell_id"]
        self._cmd_key = key
        self._secrets_path = cfg["secrets_path"]  # set_cmd_key writes the new key there
        self._cmd_spec = cmd_spec
        self.cmd_last_ctr = store.last_ctr if store else 0
        self.cmd_accepted = 0
        self.cmd_rejected = 0
        if store is not None:
            self.reporter.seq = store.seq_base  # seq continues across reboots
            self.reporter.boot = store.boots
            self.meas.total_charge_ah = store.charge_ah
            self.meas.total_discharge_ah = store.discharge_ah
            self.charger.cycles_done = store.cycles
            # The cycle this boot runs in keeps its number. A board that
            # restored a state may have booted in the middle of a cycle (a
            # power cut mid-charge): the charge before the boot is not
            # counted, so this cycle's CE would read above 1 and is not judged.
            self.meas.cycle.index = store.cycles + 1
            self.meas.cycle.partial = store.load_status != "new"
        self.contactor_closed = False
        self.setpoint_a = 0.0

    # --- control tick (no allocation) -------------------------------------
    def step(self, now_ms):
        m = self.meas
        m.update(self.board, now_ms, not self.contactor_closed)
        z = self.z
        z.update(m.voltage_v, m.current_a, m.temperature_c, not self.charger.impedance_quiet(now_ms, m.voltage_v))
        lim = self.limiter
        if self.adaptive:
            # A change of the drift beyond two standard deviations is acted on
            # at once, even while the fit is still settling: a throttled cell
            # sees smaller current steps and a noisier fit, and must still be
            # able to recover. Small changes wait for a confident estimate.
            d = z.drift_ratio
            s2 = 2.0 * z.drift_std
            moved = z.samples >= 4 and z.baseline_ohm > 0.0 and (d > lim.drift_seen + s2 or d < lim.drift_seen - s2)
            ok = moved or z.confident(self.drift_max_std)
            # Derating on the low-passed T and P (measure.py: noise must not
            # flip the tables); the supervisor judged the raw readings.
            lim.update(m.dt_s, d, ok, m.temperature_filt_c, m.pressure_filt_mpa)
        s = self.safety
        code = s.check(m)
        if code is not None:
            self._new_fault = code
            self.charger.fault(now_ms, code)
        if s.fault is not None:
            self._act(False, 0.0)
            return
        lim.warn(m.dt_s, s.warnings)
        c = self.charger
        was_formation = c.in_formation()
        i = c.step(now_ms, m, z.r_ohm, lim.limit_a, lim.f_env)
        if was_formation and not c.in_formation() and z.learning:
            z.stop_learning()  # formation over: its mean resistance is the baseline
            self._baseline_learned = True
        if i > 0.0 and lim.f_warn < 1.0:
            i = i * lim.f_warn  # a safety warning derates any charge, in either mode
        # The contactor stays closed through rest pulses and rests inside a
        # phase; it opens when the charger has nothing to do.
        self._act(c.state not in (FAULT, DONE, IDLE, REST), i)

    def _act(self, close, setpoint_a):
        # Open before zeroing is moot: both happen in this call, and the board
        # applies them together at the end of the tick.
        if not close:
            setpoint_a = 0.0
        self.setpoint_a = setpoint_a
        self.contactor_closed = close
        self.board.set_current_a(setpoint_a)
        self.board.set_contactor(close)

    def start(self, now_ms):
        if self.charger.formation_cycles and self.z.baseline_ohm <= 0.0:
            self.z.start_learning()
        self.charger.start(now_ms)

    def finished(self):
        return self.charger.state == DONE

    # --- reporting (after the tick; may allocate) -------------------------
    def report(self, now_ms):
        m = self.meas
        r = self.reporter
        if self._new_fault is not None:
            self._new_fault = None
            self._report_fault(m.t_s, now_ms)
        ev = self.safety.event
        if ev is not None:
            self.safety.event = None  # a warning raised or cleared (not latched, not persisted)
            code, text, value, limit = ev
            r.event(m.t_s, "alarm", code, text, value, limit)
        tr = self.charger.transition
        if tr is not None:
            r.event(m.t_s, "state", tr[1], "%s -> %s: %s" % tr)
            self.charger.transition = None
        if self._baseline_learned:
            self._baseline_learned = False
            r.event(m.t_s, "info", "BASELINE", "impedance baseline learned during formation (ohm at t_ref)", self.z.baseline_ohm)
        ev = self.limiter.event
        if ev is not None:
            self.limiter.event = None
            code, text, target_a, nominal_a = ev
            r.event(m.t_s, "throttle", code, text, target_a, nominal_a)
        force = False
        if self.charger.cycle_done:
            formation = self.charger.cycles_done <= self.charger.formation_cycles
            code = None if m.cycle.partial else self.safety.check_cycle(m.cycle.ce(), not formation)
            if code is not None:
                # Judged after the tick: act now (contactor open), report and persist.
                self.charger.fault(now_ms, code)
                self._act(False, 0.0)
                self._report_fault(m.t_s, now_ms)
            r.cycle(m, self.z.r_ohm, formation)
            m.cycle.reset()
            m.cycle.index += 1
            self.charger.cycle_done = False
            force = True  # the count of cycles done is on flash before the next one runs
        if self._last_sample_ms is None or ticks_diff(now_ms, self._last_sample_ms) >= self.telemetry_period_ms:
            self._last_sample_ms = now_ms
            r.sample(m, self.z.r_ohm, self.charger.state, self.limiter.limit_a if self.adaptive else None)
        if self._cmds:
            self._commands(now_ms)
        st = self.store
        if st is not None:
            st.set_totals(self.charger.cycles_done, m.total_charge_ah, m.total_discharge_ah)
            st.note_seq(r.seq, now_ms)  # reserves the next seq block before this one runs out
            st.save(now_ms, force)  # routine state: at most once per persist_min_interval_ms

    def _commands(self, now_ms):
        """Judge the queued commands with the command code loaded for them,
        drop the code, write the counter, then act.

        The judged commands are kept as plain tuples, so nothing refers into
        the code once it is dropped; the counter is written after that
        (forced), with the heap the code took free for the write, and an
        accepted ``durable`` command acts only if it is on flash
        (firmware/commands.py); otherwise it is answered ``ctr_not_saved``.

        No memory to load the code, or to judge a command (a MemoryError
        with nothing consumed; see CommandHandler.handle): nothing is half
        done. The commands stay queued and are tried again on the next
        passes (messages drain and garbage is collected in between) for
        _CMD_WAIT_MS of the network clock; then each queued command is
        answered ``internal``. The network clock, not a count of passes:
        what frees the memory (the broker's acknowledgements emptying the
        outbox) comes in real time, and in HIL a pass can take microseconds
        of it, so any count of passes can run out before one acknowledgement
        comes."""
        r = self.reporter
        t_s = self.meas.t_s
        st = self.store
        h = None
        short = False
        judged = []
        try:
            from firmware.commands import CommandHandler

            h = CommandHandler(self.cell_id, self._cmd_spec, self._cmd_key, self.cmd_last_ctr)
        except MemoryError:
            short = True
        while h is not None and self._cmds:
            topic, payload = self._cmds[0]
            try:
                d = h.handle(topic, payload)
            except MemoryError:
                short = True
                break
            self._cmds.pop(0)
            judged.append((d.accepted, d.code, d.reason, d.cmd, d.args, d.ctr, d.durable))
        ctr = self.cmd_last_ctr if h is None else h.last_ctr
        d = h = CommandHandler = None  # no reference into the code it drops
        forget(_CMD_MODULES)
        saved = True
        if ctr != self.cmd_last_ctr:
            self.cmd_last_ctr = ctr
            if st is not None:
                saved = st.set_ctr(ctr, now_ms)
        for accepted, code, reason, cmd, args, ctr, durable in judged:
            if accepted and durable and not saved:
                accepted, code, reason = False, "ctr_not_saved", "counter not written to flash; retry"
            # The answer carries the command's counter as its value, so the
            # sender can tell which command it answers (host/cmd.py does).
            refused = self._apply(cmd, args, now_ms, ctr) if accepted else None
            if refused is not None:
                accepted, code, reason = False, "not_applied", refused
            if accepted:
                self.cmd_accepted += 1
            else:
                self.cmd_rejected += 1
            r.event(t_s, "cmd_ok" if accepted else "cmd_reject", code, reason, ctr)
            if accepted and cmd == "clear_fault" and self._cleared is not None:
                r.event(t_s, "fault_clear", self._cleared, "fault %s cleared by command, ctr %d" % (self._cleared, ctr))
                self._cleared = None
        if not short:
            self._cmd_short_since_ms = None
            return
        net_ms = self.board.net_ticks_ms()
        since = self._cmd_short_since_ms
        if since is None:
            self._cmd_short_since_ms = net_ms
            return
        if ticks_diff(net_ms, since) < _CMD_WAIT_MS:
            return
        self._cmd_short_since_ms = None
        while self._cmds:
            self._cmds.pop(0)
            self.cmd_rejected += 1
            r.event(t_s, "cmd_reject", "internal", "no memory for the command code; retry")

    def _report_fault(self, t_s, now_ms):
        """A fault just latched: publish it and persist the latch at once
        (forced write), so a reboot keeps it latched. Every latch, whatever
        judged it (the tick or the cycle check), goes through here."""
        s = self.safety
        self.reporter.event(t_s, "fault", s.fault, "safety fault latched: contactor open", s.fault_value, s.fault_limit)
        if self.store is not None:
            self.store.latch_fault(t_s, s.fault, s.fault_value, s.fault_limit, now_ms)

    def _apply(self, cmd, a, now_ms, ctr):
        """Act on an accepted command; its args ``a`` are validated and
        clamped. Returns None, or why it could not act (then it did not)."""
        c = self.charger
        if cmd == "set_cmd_key":
            # The new key is on flash before it is used; a file that cannot
            # be written leaves the old key in force (the sender is told).
            from shared.keyfile import take_rotation

            try:
                self._cmd_key, pw = take_rotation(self._secrets_path, self._cmd_key, ctr, a)
            except Exception as e:
                return "set_cmd_key: secrets file not updated: " + repr(e)[:120]
            finally:
                take_rotation = None
                forget(("shared.keyfile",))  # loaded for a rotation only (a literal: no global name)
            link = self.reporter.net._link  # (client_id, host, port, user, password, server_hostname)
            if link[3] is not None:
                self.reporter.net._link = link[:4] + (pw,) + link[5:]  # used from the next connect
            return None
        if cmd == "set_limits":
            for k in a:
                setattr(c, k, a[k])
            if "charge_current_a" in a:
                # The plating limiter scales from this nominal (limiter.py).
                self.limiter.set_nominal(a["charge_current_a"])
        elif cmd == "pulse":
            c.request_pulse(a.get("amplitude_a"), a.get("duration_ms", 0))
        elif cmd == "clear_fault":
            code = self.safety.fault
            if code is None:
                return None  # nothing latched: nothing to clear
            if not self.safety.clear(self.meas):
                # An authentic command cannot clear a fault whose condition is
                # still there (safety.py); say so, or the sender would think it did.
                return "clear_fault: " + code + " condition still present, the fault stays latched"
            c.clear_fault(now_ms)
            if self.store is not None:
                self.store.clear_fault(now_ms)
            self._cleared = code
        elif cmd == "start":
            self.start(now_ms)
        elif cmd == "stop":
            c.stop(now_ms)

    def restore_fault(self, code, now_ms):
        """A fault latched before the reboot stays latched until clear_fault."""
        self.safety.latch(code)
        self.charger.fault(now_ms, code)
        self._act(False, 0.0)

    def will(self):
        """The last will (topic, payload) the MQTT layer registers at each connect."""
        return self.reporter.status_message("offline")

    def on_connect(self):
        """The MQTT layer is connected: the retained birth message."""
        self.reporter.status("online", self.board.time_s())

    def on_command(self, topic, payload):
        """Called by the MQTT layer; bounded so a flood cannot exhaust the heap."""
        if len(self._cmds) < _MAX_PENDING_CMDS:
            self._cmds.append((topic, payload))

    def safe_state(self):
        """Contactor open, setpoint zero; used on any exception."""
        self._act(False, 0.0)
