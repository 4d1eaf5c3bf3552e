"""A provisioned lab for the deployment tests: the folder of ``platewise
provision`` and the broker files of ``platewise broker config`` (their
functions; the CLI itself is run as a process by the tests that test it),
then the real Mosquitto started with the generated configuration as is,
and paho clients logged in as its users."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from platewise.host.broker import free_port, mosquitto_path, wait_listening
from platewise.host.deploy.brokerconf import write_config
from platewise.host.deploy.provision import provision


def cli(argv: list[str]) -> int:
    """``platewise ARGV`` in a process of its own (tests never import the CLI); its output passes through."""
    return run_cli(argv)[0]


def run_cli(argv: list[str], seen: list[str] | None = None) -> tuple[int, str]:
    """(exit code, stdout) of ``platewise ARGV``; stderr passes through, and
    with ``seen`` both streams are also appended to it (for a grep)."""
    r = subprocess.run([sys.executable, "-m", "platewise", *argv], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE if seen is not None else None, text=True, timeout=120)  # fmt: skip
    print(r.stdout, end="")
    if seen is not None:
        print(r.stderr, end="", file=sys.stderr)
        seen.append(r.stdout + r.stderr)
    return r.returncode, r.stdout


def openssl_ca(d: Path, name: str) -> tuple[Path, Path]:
    """A CA: (its certificate, PEM; its key)."""
    key, pem = d / f"{name}.key", d / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(pem), "-days", "2", "-subj", f"/CN={name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return pem, key


def openssl_server(d: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """The broker's certificate for localhost/127.0.0.1, signed by ``ca``: (PEM, key)."""
    key, csr, pem, ext = d / "broker.key", d / "broker.csr", d / "broker.pem", d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
         "-out", str(pem), "-days", "2", "-extfile", str(ext)],
        check=True, capture_output=True,
    )  # fmt: skip
    return pem, key


def der(pem: Path) -> Path:
    out = pem.with_suffix(".der")
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "der", "-out", str(out)], check=True)
    return out


class Lab:
    """DIR provisioned for ``cells``, OUT the broker's config, the broker running."""

    def __init__(self, tmp: Path, cells: list[str], tls: bool = False, base_config: dict | None = None, data_dir: Path | None = None):
        self.dir = tmp / "lab"
        self.out = tmp / "broker"
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.data_dir = data_dir
        # The name in the broker's certificate (the board checks it; 127.0.0.1 on a plain lab).
        self.tls = tls
        ca_der = None
        if tls:
            self.ca = openssl_ca(tmp, "lab-ca")
            self.cert = openssl_server(tmp, self.ca)
            self.ca_der = ca_der = der(self.ca[0])
        # The name in the broker's certificate (the board checks it; 127.0.0.1 on a plain lab).
        host = "localhost" if tls else "127.0.0.1"
        provision(cells, self.dir, base_config=base_config, broker_host=host, broker_port=self.tls_port or self.port, ca_der=str(ca_der) if ca_der else None)
        self.configure()
        self.proc: subprocess.Popen | None = None

    def configure(self) -> None:
        """The broker's files from the folder as it is now (again after a rotation)."""
        tls = {}
        if self.tls:
            tls = dict(tls_cert=str(self.cert[0]), tls_key=str(self.cert[1]), ca=str(self.ca[0]), tls_port=self.tls_port, bind="127.0.0.1")
        write_config(self.dir, self.out, self.port, run_as="root", data_dir=str(self.data_dir) if self.data_dir else None, **tls)

    def secrets(self, cell: str) -> dict:
        return json.loads((self.dir / "boards" / cell / "secrets.json").read_text())

    def host_cred(self, name: str) -> dict:
        return json.loads((self.dir / "host" / f"{name}.json").read_text())

    def start(self) -> "Lab":
        self.log = open(self.out / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([mosquitto_path(), "-c", str(self.out / "mosquitto.conf")], stdout=self.log, stderr=self.log)
        wait_listening("127.0.0.1", self.port, 10)
        return self

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password file and ACL."""
        assert self.proc is not None
        self.proc.send_signal(1)
        time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None
            self.log.close()

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Client:
    """A paho client logged in as a user; ``connect`` returns the CONNACK reason."""

    def __init__(self, lab: Lab, user: str | None, password: str | None):
        self.msgs: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.connack = threading.Event()
        self.subacks: list[list[int]] = []
        self.reason = None
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}", protocol=mqtt.MQTTv311)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self._keep(m.topic, m.payload)
        self.c.on_subscribe = lambda c, u, mid, rc, p: self.subacks.append([int(r.value) for r in rc])
        self.c.connect("127.0.0.1", lab.port)
        self.c.loop_start()
        assert self.connack.wait(5)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        self.connack.set()

    def _keep(self, topic, payload):
        with self.lock:
            self.msgs.append((topic, payload))

    @property
    def ok(self) -> bool:
        return not self.reason.is_failure

    def sub(self, topic: str) -> None:
        n = len(self.subacks)
        self.c.subscribe(topic, qos=1)
        deadline = time.monotonic() + 5
        while len(self.subacks) == n and time.monotonic() < deadline:
            time.sleep(0.01)

    def pub(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()
