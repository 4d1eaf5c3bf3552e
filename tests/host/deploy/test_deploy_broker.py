"""Provisioning and the broker's configuration, against the real Mosquitto
started with the generated files as they are: who may connect, publish and
read what; a forged message reaching the twin another way is refused."""

from __future__ import annotations

import json
import logging
import os
import stat
import time

import pytest

from labfixture import Client, Lab, cli

from platewise.host.deploy import keyring
from platewise.host.twin.service import Twin
from platewise.shared import telemetry as tm


def _status(cell: str, seq: int, state: str = "online") -> bytes:
    return tm.encode("status", cell, seq, {"state": state, "t_s": 1.0, "fw": "test"})


def test_provision_writes_the_file_contract_with_secrets_0600(tmp_path):
    d = tmp_path / "lab"
    assert cli(["provision", "A", "B", "--out", str(d)]) == 0
    out = tmp_path / "broker"
    assert cli(["broker", "config", "--from", str(d), "--port", "1883", "--out", str(out)]) == 0
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "listener 1883 127.0.0.1" in conf and "certfile" not in conf

    def secrets_of(cell):
        return json.loads((d / "boards" / cell / "secrets.json").read_text())
    for cell in ("A", "B"):
        cfg = json.loads((d / "boards" / cell / "config.json").read_text())
        assert cfg["cell_id"] == cell and cfg["secrets_path"] == "secrets.json" and cfg["mqtt_port"] == 1883
        sec = secrets_of(cell)
        assert sorted(sec) == ["cmd_key_hex", "mqtt_password", "mqtt_user"]
        assert sec["mqtt_user"] == "board-" + cell and len(bytes.fromhex(sec["cmd_key_hex"])) == 32
        assert len(sec["mqtt_password"]) == 32
        assert keyring.key_for(keyring.load(d / "host" / "keyring.json"), cell).hex() == sec["cmd_key_hex"]
    assert secrets_of("A")["cmd_key_hex"] != secrets_of("B")["cmd_key_hex"]
    assert secrets_of("A")["mqtt_password"] != secrets_of("B")["mqtt_password"]
    secret_files = [d / "boards" / "A" / "secrets.json", d / "host" / "keyring.json", d / "host" / "twin.json",
                    d / "host" / "viewer.json", d / "broker" / "passwd", out / "passwd"]  # fmt: skip
    for f in secret_files:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    passwd = (d / "broker" / "passwd").read_text().splitlines()
    assert sorted(line.split(":")[0] for line in passwd) == ["board-A", "board-B", "platewise-twin", "platewise-viewer"]
    assert all(line.split(":", 1)[1].startswith("$7$") for line in passwd)  # Mosquitto's PBKDF2-SHA512 hash
    assert secrets_of("A")["mqtt_password"] not in (d / "broker" / "passwd").read_text()
    # Provisioning again keeps what exists and adds the new cell.
    before = secrets_of("A")
    assert cli(["provision", "A", "C", "--out", str(d)]) == 0
    assert secrets_of("A") == before and (d / "boards" / "C" / "secrets.json").exists()


