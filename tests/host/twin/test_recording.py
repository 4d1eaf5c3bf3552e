"""host/twin/recording.py: the shape every cycler reader hands the replay."""

import pytest

from platewise.host.twin.recording import Recording, ReplayError
from platewise.host.twin.replay import ReplayError as ReplayErrorOfReplay


def _cols(n=3):
    return {"time_s": [float(k) for k in range(n)], "voltage_v": [3.3] * n, "current_a": [0.1] * n}


def test_a_whole_recording_checks():
    r = Recording(_cols(), cycle_ah={1: (1.0, 0.9)}, meta={"format": "test"}).check()
    assert r.meta["format"] == "test" and r.cycle_ah[1] == (1.0, 0.9)
    assert ReplayErrorOfReplay is ReplayError  # one error class for every file problem


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda c: c.pop("current_a"), "no current_a"),
        (lambda c: c["voltage_v"].pop(), "column voltage_v has 2 values, time_s 3"),
        (lambda c: c["time_s"].__setitem__(2, 0.5), "sample 2: time_s goes backwards"),
    ],
)
def test_a_broken_recording_names_the_problem(mutate, why):
    cols = _cols()
    mutate(cols)
    with pytest.raises(ReplayError, match=why):
        Recording(cols).check()
    with pytest.raises(ReplayError, match="fewer than 2 samples"):
        Recording(_cols(1)).check()
