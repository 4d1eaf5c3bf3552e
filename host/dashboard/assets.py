"""The dashboard's static files, read from the installed package with
importlib.resources (no CDN, no build step).

    /                 the fleet page  } static/index.html, one shell: page.js puts in the
    /cells/<id>       the cell page   } route's template and scripts (the cell id is in the URL)
    /static/<name>    a file of static/ (our JS and CSS, vendor/ the pinned uPlot)

``vendored()`` checks the vendored files against ``static/vendor/MANIFEST.json``
(version, licence, sha256 of each file).

Failure behaviour: a path outside these (or with ``..``, or naming a
folder) gives None, which the server answers 404; a vendored file whose
checksum differs raises ``AssetError`` naming the file and both digests.
"""

import hashlib
import json
import re
from importlib import resources

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml"}
_CELL_PAGE = re.compile(r"^/cells/[A-Za-z0-9_.-]{1,32}$")
_STATIC = re.compile(r"^/static/((?:[A-Za-z0-9_-]+/)?[A-Za-z0-9_.-]+)$")


class AssetError(RuntimeError):
    pass


def _root():
    return resources.files("platewise.host.dashboard").joinpath("static")


def read(name):
    """The bytes of static/<name>, None if there is no such file."""
    if ".." in name:
        return None
    f = _root().joinpath(*name.split("/"))
    return f.read_bytes() if f.is_file() else None


def asset(path):
    """(body, content type) for a dashboard path, None if it is not one."""
    if path == "/favicon.ico":
        path = "/static/favicon.svg"
    if path in ("/", "/index.html") or _CELL_PAGE.match(path):
        name = "index.html"
    else:
        m = _STATIC.match(path)
        if not m:
            return None
        name = m.group(1)
    body = read(name)
    if body is None:
        return None
    ext = name[name.rfind("."):] if "." in name else ""
    return body, TYPES.get(ext, "application/octet-stream")


def vendored():
    """The vendor manifest, after checking every listed file's sha256."""
    manifest = json.loads(read("vendor/MANIFEST.json"))
    for lib, entry in manifest.items():
        for fname, want in entry["files"].items():
            body = read("vendor/" + fname)
            if body is None:
                raise AssetError("%s: vendored file vendor/%s is missing" % (lib, fname))
            got = hashlib.sha256(body).hexdigest()
            if got != want:
                raise AssetError("%s: vendor/%s has sha256 %s, the manifest says %s" % (lib, fname, got, want))
    return manifest
