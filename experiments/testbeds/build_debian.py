"""Build the "debian-descriptions" testbed from the apt lists on this machine.

Each item pairs a Debian package's short description (left, its one-line synopsis)
with the first paragraph of a long description (right); the label says whether both
belong to the same package. Measured as a W2S set in /work/shared/ENVIRONMENT.md (gap
5.6-9.1 points with frozen MiniLM features).

Source data, after `apt-get update -o Acquire::Languages=en` (the long descriptions
live in the Translation-en lists, which apt skips by default in containers):
- `apt-cache dumpavail`: Package, Source, Section and Description-md5 of every package;
- `*_i18n_Translation-en*` under /var/lib/apt/lists: the English descriptions by md5
  (lz4-compressed lists are read through `apt-helper cat-file`).

Construction, so that only the pairing carries the label (see `building`):
- one binary package per source package (the one named like the source, else the
  shortest name), so no two entries are siblings with near-identical text;
- transitional, dummy and debug-symbol packages are skipped;
- the package name, source name and their distinctive parts are masked in both texts;
- negatives take the first paragraph of another source's package from the same Section;
- texts that occur twice are dropped.

Run `python -m experiments.testbeds.build_debian` to rebuild. The apt lists change
with every mirror update: the shipped file is the reference every machine scores.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import re
import subprocess
from collections import defaultdict
from pathlib import Path

from experiments.testbeds.building import (
    Entry,
    build_pair_records,
    clip_words,
    drop_duplicates,
    mask_names,
    summary,
    write_jsonl_gz,
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "data" / "debian_descriptions.jsonl.gz"
DEFAULT_LISTS = Path("/var/lib/apt/lists")
MAX_PARAGRAPH_CHARS = 400
MIN_PARAGRAPH_CHARS = 80
MIN_SHORT_WORDS = 2
_SKIP = re.compile(r"transitional|dummy package|debug(ging)? symbols|metapackage", re.IGNORECASE)
_PREFIXES = ("golang-github-", "golang-gopkg-", "golang-", "python3-", "python-", "r-cran-", "r-bioc-",
             "libghc-", "node-", "ruby-", "php-", "fonts-", "elpa-", "lua-", "ocaml-", "gir1.2-",
             "librust-", "libjs-", "lib")
_SUFFIXES = ("-dev", "-perl", "-java", "-doc", "-utils", "-common", "-data", "-bin", "-tools",
             "-ocaml", "-dbg", "-examples", "-plugin")
# Name parts too generic to mask: they are ordinary words in most descriptions.
_GENERIC = {"data", "tools", "common", "utils", "plugin", "module", "client", "server", "python",
            "perl", "java", "ruby", "library", "core", "base", "extra", "extras", "doc", "docs", "dev",
            "test", "tests", "github", "gitlab", "gopkg", "cran", "bioc", "node", "fonts", "font"}


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Deb822 stanzas: field -> value, continuation lines kept with their newlines."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
        elif line[0] in " \t" and last is not None:
            current[last] += "\n" + line
        elif ":" in line:
            last, value = line.split(":", 1)
            current[last] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def read_list_file(path: Path) -> str:
    """Text of an apt list file, whatever its compression."""
    if path.suffix == ".lz4":  # no lz4 in the standard library; apt ships a reader
        out = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(path)],
                             capture_output=True, check=True, timeout=300)
        return out.stdout.decode("utf-8", errors="replace")
    opener = {".gz": gzip.open, ".xz": lzma.open}.get(path.suffix)
    data = opener(path).read() if opener else path.read_bytes()  # type: ignore[operator]
    return bytes(data).decode("utf-8", errors="replace")


def translations(lists_dir: Path) -> dict[str, str]:
    """Description-md5 -> full English description (first line + long text)."""
    out: dict[str, str] = {}
    for path in sorted(lists_dir.glob("*_i18n_Translation-en*")):
        for st in parse_stanzas(read_list_file(path)):
            if "Description-md5" in st and "Description-en" in st:
                out.setdefault(st["Description-md5"], st["Description-en"])
    return out


def dumpavail() -> str:
    """`apt-cache dumpavail`: every available package's control stanza."""
    return subprocess.run(["apt-cache", "dumpavail"], capture_output=True, check=True,
                          timeout=300).stdout.decode("utf-8", errors="replace")


