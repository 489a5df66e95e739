"""The man-page and Debian-description builders, on planted data, and the files they shipped."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from experiments.testbeds import build_debian, build_manpages
from experiments.testbeds.building import NAME_MASK, Entry, build_pair_records, mask_names

LS_PAGE = r""".\" a comment that must vanish
.TH LS "1" "September 2022" "GNU coreutils 9.1" "User Commands"
.SH NAME
ls, dir \- list directory contents
.SH SYNOPSIS
.B ls
[\fI\,OPTION\/\fR]... [\fI\,FILE\/\fR]...
.SH DESCRIPTION
.PP
List information about the FILEs (the current directory by default).
Sort entries alphabetically if none of \fB\-cftuvSUX\fR nor \fB\-\-sort\fR is specified.
.BR ls (1)
and dir behave alike\(em use
.I either
one.
.SH AUTHOR
Someone.
"""

MDOC_PAGE = r""".Dd $Mdocdate: November 28 2022 $
.Dt SSH 1
.Sh NAME
.Nm ssh
.Nd OpenSSH remote login client
.Sh DESCRIPTION
.Nm
(SSH client) is a program for logging into a remote machine and for executing commands on a remote
machine.
It is intended to provide secure encrypted communications between two untrusted hosts.
.Fl v
turns on verbose mode.
"""


def test_roff_is_stripped_and_names_masked(tmp_path: Path) -> None:
    page = tmp_path / "man1" / "ls.1.gz"
    page.parent.mkdir()
    page.write_bytes(gzip.compress(LS_PAGE.encode()))
    entry = build_manpages.page_entry("1", page)
    assert entry is not None and entry.key == "man1/ls.1" and entry.category == "man1"
    assert entry.left == "list directory contents"
    assert entry.right.startswith("List information about the FILEs (the current directory by default).")
    assert "-cftuvSUX" in entry.right and "--sort" in entry.right
    assert f"{NAME_MASK}(1) and {NAME_MASK} behave alike - use either one." in entry.right
    assert "\\" not in entry.right and "comment" not in entry.right and "Someone" not in entry.right


def test_mdoc_pages_parse(tmp_path: Path) -> None:
    page = tmp_path / "ssh.1"
    page.write_text(MDOC_PAGE)
    entry = build_manpages.page_entry("1", page)
    assert entry is not None and entry.left == "OpenSSH remote login client"
    assert entry.right.startswith(f"{NAME_MASK} ({NAME_MASK} client) is a program")
    assert "-v turns on verbose mode." in entry.right


def test_redirects_and_short_pages_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.1").write_text(".so man1/ls.1\n")
    (tmp_path / "b.1").write_text(".SH NAME\nb \\- does b\n.SH DESCRIPTION\nToo short.\n")
    assert build_manpages.page_entry("1", tmp_path / "a.1") is None
    assert build_manpages.page_entry("1", tmp_path / "b.1") is None


def test_mask_names_is_whole_word() -> None:
    assert mask_names("ls lists; also ls-like, LS.", ["ls"]) == "<name> lists; also <name>-like, <name>."


def test_pair_records_balance_roles_within_categories() -> None:
    entries = [Entry(f"c{c}/e{i}", f"c{c}", f"left {c} {i}", f"right {c} {i}") for c in range(3) for i in range(4)]
    records = build_pair_records(entries, n_entries=len(entries), seed=1)
    pos = [r for r in records if r["label"] == 1]
    neg = [r for r in records if r["label"] == 0]
    assert len(pos) == len(neg) == 12
    assert Counter(r["right"] for r in pos) == Counter(r["right"] for r in neg)
    category_of = {r["right"]: r["category"] for r in pos}
    assert all(category_of[r["right"]] == r["category"] for r in neg)
    assert {str(r["id"])[-1] for r in pos} == {"0", "1"}
    with pytest.raises(ValueError, match="unique"):
        build_pair_records(entries + entries[:1], n_entries=5, seed=0)


TRANSLATIONS = """Package: fooview
Description-md5: aaa
Description-en: image viewer for the terminal
 fooview shows images in a terminal window using block characters and is
 quick to start even on slow machines with very little memory.
 .
 Second paragraph that is not used.

Package: barsync
Description-md5: bbb
Description-en: transitional package
 This is a transitional dummy package. It can safely be removed.

Package: python3-quux
Description-md5: ccc
Description-en: parser for Quux configuration files (Python 3)
 Quux files describe build pipelines; this library reads them into plain Python
 objects and reports errors with line numbers and helpful messages.
"""

PACKAGES = """Package: fooview
Section: graphics
Description-md5: aaa

Package: barsync
Section: net
Description-md5: bbb

Package: python3-quux
Source: quux (1.0-1)
Section: python
Description-md5: ccc
"""


def test_debian_entries_from_planted_lists(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "x_main_i18n_Translation-en").write_text(TRANSLATIONS)
    entries = {e.key: e for e in build_debian.collect_entries(PACKAGES, build_debian.translations(lists))}
    assert set(entries) == {"graphics/fooview", "python/python3-quux"}  # transitional skipped
    foo, quux = entries["graphics/fooview"], entries["python/python3-quux"]
    assert foo.left == "image viewer for the terminal" and foo.right.startswith(f"{NAME_MASK} shows images")
    assert "Second paragraph" not in foo.right
    assert quux.left == f"parser for {NAME_MASK} configuration files (Python 3)"
    assert quux.category == "python" and "quux" not in quux.right.lower()


@pytest.mark.parametrize("module, name", [(build_manpages, "manpages"), (build_debian, "debian_descriptions")])
def test_shipped_files(module: object, name: str) -> None:
    path = module.DEFAULT_OUTPUT  # type: ignore[attr-defined]
    assert path.name == f"{name}.jsonl.gz" and path.stat().st_size < 2_000_000
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    assert 5000 <= len(records) <= 7000
    assert abs(sum(r["label"] for r in records) / len(records) - 0.5) < 0.01
    by_group: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in records:
        by_group[r["group"]].append(r)
    assert sum(len(g) == 2 for g in by_group.values()) >= len(by_group) - 2
    assert sum(NAME_MASK in r["right"] for r in records) > len(records) / 10  # names were masked
    lefts = Counter(r["left"] for r in records if r["label"] == 1)
    assert max(lefts.values()) == 1  # duplicates were dropped
