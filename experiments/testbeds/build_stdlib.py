"""Build the "stdlib-docstrings" testbed from the Python standard library on this machine.

Each item pairs a function's signature (left) with a docstring paragraph (right); the
label says whether the docstring belongs to that function. The source files are read
with `ast` only, never imported, so building has no side effects.

Construction, chosen so that only the *pairing* carries the label:
- every sampled function appears exactly once as a positive (its own docstring) and
  once as a negative (another sampled function's docstring), and every docstring is
  used once in each role, so neither side alone predicts the label;
- negatives come from the same module where possible (hard: same topic and vocabulary);
- the function's own name is masked in its docstring, so matching is not string lookup.

Run `python -m experiments.testbeds.build_stdlib` to rebuild the shipped file. The
output depends on the stdlib version; the shipped file is the reference so that every
machine scores the same items.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import re
import sys
import sysconfig
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "data" / "stdlib_docstrings.jsonl.gz"
NAME_MASK = "<func>"
MIN_DOC_CHARS = 30
MIN_DOC_WORDS = 5
MAX_DOC_CHARS = 320
MAX_ARGS_CHARS = 160

# Directories that hold tests, demos or vendored code rather than the stdlib's API.
_SKIP_PARTS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
               "turtledemo", "ensurepip", "lib2to3", "pydoc_data"}


@dataclass(frozen=True)
class FunctionDoc:
    """One public function or method with a usable docstring paragraph."""

    module: str
    qualname: str
    name: str
    signature: str
    doc: str

    @property
    def key(self) -> str:
        return f"{self.module}.{self.qualname}"


def iter_stdlib_modules(root: Path) -> Iterator[tuple[str, Path]]:
    """Yield (dotted module name, source path) for public stdlib modules, sorted."""
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        parts = rel.with_suffix("").parts
        if any(p in _SKIP_PARTS or p.startswith(("test_", "config-")) for p in rel.parts):
            continue
        # Private modules (_pyio, _pydecimal, ...) mostly duplicate public APIs.
        if any(p.startswith("_") and p != "__init__" for p in parts):
            continue
        names = parts[:-1] if parts[-1] == "__init__" else parts
        if names:
            yield ".".join(names), path


def first_paragraph(docstring: str) -> str:
    """The docstring's first paragraph on one line, cut at a word boundary."""
    para = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    text = " ".join(para.split())
    if len(text) > MAX_DOC_CHARS:
        text = text[:MAX_DOC_CHARS].rsplit(" ", 1)[0] + " ..."
    return text


def mask_name(text: str, name: str) -> str:
    """Replace whole-word mentions of `name` (any case) by NAME_MASK."""
    return re.sub(rf"(?<![\w.]){re.escape(name)}\b", NAME_MASK, text, flags=re.IGNORECASE)