def first_paragraph(description: str) -> tuple[str, str]:
    """(short description, first paragraph of the long one) from a Description field."""
    short, _, rest = description.partition("\n")
    paragraph: list[str] = []
    for line in rest.splitlines():
        body = line[1:] if line.startswith(" ") else line
        if body.strip() == ".":
            if paragraph:
                break
            continue
        paragraph.append(body.strip())
    return short.strip(), " ".join(" ".join(paragraph).split())


def name_variants(package: str, source: str) -> list[str]:
    """Names to mask: package, source, their cores without packaging affixes, and parts."""
    names = {package, source}
    for name in (package, source):
        core = re.sub(r"[\d.]+$", "", name)
        for suffix in _SUFFIXES:
            core = core.removesuffix(suffix)
        for prefix in _PREFIXES:
            if core.startswith(prefix) and len(core) > len(prefix) + 2:
                core = core[len(prefix):]
                break
        core = re.sub(r"[-.]?[\d.]+$", "", core)
        names.add(core)
        names.update(p for p in re.split(r"[-.+]", core) if len(p) >= 4 and p not in _GENERIC)
    return sorted(n for n in names if len(n) >= 3)


def pick_binaries(stanzas: list[dict[str, str]]) -> list[dict[str, str]]:
    """One package per source: the one named like the source, else the shortest name."""
    by_source: dict[str, list[dict[str, str]]] = defaultdict(list)
    for st in stanzas:
        if "Package" in st and "Section" in st and "Description-md5" in st:
            source = st.get("Source", st["Package"]).split(" ")[0]
            by_source[source].append(st)
    chosen = []
    for source, members in sorted(by_source.items()):
        unique = {m["Package"]: m for m in members}  # several versions of one package
        best = min(unique.values(), key=lambda m: (m["Package"] != source, len(m["Package"]), m["Package"]))
        chosen.append(best | {"Source": source})
    return chosen


def collect_entries(packages_text: str, descriptions: dict[str, str]) -> list[Entry]:
    """Usable, masked, de-duplicated entries."""
    entries: list[Entry] = []
    for st in pick_binaries(parse_stanzas(packages_text)):
        full = descriptions.get(st["Description-md5"])
        if full is None:
            continue
        short, paragraph = first_paragraph(full)
        if _SKIP.search(short) or _SKIP.search(paragraph):
            continue
        names = name_variants(st["Package"], st["Source"])
        left = clip_words(mask_names(short, names), 200)
        right = clip_words(mask_names(paragraph, names), MAX_PARAGRAPH_CHARS)
        if len(left.split()) < MIN_SHORT_WORDS or len(right) < MIN_PARAGRAPH_CHARS:
            continue
        section = st["Section"].rsplit("/", 1)[-1]  # contrib/net -> net
        entries.append(Entry(key=f"{section}/{st['Package']}", category=section, left=left, right=right))
    return drop_duplicates(entries)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: build the testbed file and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lists", type=Path, default=DEFAULT_LISTS, help="apt lists folder (Translation-en)")
    parser.add_argument("--packages", type=Path, default=None,
                        help="saved `apt-cache dumpavail` output (default: run it now)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--entries", type=int, default=3000, help="packages sampled (two pairs each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    descriptions = translations(args.lists)
    if not descriptions:
        parser.error(f"no Translation-en lists under {args.lists}: run `apt-get update -o Acquire::Languages=en`")
    packages_text = args.packages.read_text(encoding="utf-8") if args.packages else dumpavail()
    entries = collect_entries(packages_text, descriptions)
    records = build_pair_records(entries, n_entries=args.entries, seed=args.seed)
    write_jsonl_gz(records, args.output)
    print(f"{len(descriptions)} descriptions, {len(entries)} usable packages")
    print(summary(records, args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