def test_broker_refuses_strangers_and_keeps_each_board_to_its_own_topics(tmp_path, caplog):
    lab = Lab(tmp_path, ["A", "B"])
    a, b, tw = lab.secrets("A"), lab.secrets("B"), lab.host_cred("twin")
    viewer = lab.host_cred("viewer")
    with lab:
        anon = Client(lab, None, None)
        wrong = Client(lab, "board-A", b["mqtt_password"])
        assert not anon.ok and not wrong.ok
        assert "Not authorized" in str(anon.reason) and "Not authorized" in str(wrong.reason)

        twin_c = Client(lab, tw["mqtt_user"], tw["mqtt_password"])
        view_c = Client(lab, viewer["mqtt_user"], viewer["mqtt_password"])
        board_a = Client(lab, a["mqtt_user"], a["mqtt_password"])
        board_b = Client(lab, b["mqtt_user"], b["mqtt_password"])
        assert twin_c.ok and view_c.ok and board_a.ok and board_b.ok
        twin_c.sub(tm.subscription())
        view_c.sub(tm.subscription())
        board_a.sub(tm.subscription("cmd"))  # every cell's cmd: the ACL lets only its own through
        board_b.sub(tm.topic("B", "cmd"))

        board_a.pub(tm.topic("A", "status"), _status("A", 1))
        board_a.pub(tm.topic("B", "status"), _status("B", 2))  # A speaking for B
        board_a.pub(tm.topic("A", "cmd"), b"{}")  # a board may not command, not even itself
        board_a.pub(tm.topic("A", "twin"), b"{}")
        view_c.pub(tm.topic("B", "cmd"), b"{}")  # the viewer is read-only
        twin_c.pub(tm.topic("B", "cmd"), b"cmd-for-B")
        twin_c.pub(tm.topic("A", "cmd"), b"cmd-for-A")
        time.sleep(0.5)
        seen = [t for t, _ in twin_c.msgs]
        assert seen == [tm.topic("A", "status")]  # nothing A sent on B's topics, nor any cmd, reached the twin
        assert [t for t, _ in view_c.msgs] == [tm.topic("A", "status")]
        assert board_a.msgs == [(tm.topic("A", "cmd"), b"cmd-for-A")]  # never B's
        assert board_b.msgs == [(tm.topic("B", "cmd"), b"cmd-for-B")]  # not A's nor the viewer's
        # A forged message that reaches the twin another way (topic and
        # payload cell ids differ) is refused, with the reason logged.
        twin = Twin()
        with caplog.at_level(logging.WARNING, logger="platewise.twin"):
            assert twin.handle(tm.topic("B", "status"), _status("A", 3)) is False
            assert twin.handle(*twin_c.msgs[0]) is True
        assert any("does not match topic cell B" in r.getMessage() for r in caplog.records)
        assert twin.cell("B")["rejected"] == 1 and twin.cell("A")["host_messages"] == 1
        twin.close()
        for c in (anon, wrong, twin_c, view_c, board_a, board_b):
            c.close()
        # The twin as its service runs it: its credentials file, its rotating log.
        run = ["twin", "run", "--broker", f"mqtt://127.0.0.1:{lab.port}", "--db", str(tmp_path / "t.db"), "--duration-s", "1",
               "--log-file", str(tmp_path / "twin.log"), "--credentials"]  # fmt: skip
        assert cli(run + [str(lab.dir / "host" / "twin.json")]) == 0
        assert "twin mqtt: subscribed to platewise/v1/+/+" in (tmp_path / "twin.log").read_text()
        (tmp_path / "bad.json").write_text(json.dumps({"mqtt_user": tw["mqtt_user"], "mqtt_password": "wrong"}))
        assert cli(run + [str(tmp_path / "bad.json")]) == 3  # the broker refused it


def test_bad_input_is_refused_naming_it_and_nothing_is_written(tmp_path):
    from platewise.host.deploy.brokerconf import write_config
    from platewise.host.deploy.provision import ProvisionError, promote, provision

    d = tmp_path / "lab"
    with pytest.raises(ProvisionError, match="cell id 'a/b'"):
        provision(["a/b"], d)
    with pytest.raises(ProvisionError, match="cell_id set by provisioning"):
        provision(["A"], d, base_config={"cell_id": "x"})
    with pytest.raises(ProvisionError, match="given twice"):
        provision(["A", "A"], d)
    assert not d.exists()
    with pytest.raises(ProvisionError, match="broker/passwd: missing"):
        write_config(d, tmp_path / "out", 1883)
    provision(["A"], d)
    with pytest.raises(ProvisionError, match="cell B was never provisioned"):
        provision(["B"], d, rotate=True)
    with pytest.raises(ProvisionError, match="no rotation pending for A"):
        promote(["A"], d)
    provision(["A"], d, rotate=True)
    promote(["A"], d)  # the answer was lost: by hand
    assert keyring.key_for(keyring.load(d / "host" / "keyring.json"), "A").hex() == json.loads((d / "boards" / "A" / "secrets.json").read_text())["cmd_key_hex"]
    with pytest.raises(ProvisionError, match="--tls-cert and --tls-key go together"):
        write_config(d, tmp_path / "out", 1883, tls_cert=str(d / "host" / "twin.json"))
    with pytest.raises(ProvisionError, match="--ca .*: no such file"):
        write_config(d, tmp_path / "out", 1883, ca=str(tmp_path / "nope.pem"))
    assert not (tmp_path / "out").exists()
