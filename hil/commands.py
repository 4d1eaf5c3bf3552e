"""A host's command port to one board over MQTT: signed, forged and replayed
commands out, the board's messages in.

``BoardWatch(host, port, cell_id)`` subscribes to everything the board
publishes (every board's with cell_id None), decoded with the shared codec;
``CommandPort(host, port, cell_id, key)`` is a watch that also sends ``cmd`` messages signed
with shared/cmdsign.py: ``send(cmd, args)`` signs with the board's key and
the next counter, ``auth="forged"`` signs with a wrong key, ``"replayed"``
sends the last signed payload again, byte for byte. ``decided()`` says
whether the board has published a decision (cmd_ok / cmd_reject) for every
command sent.

Failure behaviour: a broker that does not accept the subscription within
10 s raises ``HilError``; ``wait_event`` raises AssertionError listing the
events seen (it is what tests wait with); a message that does not decode
is kept in ``errors``, never dropped silently.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt

from platewise.hil.virtual_board import HilError
from platewise.shared import cmdsign
from platewise.shared import telemetry as tm

FORGED_KEY = b"\x00" * 32
FIRST_CTR = 100


class BoardWatch:
    """Everything the board ``cell_id`` publishes (None: every board), decoded."""

    def __init__(self, host: str, port: int, cell_id: str | None = None):
        self.cell_id = cell_id
        self.msgs: list[tuple[str, dict]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        topic = tm.subscription() if cell_id is None else tm.subscription("+", cell_id)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{cell_id}-{time.monotonic_ns()}")
        self.client.on_message = self._on
        self.client.on_subscribe = lambda *a: subscribed.set()
        # (Re)subscribed on every connect: a broker restart does not end the watch.
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        if not subscribed.wait(10):
            self.close()
            raise HilError(f"board watch: broker {host}:{port} did not accept the subscription")

    def _on(self, client, userdata, msg) -> None:
        try:
            cell_id, kind, m = tm.decode(msg.topic, msg.payload)
        except tm.TelemetryError as e:
            with self._lock:
                self.errors.append(str(e))
            return
        self._keep(cell_id, kind, m)

    def _keep(self, cell_id: str, kind: str, m: dict) -> None:
        """A decoded message (MQTT's thread); a subclass may judge it instead of keeping it."""
        with self._lock:
            self.msgs.append((kind, m))

    def of(self, kind: str) -> list[dict]:
        with self._lock:
            return [m for k, m in self.msgs if k == kind]

    def events(self, event: str, code: str | None = None) -> list[dict]:
        return [e for e in self.of("event") if e["event"] == event and (code is None or e["code"] == code)]

    def wait_for(self, pred, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pred(self):
                return True
            time.sleep(0.05)
        return False

    def wait_event(self, event: str, code: str, n: int = 1, timeout_s: float = 30.0) -> list[dict]:
        if self.wait_for(lambda w: len(w.events(event, code)) >= n, timeout_s):
            return self.events(event, code)
        # Each event with its text: a reject's reason says why (e.g. no memory for the command code).
        seen = [(e["event"], e["code"], str(e.get("msg", ""))[:80]) for e in self.of("event")]
        raise AssertionError(f"no {event}/{code} event; events: {seen}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class CommandPort(BoardWatch):
    def __init__(self, host: str, port: int, cell_id: str, key: bytes, first_ctr: int = FIRST_CTR):
        super().__init__(host, port, cell_id)
        self.key = key
        self.ctr = first_ctr - 1
        self.sent = 0
        self.sent_at = 0.0
        self._last_signed: bytes | None = None

    def publish(self, payload: bytes) -> None:
        self.client.publish(tm.topic(self.cell_id, "cmd"), payload, qos=1).wait_for_publish(10)

    def send(self, cmd: str, args: dict, auth: str = "signed", ctr: int | None = None, key: bytes | None = None) -> bytes:
        """Send one command (module doc); returns the payload sent."""
        if auth == "replayed":
            if self._last_signed is None:
                raise HilError("replayed: no signed command was sent before")
            payload = self._last_signed
        else:
            if ctr is None:
                self.ctr += 1
                ctr = self.ctr
            k = FORGED_KEY if auth == "forged" else (key or self.key)
            payload = tm.encode("cmd", self.cell_id, ctr, cmdsign.command_fields(k, self.cell_id, ctr, cmd, args))
            if auth == "signed":
                self._last_signed = payload
        self.sent += 1
        self.sent_at = time.monotonic()
        self.publish(payload)
        return payload

    def decided(self) -> bool:
        return len(self.events("cmd_ok")) + len(self.events("cmd_reject")) >= self.sent
