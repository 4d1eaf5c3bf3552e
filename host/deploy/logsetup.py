"""Logging for the services: the standard library's setup, one call.

``configure(log_file)``: without a file, records go to stderr (under
systemd, the journal, which rotates them itself); with one, to a
``logging.handlers.RotatingFileHandler`` that keeps ``backups`` files of at
most ``max_bytes`` each, so a twin running for months never fills the disk.

Failure behaviour: a log file that cannot be opened raises OSError (the
caller reports it and exits); nothing is logged half-configured.
"""

from __future__ import annotations

import logging
import logging.handlers

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
MAX_BYTES = 10_000_000
BACKUPS = 5


def configure(log_file: str | None = None, level: int = logging.INFO, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> logging.Handler:
    """Install one handler on the root logger; returns it."""
    if log_file:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
