"""Turn a testbed's items into one feature vector each, for the weak and the strong model.

A text model is an encoder cut at some layer (`features.EncoderLayer`) or TF-IDF + SVD
(`tfidf.TfidfSpec`); `FeatureModel` is either. Every distinct text is embedded once per
model, through that model's safetensors cache; encoder layers of one checkpoint share
a single forward pass.

Pairs: left and right are embedded separately and L2-normalised to u and v; the
testbed's spec names, for each of its two models, how a pair becomes one vector
(`features.PairForm`):
- "similarity", [u * v, |u - v|]: a linear head on u * v can express cosine similarity,
  and |u - v| shows where the texts differ. One joint text "left [SEP] right" left the
  full encoder at chance (54%) on stdlib-docstrings, because a bi-encoder's pooled
  vector does not encode whether its two halves match. In this form the label is the
  features' top direction: a threshold on the cosine alone gets 0.717 where a trained
  head gets 0.725, and the principal probe recovers 0.78-0.88 of the gap with no labels.
- "full", [u, v, u * v, |u - v|] (InferSent's pair features; Conneau et al. 2017): the
  student also sees what each text is about, so the features' top directions are
  topics, not the match. Measured on stdlib-docstrings with a TF-IDF-256 teacher (3 seeds):
  the same ceiling (0.736 vs 0.734), the principal probe's PGR 0.05 instead of 0.88, and
  naive cross-entropy's 0.59 instead of 0.76: the student can now imitate the teacher's
  mistakes, so what it learns depends on how it is taught.
Single-text items (user testbeds) become u itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.features import (
    EncoderLayer,
    EncoderSpec,
    PairForm,
    ProgressFn,
    cached_embeddings,
    is_cached,
    num_layers,
    resolve_layers,
)
from experiments.testbeds.testbed import Testbed
from experiments.tfidf import TfidfSpec, cached_tfidf, is_tfidf_cached

FeatureModel = EncoderLayer | TfidfSpec


@dataclass(frozen=True)
class WeakStrongFeatures:
    """Item features of every testbed item (rows follow `testbed.ids`)."""

    weak: np.ndarray
    strong: np.ndarray


def _normalise(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def _passes(models: Sequence[FeatureModel]) -> list[EncoderSpec | TfidfSpec]:
    """The distinct computations `models` need: one per encoder checkpoint, one per TF-IDF spec."""
    out: list[EncoderSpec | TfidfSpec] = []
    for m in models:
        key = m.encoder if isinstance(m, EncoderLayer) else m
        if key not in out:
            out.append(key)
    return out


def text_features(
    texts: Sequence[str],
    models: Sequence[FeatureModel],
    *,
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
) -> list[np.ndarray]:
    """float32 vectors of `texts` under each model (one array per model, in order).

    `on_progress(done, total)` counts texts over all passes that are needed.
    """
    passes = _passes(models)
    n, total = len(texts), len(texts) * len(passes)
    results: dict[tuple[int, int], np.ndarray] = {}  # (pass, layer or -1) -> vectors
    for p, spec in enumerate(passes):
        def progress(done: int, _total: int, offset: int = p * n) -> None:
            if on_progress is not None:
                on_progress(offset + done, total)

        if isinstance(spec, TfidfSpec):
            results[(p, -1)] = cached_tfidf(texts, spec, cache_dir=cache_dir, on_progress=progress)
            continue
        n_layers = num_layers(spec)
        layers = sorted({resolve_layers([m.layer], n_layers)[0]
                         for m in models if isinstance(m, EncoderLayer) and m.encoder == spec})
        emb = cached_embeddings(texts, spec, layers=layers, cache_dir=cache_dir, on_progress=progress)
        results.update({(p, layer): arr for layer, arr in emb.items()})
    out = []
    for m in models:
        if isinstance(m, TfidfSpec):
            out.append(results[(passes.index(m), -1)])
        else:
            p = passes.index(m.encoder)
            out.append(results[(p, resolve_layers([m.layer], num_layers(m.encoder))[0])])
    return out


def features_cached(texts: Sequence[str], models: Sequence[FeatureModel], *,
                    cache_dir: Path | str | None = None) -> bool:
    """Whether `text_features` would read everything from the cache (loads no model)."""
    for m in models:
        if isinstance(m, TfidfSpec):
            if not is_tfidf_cached(texts, m, cache_dir):
                return False
        elif not is_cached(texts, m.encoder, layers=[m.layer], cache_dir=cache_dir):
            return False
    return True


def item_features(testbed: Testbed, vectors: np.ndarray, texts: Sequence[str],
                  form: PairForm = "similarity") -> np.ndarray:
    """Per-item features from per-text vectors: a pair in `form`, a single text as u."""
    index = {t: i for i, t in enumerate(texts)}
    u = _normalise(vectors[np.array([index[t] for t in testbed.left])])
    if testbed.right is None:
        return u.astype(np.float32)
    v = _normalise(vectors[np.array([index[t] for t in testbed.right])])
    if form == "similarity":
        parts = [u * v, np.abs(u - v)]
    elif form == "full":
        parts = [u, v, u * v, np.abs(u - v)]
    else:
        raise ValueError(f"unknown pair form {form!r}")
    return np.concatenate(parts, axis=1).astype(np.float32)


def model_features(
    testbed: Testbed,
    models: Sequence[FeatureModel],
    *,
    forms: Sequence[PairForm] | None = None,
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
) -> list[np.ndarray]:
    """Item features of every testbed item under each model, pairs in `forms` (one per
    model; default: all "similarity")."""
    texts = testbed.texts()
    forms = list(forms) if forms is not None else ["similarity"] * len(models)
    if len(forms) != len(models):
        raise ValueError("give one pair form per model")
    vectors = text_features(texts, models, cache_dir=cache_dir, on_progress=on_progress)
    return [item_features(testbed, v, texts, form) for v, form in zip(vectors, forms)]


def pair_features(
    testbed: Testbed,
    *,
    layers: list[int],
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
) -> dict[int, np.ndarray]:
    """float32 item features for each requested layer of the testbed's encoder."""
    n_layers = num_layers(testbed.spec.encoder)
    wanted = resolve_layers(layers, n_layers)
    models = [EncoderLayer(testbed.spec.encoder, layer) for layer in wanted]
    return dict(zip(wanted, model_features(testbed, models, cache_dir=cache_dir, on_progress=on_progress)))


def weak_strong_features(
    testbed: Testbed,
    *,
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
) -> WeakStrongFeatures:
    """Weak and strong item features of a testbed, as its spec names the two models."""
    spec = testbed.spec
    weak, strong = model_features(testbed, [spec.weak, spec.strong], forms=[spec.weak_pairs, spec.strong_pairs],
                                  cache_dir=cache_dir, on_progress=on_progress)
    return WeakStrongFeatures(weak=weak, strong=strong)
