"""Registered testbeds and `load_testbed`.

A testbed is a JSONL file of text pairs plus the weak/strong setup measured to give a
clear gap on it. Register more with `register_testbed(TestbedSpec(...))`; names of the
form `jsonl:/path/to/dir` and `hf:owner/name` load user data without registering
(see `experiments.testbeds.user`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from experiments.errors import ExperimentError, UnknownTestbedError
from experiments.features import PAIR_FORMULAS, EncoderLayer, EncoderSpec, PairForm
from experiments.testbeds.testbed import Testbed, read_records, testbed_from_records
from experiments.tfidf import TfidfSpec

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class TestbedSpec:
    """Where a testbed's items live and which text models are weak and strong.

    By default the weak model is `encoder` truncated to its first `weak_layer` layers (0
    is the embedding output) and the strong model is its layer `strong_layer` (-1: the
    last). `weak_model` / `strong_model`, when set, replace them with any
    `EncoderLayer` (another checkpoint, by name or path) or a `TfidfSpec`. Items become
    features as `experiments.pair_features` describes, pairs in `weak_pairs` and
    `strong_pairs` form.
    """

    __test__ = False  # not a pytest test class despite the name

    name: str
    path: Path
    description: str
    weak_layer: int
    strong_layer: int = -1
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    # What TASK.md tells agents. Kept vaguer than `description`: naming the source of
    # the texts would point an agent at public data from which labels can be rebuilt.
    agent_description: str = "Binary classification of text pairs. Label 1: the two texts belong together."
    weak_model: EncoderLayer | TfidfSpec | None = None
    strong_model: EncoderLayer | TfidfSpec | None = None
    # Why this weak model: the measurement behind the choice, shown by `testbed_report`.
    weak_note: str = ""
    weak_pairs: PairForm = "similarity"
    strong_pairs: PairForm = "similarity"

    def __post_init__(self) -> None:
        for form in (self.weak_pairs, self.strong_pairs):
            if form not in PAIR_FORMULAS:
                raise ExperimentError(f"testbed {self.name!r}: unknown pair form {form!r} "
                                      f"(known: {', '.join(PAIR_FORMULAS)})")

    @property
    def weak(self) -> EncoderLayer | TfidfSpec:
        """The weak teacher's text model."""
        return self.weak_model or EncoderLayer(self.encoder, self.weak_layer)

    @property
    def strong(self) -> EncoderLayer | TfidfSpec:
        """The strong student's (and the ceiling's) text model."""
        return self.strong_model or EncoderLayer(self.encoder, self.strong_layer)

    @property
    def weak_description(self) -> str:
        """The weak model in words, for TASK.md and reports."""
        return describe_model(self.weak)


def describe_model(model: EncoderLayer | TfidfSpec) -> str:
    """A text model in words: "all-MiniLM-L6-v2 cut to its first 1 layer(s)", "TF-IDF ..."."""
    if isinstance(model, TfidfSpec):
        return (f"TF-IDF over words and word {model.max_ngram}-grams reduced to {model.dim} "
                f"dimensions by truncated SVD")
    if model.layer == -1:
        return f"{model.encoder.label} (all layers)"
    return f"{model.encoder.label} cut to its first {model.layer} layer(s)"


TESTBEDS: dict[str, TestbedSpec] = {}
DEFAULT_TESTBED = "stdlib-docstrings-hard"
# Names the "-easy" testbeds had before the "-hard" ones existed: campaigns logged under
# them load the same spec, under the logged name. Not listed, not suggested.
LEGACY_NAMES = {
    "stdlib-docstrings": "stdlib-docstrings-easy",
    "manpages": "manpages-easy",
    "debian-descriptions": "debian-descriptions-easy",
}


def register_testbed(spec: TestbedSpec, *, replace: bool = False) -> TestbedSpec:
    """Add a testbed to `TESTBEDS`; refuses to shadow an existing name unless `replace`."""
    if spec.name in TESTBEDS and not replace:
        raise ExperimentError(f"a testbed named {spec.name!r} is already registered")
    TESTBEDS[spec.name] = spec
    return spec


