"""TLS to the broker: the firmware (MicroPython's TLS, non-blocking) verifies
the broker's certificate against its CA and delivers everything; against a
certificate its CA did not sign it refuses the link and keeps every message."""

from __future__ import annotations

import subprocess

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard
from platewise.host.broker import MosquittoBroker
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin


def _self_signed(d, name):
    key, pem, der = d / f"{name}.key", d / f"{name}.pem", d / f"{name}.der"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(pem), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "der", "-out", str(der)], check=True)
    return pem, key, der


def _board(broker, ca_der, max_run_s):
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=4)
    cfg = firmware_config(
        cell, "tls-1", broker.host, broker.tls_port, 1,
        mqtt_tls=1, mqtt_ca_path=str(ca_der), mqtt_server_hostname="localhost",
        max_run_s=max_run_s, flush_timeout_s=3,
    )  # fmt: skip
    vb = VirtualBoard(cell, Sensors(params, seed=4), cfg)
    vb.start()
    assert vb.wait(timeout_s=180) == 0, vb.stdout[-1000:] + vb.stderr[-2000:]
    return vb.summary


def test_tls_link_verifies_the_broker_and_delivers_everything(tmp_path, wait_received):
    pem, key, der = _self_signed(tmp_path, "broker")
    with MosquittoBroker(tls=(str(pem), str(key))) as broker:
        twin = Twin()
        sub = TwinSubscriber(twin, broker.host, broker.port, client_id="tls-twin")  # plain listener
        sub.start()
        try:
            fw = _board(broker, der, 2000)
            assert fw["connects"] == 1 and fw["published"] == fw["data_messages"] > 150
            c = wait_received(twin, "tls-1", fw["published"])
            assert c["received"] == fw["published"] and c["gaps"] == 0
        finally:
            sub.stop()
            twin.close()


def test_tls_refuses_a_broker_its_ca_did_not_sign(tmp_path):
    pem, key, _der = _self_signed(tmp_path, "broker")
    _pem2, _key2, other_der = _self_signed(tmp_path, "impostor-ca")
    with MosquittoBroker(tls=(str(pem), str(key))) as broker:
        fw = _board(broker, other_der, 600)
    assert fw["connects"] == 0 and fw["published"] == 0
    assert fw["last_error"].startswith("tls error:") and "not correctly signed" in fw["last_error"]
    assert fw["backlog"] == fw["data_messages"] + 1 and fw["dropped_samples"] == 0  # all kept for later
