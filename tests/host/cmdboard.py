"""A virtual board that takes signed commands, for the tests of what sends
them (``platewise cmd``, the dashboard): the real firmware in the
MicroPython unix port, on a real Mosquitto, with a latched fault to clear.

Ambient 25 C against a 24 C limit: OT latches at once, so a ``clear_fault``
is refused until the test cools the cell (``cool``)."""

from __future__ import annotations

import contextlib
import json
import time

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard


@contextlib.contextmanager
def commanded_board(tmp_path, broker, cell_id, key):
    """A running board for ``cell_id`` holding ``key``, 60 s into its run; yields (board, secrets path)."""
    secrets = tmp_path / ("%s-secrets.json" % cell_id)
    secrets.write_text(json.dumps({"cmd_key_hex": key.hex()}))
    state = tmp_path / ("%s-state" % cell_id)
    state.mkdir()
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=2)
    cfg = firmware_config(
        cell, cell_id, broker.host, broker.port, 1,
        secrets_path=str(secrets), persist_dir=str(state), t_max_c=24.0, max_run_s=4 * 3600,
    )  # fmt: skip
    vb = VirtualBoard(cell, Sensors(params, seed=2), cfg)
    vb.speed_cap(20.0)  # the board waits for the sender in real time
    vb.start()
    try:
        deadline = time.monotonic() + 30
        while vb.t_s < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield vb, secrets
    finally:
        vb.kill()


def cool(vb, below_c=22.5, timeout_s=30.0):
    """Cool the cell below the OT limit, so a clear_fault clears."""
    vb.cell.inject("ambient", temperature_c=20.0)
    deadline = time.monotonic() + timeout_s
    while vb.cell.temperature_c > below_c and time.monotonic() < deadline:
        time.sleep(0.05)
