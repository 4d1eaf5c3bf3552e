from __future__ import annotations

import time

import pytest

from platewise.hil.commands import BoardWatch
from platewise.host.broker import MosquittoBroker, mosquitto_path


@pytest.fixture
def mosquitto():
    assert mosquitto_path(), "mosquitto is not installed: apt-get install mosquitto (tests/run.sh does it)"
    with MosquittoBroker() as b:
        yield b


@pytest.fixture
def collector(mosquitto):
    # Every board's messages, decoded with the shared codec (hil/commands.py).
    c = BoardWatch(mosquitto.host, mosquitto.port)
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
