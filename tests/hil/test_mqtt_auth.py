"""MQTT credentials from the secrets file, against a Mosquitto that refuses
anonymous clients: right credentials deliver everything; wrong ones are
refused by the broker and nothing is lost on the board (it keeps queueing
and says why it cannot connect)."""

from __future__ import annotations

import json

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard
from platewise.host.broker import MosquittoBroker
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin


def _run(tmp_path, broker, secrets, max_run_s):
    (tmp_path / "secrets.json").write_text(json.dumps(secrets))
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=2)
    cfg = firmware_config(
        cell, "auth-1", broker.host, broker.port, 1, secrets_path=str(tmp_path / "secrets.json"), max_run_s=max_run_s,
        flush_timeout_s=3,
    )
    vb = VirtualBoard(cell, Sensors(params, seed=2), cfg)
    vb.start()
    assert vb.wait(timeout_s=180) == 0, vb.stderr[-2000:]
    return vb.summary


def test_credentials_from_secrets_file(tmp_path, wait_received):
    with MosquittoBroker(users={"board-1": "s3cret", "twin": "tw1n"}) as broker:
        twin = Twin()
        sub = TwinSubscriber(twin, broker.host, broker.port, client_id="auth-twin", username="twin", password="tw1n")
        sub.start()
        try:
            fw = _run(tmp_path, broker, {"mqtt_user": "board-1", "mqtt_password": "s3cret"}, 2000)
            assert fw["connects"] == 1 and fw["published"] == fw["data_messages"] > 150
            c = wait_received(twin, "auth-1", fw["published"])
            assert c["received"] == fw["published"] and c["gaps"] == 0
        finally:
            sub.stop()
            twin.close()


def test_wrong_password_is_refused_and_nothing_is_dropped(tmp_path):
    with MosquittoBroker(users={"board-1": "s3cret"}) as broker:
        fw = _run(tmp_path, broker, {"mqtt_user": "board-1", "mqtt_password": "wrong"}, 600)
    assert fw["connects"] == 0 and fw["published"] == 0
    assert "connack refused" in fw["last_error"]
    # Everything it produced is still queued (RAM and flash spill), none dropped.
    assert fw["backlog"] == fw["data_messages"] + 1  # + the offline status
    assert fw["dropped_samples"] == 0 and fw["dropped_priority"] == 0
