"""Who may use the twin's HTTP API and the dashboard.

Loopback-only by default: a server bound to 127.0.0.1 / ::1 / localhost
answers whoever reaches it (only this machine's users can). Bound to any
other address it needs a token file, and every request must carry
``Authorization: Bearer <token>`` or the sign-in cookie; the answer names
the operator, so a command sent through the API can be tied to the one who
sent it.

A browser cannot put a header on a page load or an EventSource, so the
dashboard signs one in by a link: ``http://HOST:PORT/?token=<token>``
answers 303 to the same page without the token, setting the cookie
``platewise_token`` (HttpOnly: no script reads it; SameSite=Strict: no
other site's page sends it; Path=/). The token then rides on every request
of that browser as the header would, in clear text like the header: across
an untrusted network put TLS in front (a reverse proxy).

The token file (``platewise deploy token OPERATOR --file FILE`` adds one and
prints the token once) is JSON, 0600, holding hashes only:

    {"tokens": [{"operator": "alice", "sha256": "<hex of SHA-256(token)>"}]}

A token is 32 random bytes (``secrets.token_urlsafe``), so one SHA-256 is
enough to make the stored hash useless to a reader of the file (a slow
password hash protects guessable secrets, which these are not); it is
compared in constant time (``hmac.compare_digest``).

Failure behaviour: a sign-in link with an unknown token is answered 401
(no cookie). ``gate_for`` raises ``AccessError`` for a non-loopback
address without a token file, and for a token file that is missing, not
JSON, or has an entry without ``operator`` and a 64-hex ``sha256``: the
server does not start. ``Gate.operator`` never raises: a missing, malformed
or unknown token is None (the server answers 401).
"""

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import tempfile
from http.cookies import CookieError, SimpleCookie


class AccessError(ValueError):
    """str(e) names the file or address and what is wrong."""


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def load_tokens(path):
    """operator -> sha256 hex, from the token file."""
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise AccessError("token file %s: %s" % (path, e)) from None
    entries = d.get("tokens") if isinstance(d, dict) else None
    if not isinstance(entries, list):
        raise AccessError('token file %s: expected {"tokens": [...]}' % path)
    out = {}
    for i, e in enumerate(entries):
        ok = isinstance(e, dict) and isinstance(e.get("operator"), str) and e["operator"]
        h = e.get("sha256") if ok else None
        if not ok or not isinstance(h, str) or len(h) != 64 or h.strip("0123456789abcdef"):
            raise AccessError("token file %s: tokens[%d] needs operator and a 64-hex sha256" % (path, i))
        out[e["operator"]] = h
    return out


def add_token(path, operator):
    """A new token for ``operator`` (replacing its old one); returns the token."""
    tokens = load_tokens(path) if os.path.exists(path) else {}
    token = secrets.token_urlsafe(32)
    tokens[operator] = _hash(token)
    body = {"tokens": [{"operator": k, "sha256": v} for k, v in sorted(tokens.items())]}
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tokens")  # 0600
    with os.fdopen(fd, "w") as f:
        json.dump(body, f, indent=1)
    os.replace(tmp, path)
    return token


COOKIE = "platewise_token"


def cookie_token(cookie_header):
    """The sign-in cookie's token in a request's Cookie header, or None."""
    if not isinstance(cookie_header, str):
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    m = jar.get(COOKIE)
    return m.value if m is not None else None


def sign_in_cookie(token):
    """The Set-Cookie value that signs a browser in with ``token``."""
    return "%s=%s; HttpOnly; SameSite=Strict; Path=/" % (COOKIE, token)


class Gate:
    """The check one request goes through; ``tokens`` None: open (loopback)."""

    def __init__(self, tokens=None):
        self.tokens = tokens

    def operator(self, authorization, cookie=None):
        """The operator a request names by its Authorization header, or else
        by the sign-in cookie's token (``cookie_token``); "local" on an open
        gate, or None (refuse)."""
        if self.tokens is None:
            return "local"
        if isinstance(authorization, str) and authorization.startswith("Bearer "):
            return self.operator_of(authorization[len("Bearer ") :].strip())
        return self.operator_of(cookie)

    def operator_of(self, token):
        """The operator whose token this is, or None."""
        if not isinstance(token, str) or not token:
            return None
        h = _hash(token)
        found = None
        for name, want in self.tokens.items():
            if hmac.compare_digest(h, want):
                found = name
        return found


def gate_for(host, token_file=None):
    """The gate for a server bound to ``host``."""
    if token_file is None:
        if not is_loopback(host):
            raise AccessError("bound to %s (not loopback): give --token-file (platewise deploy token)" % host)
        return Gate()
    return Gate(load_tokens(token_file))
