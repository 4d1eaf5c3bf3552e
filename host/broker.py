"""MQTT brokers for the demo and the tests.

- ``EmbeddedBroker``: amqtt (pure Python, MQTT 3.1.1) in a background thread;
  the zero-install default of ``platewise demo``.
- ``MosquittoBroker``: a private Mosquitto process on a free loopback port
  with a generated config (never the system service); used by tests and by
  ``--broker mosquitto``.
- ``parse_broker_url``: ``mqtt://host:port`` for a broker someone else runs.

Failure behaviour: a broker that does not accept connections within its
start timeout raises ``BrokerError`` with what was tried; ``stop()`` is
safe to call twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from urllib.parse import urlparse


class BrokerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"no MQTT broker accepting connections on {host}:{port} after {timeout_s:.0f} s")


def parse_broker_url(url: str) -> tuple[str, int]:
    u = urlparse(url if "://" in url else "mqtt://" + url)
    if u.scheme not in ("mqtt", "tcp"):
        raise BrokerError(f"broker URL scheme must be mqtt://, got {url!r}")
    if not u.hostname:
        raise BrokerError(f"broker URL has no host: {url!r}")
    return u.hostname, u.port or 1883


class EmbeddedBroker:
    """amqtt broker on 127.0.0.1:<free port>, run in its own thread and event loop."""

    kind = "embedded (amqtt)"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port or free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker = None
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 10.0) -> "EmbeddedBroker":
        from amqtt.broker import Broker

        # amqtt logs every connection at INFO; the demo has its own progress.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0}},
            "timeout_disconnect_delay": 0,
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        ready = threading.Event()

        def runner() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._broker = Broker(config, loop=loop)
                loop.run_until_complete(self._broker.start())
            except BaseException as e:  # reported to start()
                self._error = e
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=runner, name="amqtt-broker", daemon=True)
        self._thread.start()
        ready.wait(timeout_s)
        if self._error is not None:
            raise BrokerError(f"embedded broker failed to start: {self._error}")
        if not ready.is_set():
            raise BrokerError(f"embedded broker did not start within {timeout_s:.0f} s")
        return self

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        fut = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            fut.result(timeout=10)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def mosquitto_path() -> str | None:
    for p in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if p and os.path.exists(p):
            return p
    return None


class MosquittoBroker:
    """A private Mosquitto on 127.0.0.1:<free port>.

    Persistence is off unless ``data_dir`` is given; with it, a stopped and
    restarted broker (same port, same folder) keeps its sessions, queued
    messages and retained messages, as a production broker would.
    """

    kind = "mosquitto"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        data_dir: str | None = None,
        users: dict[str, str] | None = None,
        tls: tuple[str, str] | None = None,
    ):
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = data_dir
        self.users = users  # user -> password; set: anonymous clients are refused
        # (certfile, keyfile) PEM: a second listener on tls_port speaks TLS.
        self.tls = tls
        self.tls_port = free_port(host) if tls else None
        self._proc: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    def start(self, timeout_s: float = 10.0) -> "MosquittoBroker":
        exe = mosquitto_path()
        if exe is None:
            raise BrokerError("mosquitto not found: install it (apt-get install mosquitto)")
        self._dir = tempfile.TemporaryDirectory(prefix="platewise-mosquitto-")
        conf = os.path.join(self._dir.name, "mosquitto.conf")
        if self.data_dir:
            persistence = f"persistence true\npersistence_location {self.data_dir.rstrip('/')}/\n"
        else:
            persistence = "persistence false\n"
        # Started as root, Mosquitto drops to user "mosquitto", which cannot
        # write our persistence folder: stay the user who started it.
        user = pwd.getpwuid(os.geteuid()).pw_name
        auth = "allow_anonymous true\n"
        if self.users:
            pwfile = os.path.join(self._dir.name, "passwd")
            open(pwfile, "w").close()
            for name, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", pwfile, name, password], check=True, capture_output=True)
            os.chmod(pwfile, 0o600)
            auth = f"allow_anonymous false\npassword_file {pwfile}\n"
        tls_listener = ""
        if self.tls:
            tls_listener = f"listener {self.tls_port} {self.host}\ncertfile {self.tls[0]}\nkeyfile {self.tls[1]}\n"
        with open(conf, "w") as f:
            f.write(
                "per_listener_settings false\n"
                f"user {user}\n"
                f"listener {self.port} {self.host}\n"
                f"{tls_listener}"
                f"{auth}"
                f"{persistence}"
                "max_queued_messages 100000\n"
                "log_dest stderr\n"
                "log_type error\n"
                "log_type warning\n"
            )
        self._proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(self.host, self.port, timeout_s)
        except BrokerError:
            self.stop()
            raise
        return self

    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
