"""`platewise twin backup --db FILE --out FILE`: a consistent copy of the
twin's database while the twin keeps writing it.

Through SQLite's online backup API (``sqlite3.Connection.backup``), in one
step: the copy is made inside one read transaction of the source, so it is
the database as of one commit, whatever the twin commits meanwhile (in WAL
mode the writer is not blocked; it goes on appending to the WAL). The copy
is written to a temporary file beside ``out``, checked with ``PRAGMA
integrity_check``, and renamed over ``out``, so ``out`` is always either
the previous backup or a complete new one.

Failure behaviour: a source that does not exist, is not a database, or
cannot be read, an ``out`` folder that cannot be written, or a copy that
fails its integrity check raises ``BackupError`` naming the file; ``out``
is then untouched and no temporary file is left.
"""

import os
import sqlite3
import tempfile


class BackupError(RuntimeError):
    """str(e) names the file and the reason."""


def backup(db_path, out_path):
    """Copy ``db_path`` to ``out_path``; returns the number of pages copied."""
    if not os.path.isfile(db_path):
        raise BackupError("backup: no database file %s" % db_path)
    folder = os.path.dirname(os.path.abspath(out_path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".backup-", suffix=".db")
    except OSError as e:
        raise BackupError("backup: cannot write in %s: %s" % (folder, e)) from e
    os.close(fd)
    try:
        src = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=30.0)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # pages=-1: everything in one step, one snapshot
            pages = dst.execute("PRAGMA page_count").fetchone()[0]
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
            src.close()
        if check != "ok":
            raise BackupError("backup of %s failed its integrity check: %s" % (db_path, check))
        os.replace(tmp, out_path)
        return pages
    except sqlite3.Error as e:
        raise BackupError("backup of %s: %s" % (db_path, e)) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
