"""The emulated board's tick wait (firmware/boards/emulated.py) under
MicroPython: the pacing limits come with the emulator's answers, virtual time
is held while a connected link has a backlog above the limit, and offline
the speed-up is capped. End to end (real broker, outage): tests/hil."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mp"))
from mp_runner import case, run_cases  # noqa: E402


@pytest.fixture(scope="module")
def res():
    return run_cases("mp_emulated.py")


def test_connected_backlog_holds_virtual_time(res):
    r = case(res, "connected_backlog_holds_virtual_time")
    # First readings at t = 0; then 7 messages wait against a limit
    # of 4: three service calls of 5 ms each before the step goes out, so
    # virtual time does not move until the backlog is down to the limit.
    assert r["log"] == ["connect", "step 0", "service", "service", "service", "step 1000", "step 1000"]
    assert r["waits"] == [5, 5, 5]
    assert r["backlog"] == 4
    assert r["board_ms"] == 2000
    assert r["real_ms"] < 500  # connected: no offline pacing


def test_offline_caps_the_speedup(res):
    r = case(res, "offline_caps_the_speedup")
    # 20x while the link is down: each 1000 ms tick takes at least 50 ms of
    # real time, and the backlog is not serviced (nothing to hold for).
    assert r["steps"] == [0] + [1000] * 5
    assert r["services"] == 0
    assert r["board_ms"] == 5000
    assert 250 <= r["real_ms"] < 2000


def test_wait_without_a_link_is_a_plain_step(res):
    r = case(res, "without_link_no_pacing")
    assert r["steps"] == [0, 1000]
    assert r["board_ms"] == 1000
    assert r["real_ms"] < 500
