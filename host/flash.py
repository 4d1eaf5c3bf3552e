"""`platewise flash`: put the firmware, precompiled, and its files on a board
with mpremote.

    platewise flash DEVICE [--config FILE] [--secrets FILE]
                           [--board-config FILE --board rp2|esp32] [--pil] [--no-reset] [--dry-run]

What goes on the board's filesystem (its root):
- ``firmware/`` and ``shared/`` as ``.mpy`` bytecode (host/mpybuild.py), so
  the board never compiles at boot (docs/firmware.md, "Heap");
- ``/main.py``, a two-line stub that runs ``firmware.main.main()`` (a board
  runs ``/main.py`` as source at boot; the firmware's own entry is bytecode);
- the given ``config.json``, ``secrets.json`` and ``board.json`` (a file
  not given is left as it is on the board: new firmware keeps its config).

``--pil`` (processor in the loop): the /main.py stub runs the firmware with
the emulated board over the USB serial line (firmware/boards/pil.py)
instead of the board's own sensors and actuators, for ``platewise hil run
--device DEVICE``, which flashes each scenario's config this way itself;
its state folder ``pil-state`` is emptied, so a run starts as a new board.

Before anything is written, each given file is validated by the firmware's
own code, in the MicroPython unix port: ``config.json`` by
``firmware.config.load`` (the error names the field), ``board.json`` by
``firmware.boards.board_config`` for the named board. A file that fails
stops the flash with exit code 2 and the board is not touched.

On the board, in two mpremote sessions (``resume``: no soft reset on
connect, so nothing starts the old firmware in between):
1. hold: mpremote's Ctrl-C stops the running firmware (it opens the
   contactor on the way out), ``/platewise.hold`` is written and the board
   is reset. The firmware's hardware watchdog, once started, cannot be
   stopped and would reset the board in the middle of the copy; after this
   reset the firmware sees the hold file and does not start, so no
   watchdog runs (firmware/main.py, ``HOLD_FILE``).
2. copy: the old ``/firmware`` and ``/shared`` are removed (a stale ``.py``
   would shadow the new ``.mpy``: MicroPython prefers source), the new
   files are copied, the hold file is removed and the board is reset into
   the new firmware.
``--no-reset`` skips both resets (a board without a running watchdog, or
one you reset yourself); the hold file is still removed at the end.

Exit codes: 0 flashed; 2 a file failed validation (nothing written); 5
mpremote failed (its message is printed; what was copied so far is on the
board, which stays on hold if the copy did not finish: flash again).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from platewise.host.mpybuild import build
from platewise.host.mpybuild import micropython_env, micropython_path

MAIN_STUB = "# Platewise: the firmware is bytecode in /firmware (platewise flash).\nimport firmware.main\nfirmware.main.main()\n"
PIL_STUB = (
    "# Platewise, processor in the loop (platewise flash --pil): the cell is emulated\n"
    "# by the host over this serial line (platewise hil run --device).\n"
    "import firmware.main\nimport firmware.boards.pil\nfirmware.main.main(firmware.boards.pil.make_board)\n"
)
PIL_STATE_DIR = "pil-state"  # the persist_dir of a processor-in-the-loop run, emptied by each --pil flash
EXIT_OK, EXIT_INVALID, EXIT_MPREMOTE = 0, 2, 5

# Run on the board before copying: remove the old trees, whatever they hold.
_CLEAN = """
import os
def _rm(p):
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:
        for name in os.listdir(p):
            _rm(p + '/' + name)
        os.rmdir(p)
    else:
        os.remove(p)
for _p in ('firmware', 'shared'):
    _rm(_p)
