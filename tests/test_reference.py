"""The physics reference is in the repository, and every citation of it resolves.

(a) No tracked text file names a reference that is not in the repository:
    the old out-of-tree physics notes (``CELL_FACTS``, any case) or a
    ``STYLE.md`` (the style rules are ``docs/style.md``).
(b) Every citation "cell-physics sec. N" (also "cell-physics.md sec. N",
    lists "sec. 2, 4, 6" and ranges "sec. 4-7") names a section that is a
    heading "## N. ..." of docs/cell-physics.md. In a file that cites
    cell-physics, a bare "sec. N" (e.g. ``[sec. 3]`` in hil/cell/model.py,
    or a list continuing an earlier citation) means the same file, so it is
    checked too; a section of the review is written "review sec. X" or
    "review X". The placeholder "sec. N" and the bare prefix in a string
    literal (``"cell-physics sec." in source``) are allowed.
(c) Sections 1-7 keep their numbers and subjects (code cites them by number).

Plain CPython: the tracked files come from ``git ls-files``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = "docs/cell-physics.md"
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

HEADING = re.compile(r"^## (\d+)\. (.+)$", re.M)
CITED = re.compile(r"cell-physics")  # a file that names the reference at all
SEC = re.compile(r"\bsec\.")
# a list item: an integer that is not the start of a dotted number (3.1.1)
ITEM = re.compile(r"\s*(\d+(?:\.\d+)*)")
SEP = re.compile(r"\s*([-,])\s*(?=\d)")

SUBJECTS = {  # section -> a word its heading must contain (the subjects code cites by number)
    1: "anode-less cell",
    2: "inventory",
    3: "current density",
    4: "pressure",
    5: "temperature",
    6: "failure",
    7: "bms",
}


def tracked_text_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in out.decode().split("\0"):
        if not name or name == THIS:
            continue
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield name, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def sections(text):
    return {int(m.group(1)): m.group(2) for m in HEADING.finditer(text)}


def parse_list(text, pos):
    """The section numbers cited right after "sec." at ``pos``; (numbers, problem or None)."""
    m = ITEM.match(text, pos)
    if m is None:
        rest = text[pos:].lstrip()
        if rest.startswith("N") or rest[:1] in ("'", '"'):
            return [], None  # the placeholder "sec. N", or the prefix as a string in code
        return [], "no section number after 'sec.'"
    items, seps = [m.group(1)], []
    s = SEP.match(text, m.end())
    while s is not None:
        m = ITEM.match(text, s.end())
        seps.append(s.group(1))
        items.append(m.group(1))
        s = SEP.match(text, m.end())
    for item in items:
        if "." in item:
            return [], "%r: cell-physics has no subsections" % item
    nums = [int(items[0])]
    for sep, item in zip(seps, items[1:]):
        n = int(item)
        if sep == "-":
            if n <= nums[-1]:
                return nums, "range %d-%d runs backwards" % (nums[-1], n)
            nums.extend(range(nums[-1] + 1, n + 1))
        else:
            nums.append(n)
    return nums, None


def citations(text):
    """(line, numbers, problem) for each cell-physics citation in ``text``."""
    if not CITED.search(text):
        return
    for m in SEC.finditer(text):
        before = text[max(0, m.start() - 16) : m.start()]
        if "review" in before:
            continue  # a section of the review, not of cell-physics
        nums, problem = parse_list(text, m.end())
        yield text.count("\n", 0, m.start()) + 1, nums, problem


def bad_citations(files, known):
    bad = []
    for name, text in files:
        for line, nums, problem in citations(text):
            if problem:
                bad.append("%s:%d: %s" % (name, line, problem))
            for n in nums:
                if n not in known:
                    bad.append("%s:%d: sec. %d is not a section of %s" % (name, line, n, DOC))
    return bad


def test_no_reference_outside_the_repo():
    hits = []
    for name, text in tracked_text_files():
        for lineno, line in enumerate(text.splitlines(), 1):
            if "cell_facts" in line.lower() or "STYLE.md" in line:
                hits.append("%s:%d: %s" % (name, lineno, line.strip()))
    assert not hits, "references to files that are not in the repository:\n" + "\n".join(hits)


def test_sections_1_to_7_keep_their_subjects():
    secs = sections((ROOT / DOC).read_text())
    assert sorted(secs) == list(range(1, max(secs) + 1)), "sections must be numbered 1..N without gaps: %s" % sorted(secs)
    for n, word in SUBJECTS.items():
        assert word in secs[n].lower(), (n, secs[n])


def test_every_citation_names_an_existing_section():
    files = list(tracked_text_files())
    known = set(sections((ROOT / DOC).read_text()))
    n_cites = sum(len(list(citations(text))) for _, text in files)
    assert n_cites > 100  # the presets alone cite it on most fields: a parser that finds nothing is broken
    bad = bad_citations(files, known)
    assert not bad, "\n".join(bad)


def test_a_bad_citation_is_caught():
    known = {1, 2, 3, 4, 5, 6, 7}
    good = [("a.py", "x (cell-physics sec. 2, 4-6) y [sec. 7] (review sec. 3.1.1) 'sec. N'")]
    assert bad_citations(good, known) == []
    for text in (
        "see cell-physics sec. 8",
        "see cell-physics.md sec. 3, 9",
        "see cell-physics sec. 6-8",
        "see cell-physics sec. 3.1",
        "cites cell-physics sec. 2; and later (sec. 12)",
        "see cell-physics sec. ?",
    ):
        assert bad_citations([("a.py", text)], known), text
    # a bare "sec." in a file that does not cite cell-physics is someone else's section
    assert bad_citations([("b.py", "MQTT 3.1.1 sec. 4.6")], known) == []