def load_testbed(name: str, *, limit: int | None = None) -> Testbed:
    """Load a testbed by name; `limit` keeps its first items (built-in files are pre-shuffled).

    Registered names, `jsonl:/path/to/dir` (a directory in the JSONL layout) and
    `hf:owner/name` (a Hugging Face dataset; needs the `datasets` package) all work.
    """
    if is_user_testbed(name):
        from experiments.testbeds.user import load_user_testbed

        return load_user_testbed(name, limit=limit)
    spec = registered_spec(name)
    return testbed_from_records(spec, read_records(spec.path, limit=limit))


def registered_spec(name: str) -> TestbedSpec:
    """The registered spec of `name`; a legacy name gets its testbed's spec under that name."""
    spec = TESTBEDS.get(name)
    if spec is None and name in LEGACY_NAMES and LEGACY_NAMES[name] in TESTBEDS:
        spec = replace(TESTBEDS[LEGACY_NAMES[name]], name=name)
    if spec is None:
        raise UnknownTestbedError(name, list(TESTBEDS))
    return spec


def is_user_testbed(name: str) -> bool:
    """Whether `name` points at user data (`jsonl:...` or `hf:...`) rather than the registry."""
    return name.startswith(("jsonl:", "hf:"))


def resolve_spec(name: str) -> TestbedSpec:
    """The spec of a testbed name; user testbeds are read (and checked) to build theirs.

    Raises UnknownTestbedError for an unknown registered name, TestbedFormatError for
    unusable user data.
    """
    if is_user_testbed(name):
        return load_testbed(name).spec
    return registered_spec(name)


register_testbed(TestbedSpec(
    name="stdlib-docstrings-easy",
    path=DATA_DIR / "stdlib_docstrings.jsonl.gz",
    description=(
        "Does this docstring paragraph describe this function? Signatures and docstrings "
        "of public CPython 3.11 stdlib functions, own name masked, negatives mostly from "
        "the same module. Label 1: the docstring belongs to the function."
    ),
    # Measured (l2 = 1, 3 seeds): weak layers 0/1/2/3 gave gaps of 7.1/7.9/7.1/7.3 points.
    weak_layer=1,
    encoder=EncoderSpec(display_name="all-MiniLM-L6-v2"),
    weak_note=(
        "Measured (5 seeds): weak MiniLM layers 0/1/2/3 gave gaps of 7.2/8.1/7.1/7.3 points; "
        "layer 1 gives the widest."
    ),
    agent_description=(
        "Does a one-paragraph documentation text describe a given function signature? "
        "The function's own name is masked in the text. Label 1: it does."
    ),
))

register_testbed(TestbedSpec(
    name="manpages-easy",
    path=DATA_DIR / "manpages.jsonl.gz",
    description=(
        "Does this DESCRIPTION excerpt belong to the manual page with this one-line purpose? "
        "Installed man pages of sections 1-8 (roff stripped, page names masked), negatives "
        "from the same section. Label 1: both texts come from the same page."
    ),
    weak_layer=1,
    encoder=EncoderSpec(display_name="all-MiniLM-L6-v2"),
    weak_model=TfidfSpec(dim=64),
    weak_note=(
        "Measured (5 seeds, ceiling 0.947): weak TF-IDF+SVD 64/128/256 dims gave gaps of "
        "9.3/6.5/4.9 points, MiniLM layers 0-3 gave 5.7-6.8; TF-IDF-64 gives the widest "
        "gap, and plain cross-entropy still leaves headroom (PGR 0.88 over 3 seeds)."
    ),
    agent_description=(
        "Does a one-line purpose statement and a several-sentence description come from the "
        "same reference document? Names are masked. Label 1: they do."
    ),
))

