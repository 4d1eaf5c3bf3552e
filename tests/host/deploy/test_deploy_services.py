"""Running for months: the API's access gate off loopback, the systemd
units (checked by systemd-analyze), the rotating log, and the database
backup taken while the twin writes."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from labfixture import cli, run_cli

from platewise.host.deploy import logsetup
from platewise.host.twin import access
from platewise.host.twin.backup import BackupError, backup
from platewise.host.twin.http import serve_in_thread
from platewise.host.twin.service import Twin
from platewise.shared import telemetry as tm


def _get(url, token=None, cookie=None):
    """(status, JSON body); the token as the Authorization header, the cookie as the sign-in cookie."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["Cookie"] = f"{access.COOKIE}={cookie}"
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _no_redirect(url):
    """(status, headers) of a GET, a redirect not followed."""

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    try:
        with urllib.request.build_opener(_Stay).open(url, timeout=5) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def _event(cell, seq):
    return tm.encode("event", cell, seq, {"t_s": float(seq), "event": "info", "code": "X", "msg": "m" * 200})


def test_api_off_loopback_requires_a_token_and_names_the_operator(tmp_path):
    db = tmp_path / "twin.db"
    twin = Twin(db_path=str(db))
    twin.handle(tm.topic("c1", "event"), _event("c1", 1))
    twin.close()
    with pytest.raises(access.AccessError, match="not loopback"):
        serve_in_thread(str(db), host="0.0.0.0")
    tokens = tmp_path / "tokens.json"
    code, out = run_cli(["deploy", "token", "alice", "--file", str(tokens)])
    alice = json.loads(out)["token"]
    bob = access.add_token(str(tokens), "bob")
    stored = tokens.read_text()
    assert alice not in stored and bob not in stored and stat.S_IMODE(os.stat(tokens).st_mode) == 0o600
    assert access.gate_for("0.0.0.0", str(tokens)).operator("Bearer " + bob) == "bob"
    server, _t = serve_in_thread(str(db), host="0.0.0.0", token_file=str(tokens))  # every address
    url = f"http://127.0.0.1:{server.server_port}/api/cells"
    try:
        assert _get(url)[0] == 401
        assert _get(url, "not-" + alice)[0] == 401
        status, body = _get(url, alice)
        assert status == 200 and body["cells"][0]["cell_id"] == "c1"
        # A browser signs in by a link: 303 to the page without the token, the
        # token in an HttpOnly cookie that then passes the gate as the header does.
        base = f"http://127.0.0.1:{server.server_port}"
        status, headers = _no_redirect(base + "/cells/c1?token=" + alice + "&kind=event")
        assert status == 303 and headers["Location"] == "/cells/c1?kind=event", headers
        assert headers["Set-Cookie"] == f"{access.COOKIE}={alice}; HttpOnly; SameSite=Strict; Path=/"
        assert _no_redirect(base + "/?token=not-" + alice)[0] == 401
        assert _get(url, cookie=alice)[0] == 200 and _get(url, cookie="not-" + alice)[0] == 401
        assert access.gate_for("0.0.0.0", str(tokens)).operator(None, bob) == "bob"
    finally:
        server.shutdown()
        server.server_close()
    server, _t = serve_in_thread(str(db))  # loopback: open
    try:
        assert _get(f"http://127.0.0.1:{server.server_port}/api/cells")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_units_pass_systemd_analyze_and_refuse_an_open_api(tmp_path):
    out = tmp_path / "units"
    exe = tmp_path / "platewise"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    argv = ["deploy", "units", "--out", str(out), "--exe", str(exe), "--user", "root", "--lab", "/etc/platewise"]
    assert cli(argv + ["--api-host", "0.0.0.0"]) == 2  # off loopback without a token file
    assert not out.exists()
    assert cli(argv + ["--api-host", "0.0.0.0", "--token-file", "/etc/platewise/tokens.json"]) == 0
    twin = (out / "platewise-twin.service").read_text()
    assert "--credentials /etc/platewise/host/twin.json" in twin and "--log-file /var/log/platewise/twin.log" in twin
    dash = (out / "platewise-dashboard.service").read_text()
    assert "--host 0.0.0.0" in dash and "--token-file /etc/platewise/tokens.json" in dash
    assert "--keyring" not in dash  # read-only unless asked
    assert cli(argv + ["--api-host", "0.0.0.0", "--token-file", "/etc/platewise/tokens.json", "--dashboard-commands"]) == 0
    dash = (out / "platewise-dashboard.service").read_text()
    assert ("--keyring /etc/platewise/host/keyring.json --cmd-broker mqtt://127.0.0.1:1883"
            " --credentials /etc/platewise/host/twin.json") in dash  # fmt: skip
    files = sorted(str(p) for p in out.iterdir())
    assert len(files) == 4
    r = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True, text=True)
    # verify also warns about the host's own units; ours must be clean.
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "platewise-" in line]
    assert ours == [], ours


def test_rotating_log(tmp_path):
    log = logging.getLogger("platewise.test-rotation")
    h = logsetup.configure(str(tmp_path / "twin.log"), max_bytes=2000, backups=2)
    try:
        for i in range(200):
            log.info("line %d %s", i, "x" * 40)
    finally:
        logging.getLogger().removeHandler(h)
        h.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["twin.log", "twin.log.1", "twin.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "line 199" in (tmp_path / "twin.log").read_text()


def test_backup_is_consistent_while_the_twin_writes(tmp_path):
    db = tmp_path / "twin.db"
    twin = Twin(db_path=str(db))
    twin.handle(tm.topic("c1", "event"), _event("c1", 1))
    twin.flush()
    stop = threading.Event()

    def writer():
        seq = 1
        while not stop.is_set():
            for _ in range(20):
                seq += 1
                twin.handle(tm.topic("c1", "event"), _event("c1", seq))
            twin.flush()  # a commit every 20 messages
            time.sleep(0.005)  # let the backups have the interpreter too

    t = threading.Thread(target=writer)
    t.start()
    counts = []
    try:
        for k in range(8):
            out = tmp_path / f"b{k}.db"
            if k == 0:
                assert cli(["twin", "backup", "--db", str(db), "--out", str(out)]) == 0
            else:
                assert backup(str(db), str(out)) > 0  # what the command runs, without a process each
            with sqlite3.connect(out) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                seqs = [r[0] for r in conn.execute("SELECT seq FROM messages WHERE cell_id = 'c1' ORDER BY seq")]
            # One commit's state: the seqs are 1..n with nothing missing, n at a commit.
            assert seqs == list(range(1, len(seqs) + 1)) and (len(seqs) - 1) % 20 == 0
            counts.append(len(seqs))
    finally:
        stop.set()
        t.join()
        twin.close()
    assert counts[-1] > counts[0] > 0  # taken while the writes went on
    restored = Twin(db_path=str(tmp_path / "b7.db"))  # the twin restarts from a backup
    assert restored.cell("c1")["received"] == counts[-1] and restored.cell("c1")["gaps"] == 0
    restored.close()
    with pytest.raises(BackupError, match="no database file"):
        backup(str(tmp_path / "none.db"), str(tmp_path / "x.db"))
