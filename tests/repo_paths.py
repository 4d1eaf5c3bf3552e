"""Where the tests find the repository's own files (docs, tests, the sources
as a board lays them out: firmware/ and shared/ side by side)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
