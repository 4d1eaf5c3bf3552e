"""host/mpybuild.py: the firmware precompiled by MicroPython's own compiler,
cached by content; what it builds runs in the unix port."""

from __future__ import annotations

import os
import subprocess

import pytest

from platewise.host.mpybuild import BuildError, build, mount, sources
from platewise.host.mpybuild import micropython_env, micropython_path
from repo_paths import REPO_ROOT


def _tree(root, body="X = 41\n"):
    for pkg in ("firmware", "shared"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "firmware" / "m.py").write_text(body)
    (root / "shared" / "s.py").write_text("def f():\n    return 1\n")


def test_builds_every_module_and_the_unix_port_runs_them(tmp_path):
    _tree(tmp_path / "src")
    out = build(root=tmp_path / "src", out_root=tmp_path / "cache")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.mpy")) == [
        "firmware/__init__.mpy",
        "firmware/m.mpy",
        "shared/__init__.mpy",
        "shared/s.mpy",
    ]
    r = subprocess.run(
        [micropython_path(), "-c", "import firmware.m, shared.s; print(firmware.m.X + shared.s.f())"],
        env=micropython_env(path=out),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
    )
    assert r.returncode == 0 and r.stdout.strip() == "42", r.stderr


def test_cached_by_content(tmp_path):
    _tree(tmp_path / "src")
    a = build(root=tmp_path / "src", out_root=tmp_path / "cache")
    stamp = (a / "firmware" / "m.mpy").stat().st_mtime_ns
    assert build(root=tmp_path / "src", out_root=tmp_path / "cache") == a
    assert (a / "firmware" / "m.mpy").stat().st_mtime_ns == stamp  # not compiled again
    _tree(tmp_path / "src", "X = 1\n")
    b = build(root=tmp_path / "src", out_root=tmp_path / "cache")
    assert b != a and (b / ".complete").exists()


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    _tree(tmp_path / "src", "def broken(:\n    pass\n")
    with pytest.raises(BuildError, match=r"firmware/m\.py.*line 1"):
        build(root=tmp_path / "src", out_root=tmp_path / "cache")
    # Nothing half-built is left to be mistaken for a build.
    assert not [p for p in (tmp_path / "cache").iterdir() if (p / ".complete").exists()]


def test_old_builds_are_pruned(tmp_path):
    for k in range(11):
        _tree(tmp_path / "src", f"X = {k}\n")
        last = build(root=tmp_path / "src", out_root=tmp_path / "cache")
        os.utime(last, (1000 + k, 1000 + k))
    kept = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(kept) == 8 and last in kept


def test_the_repository_tree_is_what_is_built():
    rel = {str(p) for p in sources(REPO_ROOT)}
    assert {"firmware/main.py", "firmware/boot.py", "shared/wire.py"} <= rel
    assert not [p for p in rel if not p.startswith(("firmware/", "shared/"))]


def test_mounted_as_on_a_board_one_name_serves_file_and_traceback(tmp_path):
    # mount() links the build into a board-like root; imported from '' the
    # module's __file__ is the name embedded at build time, so the VM interns
    # one string for both (a different one would cost a name per module).
    _tree(tmp_path / "src", "def boom():\n    raise ValueError('x')\n")
    out = build(root=tmp_path / "src", out_root=tmp_path / "cache")
    root = mount(out, tmp_path / "board")
    code = (
        "import micropython, firmware.m\n"
        "print(firmware.m.__file__)\n"
        "try:\n    firmware.m.boom()\nexcept ValueError as e:\n    import sys; sys.print_exception(e)\n"
    )
    (root / "probe.py").write_text(code)
    r = subprocess.run(
        [micropython_path(), "-m", "probe"],
        env=micropython_env(path=""),
        capture_output=True,
        text=True,
        cwd=root,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "firmware/m.mpy"
    assert 'File "firmware/m.mpy", line 2, in boom' in r.stdout
    # A second mount into the same folder is a no-op; a foreign folder is refused.
    assert mount(out, root) == root
    (tmp_path / "other" / "firmware").mkdir(parents=True)
    with pytest.raises(BuildError):
        mount(out, tmp_path / "other")
