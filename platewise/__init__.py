"""Platewise: battery management for anode-less lithium-metal cells.

One import name, four parts (each a folder at the repository's top, mapped
here by the build backend, pyproject.toml):

- ``platewise.firmware`` (``firmware/``): the MicroPython firmware. On a
  board it lives in ``/firmware`` beside ``/shared`` and imports as
  ``firmware.*``; CPython only reads it as files (to compile and flash it).
- ``platewise.shared`` (``shared/``): code both interpreters run (the
  telemetry contract, command signing, cell constants); on a board
  ``shared.*``. Its modules import each other relatively, so both names work.
- ``platewise.host`` (``host/``): the digital twin, the broker, cell
  presets, the firmware's toolchain (build, flash) and signed commands.
- ``platewise.hil`` (``hil/``): the emulated cell, the virtual board that
  runs the real firmware against it, the demo and the firmware bench.
- ``platewise.cli``: the ``platewise`` command, the one module that may
  import every part.

Dependency direction (tests/test_dependency_rules.py): shared imports
nothing of ours; firmware imports shared; host imports shared; hil imports
host and shared; only cli imports hil; nothing imports cli.
"""

__version__ = "0.1.0"
