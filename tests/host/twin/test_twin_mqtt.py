"""End to end through a real Mosquitto broker started by the test on a free
loopback port: paho publisher -> broker -> TwinSubscriber -> Twin counts.

Mosquitto is required: if it is missing the test fails (it does not skip)
and says how to install it.
"""

import os
import shutil
import socket
import subprocess
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
import pytest

from platewise.host.twin.mqtt import SUBSCRIPTION, MqttLinkError, TwinSubscriber
from platewise.host.twin.service import Twin
from platewise.shared.telemetry import topic
from twinkit import cycle_fields, good, message, status_fields


def _mosquitto():
    exe = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )
    if exe is None:
        pytest.fail("mosquitto not found: install it with `apt-get install mosquitto` (the MQTT tests need a real broker)")
    return exe


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_broker(tmp_path, extra=""):
    exe = _mosquitto()
    for attempt in range(5):  # the free port can be taken between probe and bind
        port = _free_port()
        conf = tmp_path / ("mosquitto-%d.conf" % attempt)
        conf.write_text("listener %d 127.0.0.1\npersistence false\n%s" % (port, extra))
        log = open(tmp_path / ("mosquitto-%d.log" % attempt), "w")
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc, port, log
            except OSError:
                time.sleep(0.02)
        proc.kill()
        proc.wait()
        log.close()
    pytest.fail("mosquitto did not start; see %s" % (tmp_path / "mosquitto-4.log"))


def _stop_broker(proc, log):
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture
def broker(tmp_path):
    proc, port, log = _start_broker(tmp_path, "allow_anonymous true\n")
    yield port
    _stop_broker(proc, log)


@pytest.fixture
def closed_broker(tmp_path):
    # No password file and no anonymous access: every CONNECT is refused.
    proc, port, log = _start_broker(tmp_path, "allow_anonymous false\n")
    yield port
    _stop_broker(proc, log)


def _publisher(port):
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-pub")
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def _wait(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_messages_flow_from_broker_into_twin_counts(broker):
    pub = _publisher(broker)
    try:
        # A stale retained status from an "earlier run", before the twin exists.
        pub.publish(*message("status", "c1", 999, status_fields(boot=1)), qos=1, retain=True).wait_for_publish(5)

        twin = Twin()
        sub = TwinSubscriber(twin, "127.0.0.1", broker, client_id="twin-under-test")
        sub.start(timeout_s=5.0)
        try:
            assert _wait(lambda: twin.handled >= 1), "retained status never arrived"
            infos = [pub.publish(*good(s), qos=1) for s in range(40)]
            infos.append(pub.publish(*good(10), qos=1))  # duplicate
            infos.append(pub.publish(topic("c1", "telemetry"), b'{"v": 1, "cell": "c1"', qos=1))  # truncated
            infos.append(pub.publish(*message("cycle", "c1", 40, cycle_fields(1, 0.02, 0.0199)), qos=1))
            infos.append(pub.publish(*good(42), qos=1))  # 41 never sent
            for info in infos:
                info.wait_for_publish(5)
            assert _wait(lambda: twin.handled == 1 + len(infos)), "twin saw %d of %d" % (twin.handled, 1 + len(infos))
        finally:
            sub.stop()
        (c,) = twin.summary()["cells"]
        assert (c["cell_id"], c["received"], c["duplicates"], c["rejected"], c["retained"], c["gaps"]) == ("c1", 42, 1, 1, 1, 1)
        assert c["cycles"] == 1 and c["inventory_est_ah"] == pytest.approx(0.0199 + 0.0025 * 0.02, abs=2e-6)  # + the charge residue bias; cycle 1 is a loose observation
        assert twin.store.count_messages("c1") == 42 and twin.store.count_messages("c1", retained=True) == 1
        assert twin.cell("c1")["status"]["boot"] == 1 and twin.cell("c1")["status_retained"] is True
        assert sub.callback_errors == 0 and sub.connects == 1
        assert twin.store.pending == 0  # stop() flushed
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_subscription_is_every_cell_every_kind():
    assert SUBSCRIPTION == "platewise/v1/+/+"


def test_start_fails_clearly_when_nothing_listens():
    port = _free_port()
    sub = TwinSubscriber(Twin(), "127.0.0.1", port)
    t0 = time.monotonic()
    with pytest.raises(MqttLinkError, match="cannot connect to MQTT broker 127.0.0.1:%d" % port):
        sub.start(timeout_s=2.0)
    assert time.monotonic() - t0 < 2.0


def test_start_fails_clearly_when_the_broker_refuses(closed_broker):
    sub = TwinSubscriber(Twin(), "127.0.0.1", closed_broker, username="nobody", password="wrong")
    with pytest.raises(MqttLinkError, match="refused the connection"):
        sub.start(timeout_s=5.0)


def test_start_times_out_when_the_peer_never_answers():
    # A socket that accepts but never speaks MQTT: no CONNACK, no SUBACK.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        sub = TwinSubscriber(Twin(), "127.0.0.1", port)
        with pytest.raises(MqttLinkError, match="no SUBACK .* within 0.5 s"):
            sub.start(timeout_s=0.5)


def test_bad_port_fails_at_construction():
    with pytest.raises(ValueError, match="port"):
        TwinSubscriber(Twin(), "127.0.0.1", 0)
