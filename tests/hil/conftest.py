from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from platewise.host.broker import MosquittoBroker, mosquitto_path
from platewise.shared import telemetry as tm


@pytest.fixture
def mosquitto():
    assert mosquitto_path(), "mosquitto is not installed: apt-get install mosquitto (tests/run.sh does it)"
    with MosquittoBroker() as b:
        yield b


class Collector:
    """A plain paho subscriber that decodes every message with the shared codec."""

    def __init__(self, host: str, port: int):
        self.messages: list[tuple[str, dict]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"collector-{port}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect(host, port)
        self.client.subscribe(tm.subscription(), qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(10), "collector did not subscribe"

    def _on_message(self, client, userdata, msg):
        try:
            _cell, kind, m = tm.decode(msg.topic, msg.payload)
        except tm.TelemetryError as e:
            with self._lock:
                self.errors.append(str(e))
            return
        with self._lock:
            self.messages.append((kind, m))

    def of(self, kind: str) -> list[dict]:
        with self._lock:
            return [m for k, m in self.messages if k == kind]

    def wait_for(self, pred, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pred(self):
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def collector(mosquitto):
    c = Collector(mosquitto.host, mosquitto.port)
    yield c
    c.close()


def _wait_received(twin, cell_id: str, n: int, timeout_s: float = 20.0) -> dict:
    """The twin's view of ``cell_id`` once it holds ``n`` data messages (or the timeout passed)."""
    deadline = time.monotonic() + timeout_s

    def received():
        try:
            return twin.cell(cell_id)["received"]
        except KeyError:  # nothing from that cell yet
            return 0

    while time.monotonic() < deadline and received() < n:
        time.sleep(0.05)
    return twin.cell(cell_id)


@pytest.fixture
def wait_received():
    return _wait_received
