"""Authenticated commands: decode, verify, reject replays, validate, decide.

``CommandHandler.handle(topic, payload)`` takes a raw message from
``platewise/v1/<cell>/cmd`` and returns a ``Decision``. It never acts on the
cell and never raises: the application acts on an accepted decision and
publishes every decision as a ``cmd_ok`` or ``cmd_reject`` event
(``Decision.event``, ``.code``, ``.reason``).

Checks, in this order (the first failure is the reject code):
  bad_topic    not this board's cmd topic (checked before any parsing)
  bad_msg      not a valid v1 cmd message (shared.wirecheck.decode: size
               limit, UTF-8, JSON, schema); ``unknown_cmd`` if the command
               name is not one of wire.COMMANDS
  no_key       this board has no command key (secrets file missing/bad)
  bad_type     an argument that is not a number, string or bool
  bad_mac      HMAC-SHA256 (shared.auth) does not match
  replay       ``ctr`` not strictly above the last accepted counter
  unknown_cmd / unknown_arg / missing_arg / bad_type / out_of_range
               the arguments against cmdlimits.COMMANDS (bad_type also for
               a hex argument, set_cmd_key's, that is not a string of
               exactly its number of digits)
  internal     an unexpected exception (e.g. MemoryError), caught here
  ctr_not_saved  given by the application, not here: the counter could not
               be written to flash (see below)

An authentic, fresh counter is consumed before its arguments are judged:
replaying a rejected command later, under another config, must not get it
accepted.

The counter must survive reboots, or a recorded command could be replayed
after one. The handler moves it in RAM (``last_ctr``), so replays within
this boot are rejected; the application writes it to flash
(persist.Store.set_ctr) once the queued commands are judged and this code
is dropped (firmware/app.py: the write's JSON and file buffers then have
the heap the code took), and acts on an accepted command marked
``durable`` (``Decision.durable``, from cmdlimits) only if that write
succeeded; otherwise it answers ``ctr_not_saved``, as an accepted command
whose counter is only in RAM could be replayed after a reboot. ``stop`` is
not durable: replaying a stop can only stop the cell.

Limits as data: ``firmware/cmdlimits.py`` (COMMANDS) gives each argument's
type, bounds (numbers or config keys) and which side is clamped instead of
rejected; ``cmdlimits.resolve(cfg)`` turns it into numbers at boot, and the
handler is given that (the table and the config stay out of the heap). A value past
the clamped side (e.g. a charge current above ``cmd_charge_current_max_a``)
is set to the bound and listed in ``Decision.clamped``; past the other
side, or for ``pulse``, it is rejected. A config bound of 0 is derived
from the operating point (DERIVED): by default a command may lower the
charge current and voltage and raise the discharge cut-off, nothing more.
"""

from shared import wire
from shared.compat import forget, is_finite


def _stage(name):
    """(module, loaded here) for one stage of judging a command.

    The decoder (shared.wirecheck) and the MAC (shared.auth) are loaded one
    at a time, each for its own step, and a module loaded here is dropped
    after its step: the heap holds this module and one of them, never both
    (4.7 and 4.5 KB on the 64-bit unix port, docs/firmware.md, Heap
    figures; both at once would leave a 1-2 KB margin at 96 KB). A
    module something else already holds (a test, the host) is left as it
    is. A MemoryError while loading comes before any counter is consumed."""
    import sys

    m = sys.modules.get(name)
    if m is not None:
        return m, False
    __import__(name)
    return sys.modules[name], True



class Decision:
    """What the handler decided; the application acts on it and publishes it."""

    def __init__(self, accepted, code, reason, cmd=None, args=None, clamped=None, ctr=None, durable=False):
        self.accepted = accepted
        self.code = code  # accepted: the command name; rejected: the reject code
        self.reason = reason[:400]  # fits the event's msg field
        self.cmd = cmd  # the action to take (accepted only)
        self.args = args  # validated, clamped arguments (floats as float)
        self.clamped = clamped or []  # [(arg, asked, used), ...]
        self.ctr = ctr
        self.durable = durable  # accepted, and may act only once ctr is on flash

    @property
    def event(self):
        return "cmd_ok" if self.accepted else "cmd_reject"


def _reject(code, reason, cmd=None, ctr=None):
    return Decision(False, code, reason, cmd, None, None, ctr)


