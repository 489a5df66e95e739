"""The stdlib-docstrings builder and the shipped file it produced."""

from __future__ import annotations

import gzip
import json
import platform
import re
from collections import Counter
from pathlib import Path

import pytest

from experiments.testbeds.build_stdlib import (
    DEFAULT_OUTPUT,
    NAME_MASK,
    FunctionDoc,
    build_records,
    functions_in_module,
    main,
    mask_name,
    write_jsonl_gz,
)

SOURCE = '''
def parse_header(line, strict=True):
    """Split one header line into name and value; parse_header keeps the case.

    Details that are not part of the first paragraph.
    """

def _private(x):
    """A private helper that must not be collected at all, whatever its docstring says."""

def short():
    """Too short."""

class Reader:
    def read_all(self, size: int = -1) -> bytes:
        """Read every remaining byte from the underlying stream and return them."""
    def _skip(self):
        """Private methods are skipped like private functions are skipped here."""
'''


def test_functions_in_module_collects_public_documented_functions() -> None:
    funcs = {f.qualname: f for f in functions_in_module("mod", SOURCE)}
    assert set(funcs) == {"parse_header", "Reader.read_all"}
    header = funcs["parse_header"]
    assert header.signature == "mod.parse_header(line, strict=True)"
    assert "parse_header" not in header.doc and NAME_MASK in header.doc
    assert "Details" not in header.doc  # first paragraph only
    assert funcs["Reader.read_all"].signature == "mod.Reader.read_all(self, size: int=-1) -> bytes"


def test_mask_name_is_whole_word_and_case_insensitive() -> None:
    assert mask_name("Open opens; open() or reopen", "open") == f"{NAME_MASK} opens; {NAME_MASK}() or reopen"


def _funcs(n_modules: int, per_module: int) -> list[FunctionDoc]:
    return [
        FunctionDoc(f"m{m}", f"f{m}_{k}", f"f{m}_{k}", f"m{m}.f{m}_{k}()", f"doc number {m} {k} is here")
        for m in range(n_modules) for k in range(per_module)
    ]


def test_records_balance_roles_and_prefer_same_module() -> None:
    solos = [FunctionDoc(f"solo{i}", "g", f"g{i}", f"solo{i}.g()", f"lonely doc {i} text here") for i in (1, 2)]
    funcs = _funcs(5, 4) + solos
    records = build_records(funcs, n_functions=len(funcs), seed=0)
    pos = [r for r in records if r["label"] == 1]
    neg = [r for r in records if r["label"] == 0]
    assert len(pos) == len(funcs) == len(neg)
    # Every signature and every docstring appears once in each role.
    assert Counter(r["left"] for r in pos) == Counter(r["left"] for r in neg)
    assert Counter(r["right"] for r in pos) == Counter(r["right"] for r in neg)
    doc_module = {r["right"]: str(r["left"]).split(".")[0] for r in pos}
    same = sum(doc_module[str(r["right"])] == str(r["left"]).split(".")[0] for r in neg)
    assert same == 20  # all but the two single-function modules' negatives
    # Ids never reveal the label: both suffixes occur among positives.
    assert {str(r["id"])[-1] for r in pos} == {"0", "1"}


def test_build_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    funcs = _funcs(4, 3)
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_jsonl_gz(build_records(funcs, n_functions=10, seed=3), a)
    write_jsonl_gz(build_records(funcs, n_functions=10, seed=3), b)
    assert a.read_bytes() == b.read_bytes()


def test_shipped_file_is_small_and_masked() -> None:
    assert DEFAULT_OUTPUT.stat().st_size < 2_000_000
    with gzip.open(DEFAULT_OUTPUT, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    for r in records:
        if r["label"] == 1:
            name = r["left"].split("(")[0].rsplit(".", 1)[-1]
            assert not re.search(rf"(?<![\w.]){re.escape(name)}\b", r["right"], re.IGNORECASE), r


@pytest.mark.skipif(platform.python_version() != "3.11.7", reason="shipped file was built from CPython 3.11.7")
def test_builder_reproduces_the_shipped_file(tmp_path: Path) -> None:
    out = tmp_path / "rebuilt.jsonl.gz"
    assert main(["--output", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_OUTPUT.read_bytes()
