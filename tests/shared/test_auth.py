"""shared/auth.py: HMAC-SHA256 on hashlib (RFC 4231 vectors and CPython's hmac
as the references), the signed byte string (identical on CPython and the
MicroPython unix port, unambiguous), floats that survive a float32 board."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import struct

import pytest

from platewise.shared import auth, cmdsign

# RFC 4231 sec. 4.2-4.8: (key, data, HMAC-SHA-256). Case 5 is specified
# truncated to 128 bits; the full value is compared against hmac below.
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


def _random_vectors(n=120, seed=4231):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        klen = [0, 1, 31, 32, 63, 64, 65, 128, 200][i % 9]
        mlen = rng.randrange(0, 300)
        out.append((rng.randbytes(klen), rng.randbytes(mlen)))
    return out


def _mp_hmac(mpy, tmp_path, pairs):
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps([[k.hex(), m.hex()] for k, m in pairs]))
    code = (
        "import json, binascii\nfrom shared import auth, cmdsign\n"
        f"for k, m in json.loads(open({str(path)!r}).read()):\n"
        "    print('MAC', auth.hmac_sha256_hex(binascii.unhexlify(k), binascii.unhexlify(m)))\n"
    )
    r = mpy(code, heapsize="256K")
    assert r.returncode == 0, r.stderr
    return [ln[4:] for ln in r.stdout.splitlines() if ln.startswith("MAC ")]


def test_rfc4231_on_cpython():
    for key, data, want in RFC4231:
        ours = auth.hmac_sha256_hex(key, data)
        assert ours.startswith(want)
        assert ours == hmac.new(key, data, hashlib.sha256).hexdigest()


def test_rfc4231_on_micropython(mpy, tmp_path):
    got = _mp_hmac(mpy, tmp_path, [(k, d) for k, d, _w in RFC4231])
    assert len(got) == len(RFC4231)
    for (_k, _d, want), mac in zip(RFC4231, got):
        assert mac.startswith(want)


def test_random_vectors_match_cpython_hmac_on_both_interpreters(mpy, tmp_path):
    pairs = _random_vectors()
    want = [hmac.new(k, m, hashlib.sha256).hexdigest() for k, m in pairs]
    assert [auth.hmac_sha256_hex(k, m) for k, m in pairs] == want
    assert _mp_hmac(mpy, tmp_path, pairs) == want


COMMANDS = [
    ("cell-1", 1, "stop", {}),
    ("cell-1", 9007199254740991, "set_limits", {"charge_current_a": 0.0125, "charge_voltage_v": 3.65, "discharge_cutoff_v": 2.5}),
    ("c.2_x", 77, "pulse", {"amplitude_a": 0.005, "duration_ms": 500}),
    ("c", 3, "start", {"note": "grüße, 1:2,", "flag": True, "off": False, "neg": -1.5e-7, "big": 123456000000.0, "n": -42}),
]


def test_canonical_bytes_and_macs_identical_on_micropython(mpy, tmp_path):
    key = bytes(range(40))
    want = [(auth.canonical_command(c, n, cmd, a).hex(), cmdsign.sign_command(key, c, n, cmd, a)) for c, n, cmd, a in COMMANDS]
    path = tmp_path / "cmds.json"
    path.write_text(json.dumps(COMMANDS))
    code = (
        "import json, binascii\nfrom shared import auth, cmdsign\n"
        f"key = bytes(range(40))\nfor c, n, cmd, a in json.loads(open({str(path)!r}).read()):\n"
        "    print('CAN', binascii.hexlify(auth.canonical_command(c, n, cmd, a)).decode(), cmdsign.sign_command(key, c, n, cmd, a))\n"
    )
    r = mpy(code, heapsize="256K")
    assert r.returncode == 0, r.stderr
    got = [tuple(ln.split()[1:]) for ln in r.stdout.splitlines() if ln.startswith("CAN ")]
    assert got == want
    assert bytes.fromhex(want[1][0]) == (
        b"PWCMD1\n6:cell-1,16:9007199254740991,10:set_limits,1:3,"
        b"16:charge_current_a,7:f125e-4,16:charge_voltage_v,7:f365e-2,18:discharge_cutoff_v,6:f25e-1,"
    )


def test_canonical_is_unambiguous():
    # Commands that plain concatenation or a naive separator would merge.
    pairs = [
        (("c1", 12, "stop", {}), ("c11", 2, "stop", {})),
        (("c", 1, "start", {"a": "1,2:b"}), ("c", 1, "start", {"a": "1", "2:b": "x"})),
        (("c", 1, "start", {"a": 1}), ("c", 1, "start", {"a": "1"})),
        (("c", 1, "start", {"a": True}), ("c", 1, "start", {"a": 1})),
        (("c", 1, "start", {"a": 1}), ("c", 1, "start", {"a": 1.0})),
        (("c", 1, "start", {"ab": "c"}), ("c", 1, "start", {"a": "bc"})),
        (("c", 1, "start", {}), ("c", 1, "start", {"": ""})),
    ]
    for a, b in pairs:
        assert auth.canonical_command(*a) != auth.canonical_command(*b), (a, b)
    # Key order does not matter: the layout sorts.
    assert auth.canonical_command("c", 1, "x", {"b": 1, "a": 2}) == auth.canonical_command("c", 1, "x", {"a": 2, "b": 1})


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_on_grid_floats_sign_the_same_after_float32_parsing():
    """A board that parses JSON numbers into float32 rebuilds the same text."""
    rng = random.Random(7)
    checked = 0
    for _ in range(20000):
        mant = rng.randrange(1, 1000000)
        exp = rng.randrange(-12, 6)
        x = float(f"{mant}e{exp}")
        if not 1e-12 <= x <= 1e15:
            continue
        x = cmdsign.quantize(x)
        assert auth.canonical_float(_f32(x)) == auth.canonical_float(x), x
        checked += 1
    assert checked > 15000


def test_sign_refuses_floats_the_board_cannot_reproduce():
    key = b"k" * 32
    with pytest.raises(ValueError, match="significant digits"):
        cmdsign.sign_command(key, "c", 1, "set_limits", {"charge_current_a": 0.0123456789})
    f = cmdsign.command_fields(key, "c", 1, "set_limits", {"charge_current_a": 0.0123456789})
    assert f["args"] == {"charge_current_a": 0.0123457}
    msg = dict(f, cell="c", v=1, seq=1)
    assert auth.verify_command(key, msg)
    for bad in ({"x": [1]}, {"x": None}, {"x": float("nan")}, {"x": 1e300}, {"x": {"y": 1}}):
        with pytest.raises(ValueError, match="args.x"):
            auth.canonical_command("c", 1, "start", bad)


def test_verify_never_raises_and_rejects_tampering():
    key = b"k" * 32
    msg = dict(cmdsign.command_fields(key, "c", 5, "pulse", {"amplitude_a": 0.01, "duration_ms": 500}), cell="c")
    assert auth.verify_command(key, msg)
    assert auth.verify_command(key, dict(msg, mac=msg["mac"].upper()))
    tampered = [
        dict(msg, ctr=6),
        dict(msg, cell="d"),
        dict(msg, cmd="stop"),
        dict(msg, args={"amplitude_a": 0.02, "duration_ms": 500}),
        dict(msg, args={"amplitude_a": 0.01, "duration_ms": 500, "x": 1}),
        dict(msg, mac=msg["mac"][:-1] + ("0" if msg["mac"][-1] != "0" else "1")),
    ]
    for m in tampered:
        assert not auth.verify_command(key, m)
    assert not auth.verify_command(b"j" * 32, msg)
    for junk in ({}, {"mac": 5}, dict(msg, args=None), dict(msg, ctr="5"), dict(msg, args={"x": [1]}), None, "x"):
        assert auth.verify_command(key, junk) is False


def test_equal():
    assert auth.equal("a" * 64, "a" * 64) and auth.equal(b"\x00\xff", b"\x00\xff")
    assert not auth.equal("a" * 64, "a" * 63 + "b") and not auth.equal("a" * 64, "b" + "a" * 63)
    assert not auth.equal("abc", "ab")


def test_heap_cost_on_micropython(mpy):
    code = (
        "import gc\nimport shared.compat\ngc.collect()\na0 = gc.mem_alloc()\n"
        "from shared import auth\ngc.collect()\na1 = gc.mem_alloc()\nfrom shared import cmdsign\n"
        "key = b'k' * 32\nargs = {'charge_current_a': 0.0125, 'charge_voltage_v': 3.65}\n"
        "pads = auth.hmac_pads(key)\nmsg = {'cell': 'cell-1', 'ctr': 5, 'cmd': 'set_limits', 'args': args}\n"
        "msg['mac'] = cmdsign.sign_command(key, 'cell-1', 5, 'set_limits', args)\n"
        "gc.collect()\ngc.disable()\na2 = gc.mem_alloc()\nok = auth.verify_command(None, msg, pads)\na3 = gc.mem_alloc()\n"
        "print('HEAP', a1 - a0, a3 - a2, ok)\n"
    )
    r = mpy(code, heapsize="256K")
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("HEAP ")][0]
    imp, verify, ok = line.split()[1:]
    assert ok == "True" and int(imp) < 12000 and int(verify) < 8000, line
    print("auth import", imp, "bytes; one verify_command", verify, "bytes")
