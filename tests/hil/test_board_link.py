"""The virtual board's link to the firmware (hil/boardlink.py through
hil/virtual_board.py): how it fails. Running over it is every HIL test's
business (and tests/hil/test_bench_hil.py runs both links)."""

from __future__ import annotations

import tempfile

import pytest

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import HilError, VirtualBoard


def _board(**kw) -> VirtualBoard:
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=0)
    return VirtualBoard(cell, Sensors(params, seed=0), firmware_config(cell, "link-1", "127.0.0.1", 1, 1), **kw)


@pytest.mark.parametrize("transport", ["fifo", "tcp"])
def test_a_firmware_that_never_opens_the_link_is_named(tmp_path, transport):
    # An empty board folder: `micropython -m main` finds no main and exits.
    vb = _board(flash_dir=tmp_path, transport=transport, connect_timeout_s=10)
    with pytest.raises(HilError, match=r"link-1: firmware did not connect \(exit 1\).*main"):
        vb.start()
    assert not vb.running()


def test_a_temporary_folder_with_whitespace_is_refused(tmp_path, monkeypatch):
    spaced = tmp_path / "a b"
    spaced.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spaced))
    vb = _board()
    with pytest.raises(HilError, match=r"link-1: temporary folder '.*a b.*' has whitespace; set TMPDIR or use transport='tcp'"):
        vb.start()
    assert vb._proc is None  # refused before the firmware started


def test_an_unknown_transport_is_refused():
    with pytest.raises(ValueError, match=r"transport 'udp': must be one of fifo, tcp"):
        _board(transport="udp")