register_testbed(TestbedSpec(
    name="debian-descriptions-easy",
    path=DATA_DIR / "debian_descriptions.jsonl.gz",
    description=(
        "Does this long description paragraph belong to the software package with this "
        "one-line summary? Debian bookworm packages (one per source, names masked), "
        "negatives from the same archive Section. Label 1: both texts describe one package."
    ),
    weak_layer=2,
    encoder=EncoderSpec(display_name="all-MiniLM-L6-v2"),
    weak_note=(
        "Measured (5 seeds, ceiling 0.894): weak MiniLM layers 0/1/2/3 gave gaps of "
        "3.9/4.8/5.7/4.4 points, TF-IDF+SVD 64/128/256 dims 10.5/7.4/3.6; TF-IDF's wider "
        "gap is nearly all recovered by plain cross-entropy (PGR 0.95-0.99), layer 2 leaves "
        "headroom (PGR 0.86) and makes this the transfer set whose teacher is a truncated "
        "transformer, where manpages' is TF-IDF."
    ),
    agent_description=(
        "Does a one-line summary and a paragraph of description describe the same piece of "
        "software? Names are masked. Label 1: they do."
    ),
))

# The "-hard" testbeds: the items of their "-easy" file with near-duplicate negatives
# re-drawn (`build_hard`), a TF-IDF teacher and a student that sees each pair in "full"
# form; everything else (encoder, what agents are told) is the easy testbed's. Why that
# form: `experiments.pair_features`; the measurements: each weak_note.


def _hard(easy: str, *, description: str, weak_model: TfidfSpec, weak_note: str) -> TestbedSpec:
    """The "-hard" version of a registered "-easy" testbed."""
    base = TESTBEDS[f"{easy}-easy"]
    path = base.path.with_name(base.path.name.replace(".jsonl.gz", "_hard.jsonl.gz"))
    return replace(base, name=f"{easy}-hard", path=path, description=description, weak_model=weak_model, weak_note=weak_note,
                   weak_pairs="similarity", strong_pairs="full")


register_testbed(_hard(
    "stdlib-docstrings",
    description=(
        "Does this docstring paragraph describe this function? stdlib-docstrings-easy's items "
        "(near-duplicate negatives re-drawn), taught by TF-IDF, learnt from [u, v, u*v, |u-v|] "
        "of MiniLM. Label 1: the docstring belongs to the function."
    ),
    weak_model=TfidfSpec(dim=64),
    weak_note=(
        "Measured (5 seeds, ceiling 0.736, student in full form): weak TF-IDF+SVD 64/256 dims "
        "gave gaps of 18.1/16.5 points with naive cross-entropy at PGR 0.52/0.60; MiniLM layers "
        "0-2 as teacher gave 7-8 points, cross-entropy 0.70-0.78 (3 seeds): a transformer "
        "teacher's errors are ones the student does not copy. TF-IDF-64 leaves the most headroom."
    ),
))

register_testbed(_hard(
    "manpages",
    description=(
        "Does this DESCRIPTION excerpt belong to the manual page with this one-line purpose? "
        "manpages-easy's items (near-duplicate negatives re-drawn), learnt from "
        "[u, v, u*v, |u-v|] of MiniLM. Label 1: both texts come from the same page."
    ),
    weak_model=TfidfSpec(dim=64),
    weak_note=(
        "Measured (5 seeds, ceiling 0.954, student in full form): weak TF-IDF+SVD-64 gives a "
        "9.7-point gap with the principal probe at PGR 0.18; TF-IDF-256 gave 5.5 (3 seeds)."
    ),
))

register_testbed(_hard(
    "debian-descriptions",
    description=(
        "Does this long description paragraph belong to the software package with this "
        "one-line summary? debian-descriptions-easy's items (near-duplicate negatives "
        "re-drawn), learnt from [u, v, u*v, |u-v|] of MiniLM. Label 1: both texts describe one package."
    ),
    weak_model=TfidfSpec(dim=256),
    weak_note=(
        "Measured (3 seeds, ceiling 0.899, student in full form): weak TF-IDF+SVD 64/128/256 "
        "dims gave gaps of 11.0/7.9/4.2 points with the principal probe at PGR 0.75/0.60/0.28, "
        "MiniLM layers 1/2 gave 5.3/6.2 with 0.58/0.62: only TF-IDF-256 keeps the probe below "
        "0.5, at a 4.1-point gap over 5 seeds."
    ),
))