"""
_CLEAN_PIL = "_rm(%r)\nos.mkdir(%r)\n" % (PIL_STATE_DIR, PIL_STATE_DIR)


class FlashError(RuntimeError):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code


def _validate(tree: Path, code: str, what: str) -> None:
    """Run ``code`` in the unix port on the compiled tree; it prints OK or the reason."""
    r = subprocess.run(
        [micropython_path(), "-X", "heapsize=256K", "-c", code],
        env=micropython_env(path=tree),
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = (r.stdout + r.stderr).strip().splitlines()
    if r.returncode != 0 or not out or out[-1] != "OK":
        raise FlashError(EXIT_INVALID, f"{what}: {out[-1] if out else 'validation did not run'}")


def validate_files(tree: Path, config: str | None, board_config: str | None, board: str | None) -> None:
    if config:
        _validate(
            tree,
            "from firmware import config\n"
            "try:\n"
            f"    config.load({str(Path(config).resolve())!r})\n"
            "    print('OK')\n"
            "except config.ConfigError as e:\n"
            "    print(e)\n",
            config,
        )
    if board_config:
        if board not in ("rp2", "esp32"):
            raise FlashError(EXIT_INVALID, "--board rp2|esp32 is needed to check a board config")
        _validate(
            tree,
            "from firmware.boards import board_config as bc\n"
            "try:\n"
            f"    bc.load({str(Path(board_config).resolve())!r}, {board!r})\n"
            "    print('OK')\n"
            "except (bc.BoardConfigError, ValueError) as e:\n"
            "    print(e)\n",
            board_config,
        )


# HOLD_FILE of firmware/main.py (hil does not import firmware; a test ties them).
_HOLD = "open('platewise.hold', 'w').close()"
_UNHOLD = "import os\nos.remove('platewise.hold')"
RECONNECT_TRIES = 10  # after the hold reset, the board's USB serial comes back within seconds
RECONNECT_WAIT_S = 1.0


def mpremote_plan(device: str, tree: Path, files: dict[str, str], stub: Path, reset: bool, pil: bool = False) -> list[list[str]]:
    """The mpremote invocations that flash, in order (commands chained with ``+``)."""
    mp = [sys.executable, "-m", "mpremote", "connect", device, "resume"]
    plan = []
    clean = _CLEAN + (_CLEAN_PIL if pil else "")
    if reset:
        plan.append([*mp, "exec", _HOLD, "+", "reset"])
        argv = [*mp, "exec", clean]
    else:
        argv = [*mp, "exec", _HOLD + "\n" + clean]
    # Folder by folder, files listed (not ``cp -r``: mpremote 1.29 copies a
    # folder without subfolders to a new destination as if it were a file).
    folders: dict[str, list[str]] = {}
    for p in sorted(tree.rglob("*.mpy")):
        folders.setdefault(p.parent.relative_to(tree).as_posix(), []).append(str(p))
    for folder in sorted(folders):  # parents before children
        argv += ["+", "fs", "mkdir", ":" + folder, "+", "fs", "cp", *folders[folder], ":" + folder + "/"]
    argv += ["+", "fs", "cp", str(stub), ":main.py"]
    for dest, src in files.items():
        argv += ["+", "fs", "cp", src, ":" + dest]
    argv += ["+", "exec", _UNHOLD]
    if reset:
        argv += ["+", "reset"]
    plan.append(argv)
    return plan


def _run_mpremote(argv: list[str], retries: int = 1) -> None:
    why = ""
    for k in range(retries):
        if k:
            time.sleep(RECONNECT_WAIT_S)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if r.returncode == 0:
            return
        tail = (r.stderr or r.stdout).strip().splitlines()
        why = tail[-1] if tail else f"exit {r.returncode}"
        if "failed to access" not in why and "could not" not in why.lower():
            break  # not a device that is still coming back: retrying will not help
    raise FlashError(EXIT_MPREMOTE, "mpremote failed: " + why)


def flash(
    device: str,
    config: str | None = None,
    secrets: str | None = None,
    board_config: str | None = None,
    board: str | None = None,
    reset: bool = True,
    dry_run: bool = False,
    pil: bool = False,
) -> list[list[str]]:
    """Validate, then flash; returns the mpremote invocations. Raises FlashError."""
    for path in (config, secrets, board_config):
        if path and not Path(path).is_file():
            raise FlashError(EXIT_INVALID, f"{path}: no such file")
    tree = build()
    validate_files(tree, config, board_config, board)
    files = {}
    if config:
        files["config.json"] = config
    if secrets:
        files["secrets.json"] = secrets
    if board_config:
        files["board.json"] = board_config
    with tempfile.TemporaryDirectory(prefix="platewise-flash-") as d:
        stub = Path(d) / "main.py"
        stub.write_text(PIL_STUB if pil else MAIN_STUB)
        plan = mpremote_plan(device, tree, files, stub, reset, pil)
        if dry_run:
            return plan
        for k, argv in enumerate(plan):
            # After the hold reset the device disappears for a moment.
            _run_mpremote(argv, RECONNECT_TRIES if k else 1)
    return plan


def add_flash_command(sub) -> None:
    p = sub.add_parser("flash", help="put the precompiled firmware and its config on a board (mpremote)")
    p.add_argument("device", help="the board's serial port, e.g. /dev/ttyACM0")
    p.add_argument("--config", help="config.json for the board (validated first)")
    p.add_argument("--secrets", help="secrets.json (cmd_key_hex, mqtt_user, mqtt_password)")
    p.add_argument("--board-config", help="board.json: pins, addresses, calibration (validated first)")
    p.add_argument("--board", choices=("rp2", "esp32"), help="the board kind, to check --board-config")
    p.add_argument("--pil", action="store_true", help="processor in the loop: the cell is emulated by the host over the serial line")
    p.add_argument("--no-reset", action="store_true", help="do not reset the board afterwards")
    p.add_argument("--dry-run", action="store_true", help="validate and print the mpremote command only")
    p.set_defaults(handler=main)


def main(args) -> int:
    try:
        plan = flash(
            args.device, args.config, args.secrets, args.board_config, args.board, not args.no_reset, args.dry_run, args.pil
        )
    except FlashError as e:
        print("platewise flash: " + str(e), file=sys.stderr)
        return e.code
    if args.dry_run:
        for argv in plan:
            print(" ".join(a if " " not in a and "\n" not in a else repr(a) for a in argv))
    else:
        print(f"platewise flash: {args.device}: firmware, main.py{' (processor in the loop)' if args.pil else ''}" + "".join(
            ", " + n for n, v in (("config.json", args.config), ("secrets.json", args.secrets), ("board.json", args.board_config)) if v
        ))
    return EXIT_OK
