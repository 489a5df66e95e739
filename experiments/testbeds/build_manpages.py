"""Build the "manpages" testbed from the manual pages installed on this machine.

Each item pairs a page's one-line purpose from its NAME section (left, e.g. "list
directory contents") with the first 400 characters of a DESCRIPTION section (right);
the label says whether both come from the same page. Measured as a W2S set in
/work/shared/ENVIRONMENT.md (gap 6.1-7.5 points with frozen MiniLM features).

Construction, so that only the pairing carries the label (see `building`):
- English pages of sections 1-8 under the man root; symlinks and `.so` redirects are
  skipped (they duplicate another page); roff markup is stripped in Python (man(7)
  and mdoc(7) macros), so the build needs no groff and gives the same text anywhere;
- the page's names (NAME line, file name) are masked in both texts;
- negatives take the DESCRIPTION of another page of the same section;
- texts that occur twice (aliases, alpha/beta copies) are dropped;
- one family of thousands of generated pages (gcloud's CLI reference) is capped, so it
  cannot dominate the set.

Run `python -m experiments.testbeds.build_manpages` to rebuild. The installed pages
differ between machines: the shipped file is the reference every machine scores.
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
from collections.abc import Iterator
from pathlib import Path

from experiments.testbeds.building import (
    NAME_MASK,
    Entry,
    build_pair_records,
    clip_words,
    drop_duplicates,
    mask_names,
    summary,
    write_jsonl_gz,
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "data" / "manpages.jsonl.gz"
DEFAULT_ROOT = Path("/usr/share/man")
SECTIONS = tuple(str(i) for i in range(1, 9))
MAX_DESCRIPTION_CHARS = 400
MIN_DESCRIPTION_CHARS = 80
MIN_PURPOSE_WORDS = 2
# Generated pages of one CLI that would otherwise be most of man1; kept at this many.
CAPPED_FAMILIES = {"gcloud": 300}

# Escapes with a printable meaning; everything else of the form \X, \(XX, \[...] goes.
_NAMED_GLYPHS = {"em": " - ", "en": "-", "hy": "-", "mi": "-", "aq": "'", "dq": '"', "lq": '"',
                 "rq": '"', "oq": "'", "cq": "'", "bu": "*", "co": "(c)", "rg": "(R)", "tm": "(TM)",
                 "ga": "`", "ti": "~", "ha": "^", "rs": "\\", "at": "@", "sh": "#", "Fo": "<<", "Fc": ">>"}
# Macros whose arguments are running text (man(7) font macros and mdoc inline macros).
_TEXT_MACROS = {"B", "I", "BR", "RB", "BI", "IB", "IR", "RI", "SM", "SB", "Nm", "Ar", "Fl", "Cm", "Pa",
                "Em", "Sy", "Li", "Va", "Fn", "Fa", "Ic", "Ev", "Dv", "Er", "Xr", "Ql", "Dq", "Sq", "Pq",
                "Qq", "Op", "Ql", "Tn", "Ux", "Bx", "Nx", "Fx", "Ox", "St", "Lb", "Vt", "Ft", "Cd", "Ad",
                "Ms", "Mt", "Lk", "An", "It", "UR", "MT", "No", "Ns", "Ot"}
_MDOC_WORDS = {"Fl", "Ar", "Cm", "Pa", "Nm", "Em", "Sy", "Li", "Ns", "Op", "Oo", "Oc", "Dq", "Sq",
               "Pq", "Qq", "Xr", "Ev", "Dv", "Er", "Ic", "Va", "Ql", "No", "Fn", "Fa", "Ft", "Vt"}


def strip_escapes(text: str) -> str:
    """Roff escapes to plain text: fonts and sizes vanish, named glyphs become characters."""
    text = text.replace("\\\\", "\x00")  # a literal backslash, restored at the end
    text = re.sub(r"\\\(([A-Za-z]{2})", lambda m: _NAMED_GLYPHS.get(m.group(1), ""), text)
    text = re.sub(r"\\\[([A-Za-z]+)\]", lambda m: _NAMED_GLYPHS.get(m.group(1), ""), text)
    text = re.sub(r"\\\*(\(..|\[[^\]]*\]|.)", lambda m: '"' if m.group(1) in ("(lq", "(rq") else "", text)
    text = re.sub(r"\\f(\(..|\[[^\]]*\]|.)", "", text)  # font changes
    text = re.sub(r"\\s[-+]?(\d|\(\d\d|\[\d+\])", "", text)  # size changes
    text = re.sub(r"\\[nkgmM](\(..|\[[^\]]*\]|.)", "", text)
    text = re.sub(r"\\[hvwlLbDoxXNRSZz]'[^']*'", "", text)
    text = text.replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ").replace("\\~", " ")
    text = re.sub(r"\\[&|^%cdup:!)/,0t]", "", text)
    text = re.sub(r"\\.", "", text)  # anything left is markup
    return text.replace("\x00", "\\")


def _macro_text(name: str, args: str) -> str:
    """Running text carried by a text macro's arguments."""
    words = re.findall(r'"[^"]*"|\S+', args)
    words = [w[1:-1] if w.startswith('"') and w.endswith('"') else w for w in words]
    if name in {"BR", "RB", "BI", "IB", "IR", "RI"}:
        return "".join(words)  # alternating fonts are glued together
    if name[:1].isupper() and name[1:].islower():  # mdoc: drop nested macro names
        # The macro itself counts as the word before the first argument (".Fl v" is "-v").
        words = [("-" + w if prev == "Fl" else w) for prev, w in zip([name, *words], words)
                 if w not in _MDOC_WORDS]
    return " ".join(words)