class CommandHandler:
    def __init__(self, cell_id, spec, key, last_ctr=0):
        """``spec``: cmdlimits.resolve(cfg), each command's argument rows with
        numeric bounds; ``key``: bytes or None; ``last_ctr``: the persisted
        counter."""
        self.cell_id = cell_id
        self._topic = wire.topic(cell_id, "cmd")
        self._key = key or None  # its HMAC pads are made in the MAC stage, with shared.auth loaded
        self.last_ctr = last_ctr
        self._spec = spec  # cmd -> (min_args, durable, rows with numeric bounds)

    def handle(self, topic, payload):
        """Judge one command: a Decision. Raises only MemoryError, and only
        when nothing was consumed (the counter is as it was): the caller
        keeps the command and tries again later (firmware/app.py)."""
        ctr0 = self.last_ctr
        try:
            d = self._handle(topic, payload)
        except MemoryError as e:
            if self.last_ctr == ctr0:
                raise
            d = _reject("internal", "handler error: " + repr(e)[:200])
        except Exception as e:  # bounded input; nothing may stop the BMS
            d = _reject("internal", "handler error: " + repr(e)[:200])
        return d

    def _handle(self, topic, payload):
        if isinstance(topic, (bytes, bytearray)):
            topic = bytes(topic).decode()  # a UnicodeError is caught in handle()
        if topic != self._topic:
            return _reject("bad_topic", "not this board's cmd topic: " + str(topic)[:80])
        wirecheck, fresh = _stage("shared.wirecheck")
        try:
            _cell, _kind, msg = wirecheck.decode(topic, payload, {"cmd": wire.CMD})  # the only kind a board decodes
        except wire.TelemetryError as e:
            reason = str(e)
            unknown = reason.startswith("cmd") and " not one of " in reason
            return _reject("unknown_cmd" if unknown else "bad_msg", reason)
        finally:
            wirecheck = None
            if fresh:
                forget(("shared.wirecheck",))
        cmd = msg["cmd"]
        ctr = msg["ctr"]
        args = msg["args"]
        if self._key is None:
            return _reject("no_key", "no command key configured on this board", cmd, ctr)
        for k in args:
            v = args[k]
            if not isinstance(v, (bool, int, float, str)) or (isinstance(v, float) and not is_finite(v)):
                return _reject("bad_type", "args.%s: must be a finite number, string or bool" % k[:40], cmd, ctr)
        auth, fresh = _stage("shared.auth")
        try:
            authentic = auth.verify_command(self._key, msg)
        finally:
            auth = None
            if fresh:
                forget(("shared.auth",))
        if not authentic:
            return _reject("bad_mac", "MAC does not match", cmd, ctr)
        if ctr <= self.last_ctr:
            return _reject("replay", "ctr %d not above last accepted %d" % (ctr, self.last_ctr), cmd, ctr)
        # Authentic and fresh: consume the counter before judging the arguments.
        self.last_ctr = ctr
        spec = self._spec.get(cmd)
        if spec is None:
            return _reject("unknown_cmd", "no handler for " + cmd, cmd, ctr)
        return self._check_args(cmd, ctr, args, spec)

    def _check_args(self, cmd, ctr, args, spec):
        min_args, durable, rows = spec
        for k in args:
            known = False
            for arg, _typ, _lo, _hi, _side in rows:
                if arg == k:
                    known = True
            if not known:
                return _reject("unknown_arg", cmd + ": unknown argument " + k[:40], cmd, ctr)
        all_required = min_args == len(rows)  # else: any subset of at least min_args
        out = {}
        clamped = []
        for arg, typ, lo, hi, side in rows:
            if arg not in args:
                if all_required:
                    return _reject("missing_arg", "%s: missing argument %s" % (cmd, arg), cmd, ctr)
                continue
            v = args[arg]
            if typ == "x":
                if not isinstance(v, str) or len(v) != hi:
                    return _reject("bad_type", "%s: expected %d hex digits" % (arg, hi), cmd, ctr)
                out[arg] = v
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (typ == "i" and not isinstance(v, int)):
                return _reject("bad_type", ("%s: expected an integer" if typ == "i" else "%s: expected a number") % arg, cmd, ctr)
            used = float(v) if typ == "f" else v
            if used > hi:
                if side != "hi":
                    return _reject("out_of_range", "%s: %s above %s" % (arg, v, hi), cmd, ctr)
                used = hi
            elif used < lo:
                if side != "lo":
                    return _reject("out_of_range", "%s: %s below %s" % (arg, v, lo), cmd, ctr)
                used = lo
            if used != v:
                clamped.append((arg, v, used))
            out[arg] = used
        if len(out) < min_args:
            return _reject("missing_arg", cmd + ": needs at least " + str(min_args) + " argument(s)", cmd, ctr)
        reason = cmd + " accepted, ctr " + str(ctr)
        for arg, asked, used in clamped:
            reason += "; clamped %s %s -> %s" % (arg, asked, used)
        return Decision(True, cmd, reason, cmd, out, clamped, ctr, durable)
