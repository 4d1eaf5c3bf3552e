"""Code that runs unchanged on the board (MicroPython) and on the host (CPython).

Rules for this package (enforced by tests/test_dependency_rules.py and by
running every module under the MicroPython unix port):
- no numpy, dataclasses, typing at run time, enum or f-string tricks beyond
  what MicroPython supports;
- imports nothing else of Platewise.
"""