def signature_text(module: str, qualname: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """`module.Class.name(args) -> ret`: what a reader of an API index would see."""
    args = ast.unparse(node.args)
    if len(args) > MAX_ARGS_CHARS:
        args = args[:MAX_ARGS_CHARS].rsplit(",", 1)[0] + ", ..."
    ret = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    prefix = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
    return f"{prefix}{module}.{qualname}({args}){ret}"


def _usable_doc(node: ast.AST, name: str) -> str | None:
    raw = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
    if not raw:
        return None
    doc = mask_name(first_paragraph(raw), name)
    if len(doc) < MIN_DOC_CHARS or len(doc.split()) < MIN_DOC_WORDS:
        return None
    return doc


def functions_in_module(module: str, source: str) -> list[FunctionDoc]:
    """Public module-level functions and public methods of public classes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old escape sequences in some stdlib sources
        tree = ast.parse(source)
    found: list[FunctionDoc] = []

    def add(node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str) -> None:
        doc = _usable_doc(node, node.name)
        if doc is not None:
            sig = signature_text(module, qualname, node)
            found.append(FunctionDoc(module, qualname, node.name, sig, doc))

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            add(node, node.name)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    add(item, f"{node.name}.{item.name}")
    return found


def collect_functions(root: Path) -> list[FunctionDoc]:
    """Every usable function under `root`, deduplicated by docstring (copies are ambiguous)."""
    seen_docs: dict[str, int] = defaultdict(int)
    all_funcs: list[FunctionDoc] = []
    for module, path in iter_stdlib_modules(root):
        try:
            source = path.read_text(encoding="utf-8")
            all_funcs.extend(functions_in_module(module, source))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a few files are templates or in another encoding
    # A name defined twice (property getter and setter, platform branches) keeps its first.
    by_key: dict[str, FunctionDoc] = {}
    for f in all_funcs:
        by_key.setdefault(f.key, f)
    all_funcs = list(by_key.values())
    for f in all_funcs:
        seen_docs[f.doc.lower()] += 1
    # Drop every copy of a repeated docstring: such a pair has no single right answer.
    return sorted((f for f in all_funcs if seen_docs[f.doc.lower()] == 1), key=lambda f: f.key)


def _rotate(funcs: list[FunctionDoc]) -> list[tuple[FunctionDoc, FunctionDoc]]:
    """Pair each function with the next one's docstring (a derangement of docstrings)."""
    n = len(funcs)
    return [(funcs[i], funcs[(i + 1) % n]) for i in range(n)] if n >= 2 else []


def negative_pairs(funcs: list[FunctionDoc], rng: random.Random) -> list[tuple[FunctionDoc, FunctionDoc]]:
    """(anchor, donor) pairs: donor from the same module when it has another sampled function."""
    by_module: dict[str, list[FunctionDoc]] = defaultdict(list)
    for f in funcs:
        by_module[f.module].append(f)
    pairs: list[tuple[FunctionDoc, FunctionDoc]] = []
    singles: list[FunctionDoc] = []
    for module in sorted(by_module):
        members = by_module[module]
        if len(members) == 1:
            singles.extend(members)
            continue
        rng.shuffle(members)
        pairs.extend(_rotate(members))
    # Singletons sorted by module name sit next to modules of the same package.
    pairs.extend(_rotate(sorted(singles, key=lambda f: f.key)))
    # A donor with the anchor's own name (two classes' `close`) is not a clear negative.
    return [(a, d) for a, d in pairs if a.name.lower() != d.name.lower()]


def build_records(funcs: list[FunctionDoc], *, n_functions: int, seed: int) -> list[dict[str, object]]:
    """Sample functions and return shuffled positive and negative records."""
    rng = random.Random(seed)
    chosen = sorted(rng.sample(funcs, min(n_functions, len(funcs))), key=lambda f: f.key)
    records: list[dict[str, object]] = []
    for f in chosen:
        records.append({"group": f.key, "left": f.signature, "right": f.doc, "label": 1})
    for anchor, donor in negative_pairs(chosen, rng):
        records.append({"group": anchor.key, "left": anchor.signature, "right": donor.doc, "label": 0})
    rng.shuffle(records)
    # The suffix is random so that an id never tells which of a group's pairs is positive.
    counters: dict[str, list[int]] = {}
    for rec in records:
        group = str(rec["group"])
        if group not in counters:
            order = [0, 1]
            rng.shuffle(order)
            counters[group] = order
        rec["id"] = f"{group}#{counters[group].pop()}"
    return [{k: r[k] for k in ("id", "left", "right", "label", "group")} for r in records]


def write_jsonl_gz(records: list[dict[str, object]], path: Path) -> None:
    """Write records byte-for-byte reproducibly (gzip header without a timestamp)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for rec in records:
            gz.write((json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: build the testbed file and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stdlib", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--functions", type=int, default=3000, help="functions sampled (two pairs each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    funcs = collect_functions(args.stdlib)
    records = build_records(funcs, n_functions=args.functions, seed=args.seed)
    write_jsonl_gz(records, args.output)
    positives = sum(int(r["label"] == 1) for r in records)
    print(f"python {sys.version.split()[0]} stdlib at {args.stdlib}: {len(funcs)} usable functions")
    print(f"wrote {len(records)} pairs ({positives} positive) to {args.output} "
          f"({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