def roff_sections(source: str) -> dict[str, str]:
    """Plain text of each top-level section (.SH / .Sh), keyed by upper-case heading."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in source.splitlines():
        line = raw.rstrip()
        if line.startswith((".\\\"", "'\\\"", '.\\"')) or line in (".", "'"):
            continue  # comments
        m = re.match(r"[.'](SH|Sh)\s*(.*)", line)
        if m:
            heading = strip_escapes(m.group(2)).strip().strip('"').upper()
            current = sections.setdefault(heading, [])
            continue
        if current is None:
            continue
        if line.startswith((".", "'")):
            mm = re.match(r"[.']\s*([A-Za-z]+)\s*(.*)", line)
            if mm and mm.group(1) == "Nm" and not mm.group(2).strip():
                current.append(NAME_MASK)  # mdoc: a bare .Nm repeats the page's name
            elif mm and mm.group(1) in _TEXT_MACROS:
                current.append(_macro_text(mm.group(1), mm.group(2)))
            elif mm and mm.group(1) == "Nd":
                current.append("- " + mm.group(2))
            continue  # layout requests (.PP, .TP, .IP, .nf, .Bl, ...) carry no text
        current.append(line)
    return {k: " ".join(strip_escapes(" ".join(v)).split()) for k, v in sections.items()}


def parse_page(source: str) -> tuple[list[str], str, str] | None:
    """(names, purpose, description) of a page, or None when a part is missing."""
    sections = roff_sections(source)
    name_line, description = sections.get("NAME", ""), sections.get("DESCRIPTION", "")
    m = re.match(r"(.+?)\s+-+\s+(.+)", name_line)
    if not m or not description:
        return None
    names = [n.strip() for n in m.group(1).split(",") if n.strip()]
    return names, m.group(2).strip(), description


def iter_pages(root: Path, sections: tuple[str, ...] = SECTIONS) -> Iterator[tuple[str, Path]]:
    """Yield (section, path) of real page files (no symlinks), sorted, English tree only."""
    for section in sections:
        folder = root / f"man{section}"
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.is_symlink():
                yield section, path


def _read(path: Path) -> str | None:
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    text = data.decode("utf-8", errors="replace")
    return None if text.lstrip().startswith(".so ") else text  # redirect to another page


def page_stem(path: Path) -> str:
    """`ls.1.gz` -> `ls`; `CA.pl.1ssl.gz` -> `CA.pl`."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.rsplit(".", 1)[0]


def page_entry(section: str, path: Path) -> Entry | None:
    """The masked (purpose, description) entry of one page file, or None if unusable."""
    source = _read(path)
    parsed = parse_page(source) if source is not None else None
    if parsed is None:
        return None
    names, purpose, description = parsed
    stem = page_stem(path)
    masked = [*names, stem, stem.replace("_", " ")]
    purpose = clip_words(mask_names(purpose, masked), 200)
    description = clip_words(mask_names(description, masked), MAX_DESCRIPTION_CHARS)
    if len(purpose.split()) < MIN_PURPOSE_WORDS or len(description) < MIN_DESCRIPTION_CHARS:
        return None
    # The file name (not the stem) is the key: `passwd.1` and `passwd.1ssl` are two pages.
    key = f"man{section}/{path.name.removesuffix('.gz')}"
    return Entry(key=key, category=f"man{section}", left=purpose, right=description)


def collect_entries(root: Path, *, seed: int = 0) -> list[Entry]:
    """Usable, de-duplicated entries under `root`, capped families sampled down."""
    entries = [e for section, path in iter_pages(root) if (e := page_entry(section, path)) is not None]
    entries = drop_duplicates(entries)
    rng = random.Random(seed)
    kept: list[Entry] = []
    for family, cap in sorted(CAPPED_FAMILIES.items()):
        members = [e for e in entries if e.key.split("/", 1)[1].split("_")[0] == family]
        # Alpha/beta pages repeat the GA command's text; only GA pages are candidates.
        ga = [e for e in members if not re.match(rf"{family}_(alpha|beta)_", e.key.split("/", 1)[1])]
        kept.extend(rng.sample(ga, min(cap, len(ga))))
        dropped = {e.key for e in members}
        entries = [e for e in entries if e.key not in dropped]
    return sorted(entries + kept, key=lambda e: e.key)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: build the testbed file and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="man page root (man1..man8 below it)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--pages", type=int, default=3000, help="pages sampled (two pairs each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    entries = collect_entries(args.root, seed=args.seed)
    records = build_pair_records(entries, n_entries=args.pages, seed=args.seed)
    write_jsonl_gz(records, args.output)
    print(f"{args.root}: {len(entries)} usable pages")
    print(summary(records, args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
