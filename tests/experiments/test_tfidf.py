"""TF-IDF + truncated SVD: the matrix, the randomized SVD, and its cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from experiments import tfidf
from experiments.tfidf import TfidfSpec, cached_tfidf, is_tfidf_cached, randomized_svd_embed, tfidf_matrix, tokens

TEXTS = [
    "list directory contents",
    "copy files and directories",
    "remove files or directories",
    "list the contents of an archive file",
    "print the contents of a file",
    "a remote login client with encrypted sessions",
] * 2 + ["unique words only here"]


def test_tokens_are_words_and_bigrams() -> None:
    assert tokens("List the DIR, a b!", 2) == ["list", "the", "dir", "list the", "the dir"]
    assert tokens("x y", 1) == []  # single characters are not words


def test_matrix_rows_are_unit_tfidf() -> None:
    spec = TfidfSpec(dim=4, min_df=2)
    m = tfidf_matrix(TEXTS, spec).to_dense().numpy()
    assert m.shape[0] == len(TEXTS)
    norms = np.linalg.norm(m, axis=1)
    np.testing.assert_allclose(norms[:-1], 1.0, atol=1e-9)
    assert norms[-1] == 0.0  # every word of the last text occurs once: below min_df
    # A rarer term weighs more than a common one in the same text.
    vocab_row = m[0]
    assert vocab_row.max() > vocab_row[vocab_row > 0].min()


def test_randomized_svd_matches_exact_svd() -> None:
    rng = np.random.default_rng(0)
    # A decaying spectrum, as text matrices have: rank 5 plus a little noise.
    dense = rng.random((60, 5)) @ rng.random((5, 40)) * np.array([8, 4, 2, 1, 0.5]).repeat(8) \
        + 0.01 * rng.random((60, 40))
    got = randomized_svd_embed(torch.from_numpy(dense).to_sparse_csr(), 5, power_iterations=5, seed=0)
    u, s, _ = np.linalg.svd(dense, full_matrices=False)
    np.testing.assert_allclose(np.linalg.norm(got, axis=0), s[:5], rtol=1e-3)
    # Same subspace: projecting the exact U*S onto ours loses nothing.
    exact = u[:, :5] * s[:5]
    q, _ = np.linalg.qr(got)
    np.testing.assert_allclose(q @ (q.T @ exact), exact, atol=1e-3)


def test_fewer_texts_than_dimensions_pads() -> None:
    out = tfidf.tfidf_embed(TEXTS[:3], TfidfSpec(dim=16, min_df=1))
    assert out.shape == (3, 16) and out.dtype == np.float32
    assert np.all(out[:, 3:] == 0)


def test_cache_hit_skips_the_computation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = tfidf.tfidf_embed
    monkeypatch.setattr(tfidf, "tfidf_embed", lambda texts, spec: calls.append(1) or real(texts, spec))
    spec = TfidfSpec(dim=3)
    assert not is_tfidf_cached(TEXTS, spec, tmp_path)
    first = cached_tfidf(TEXTS, spec, cache_dir=tmp_path)
    assert is_tfidf_cached(TEXTS, spec, tmp_path) and len(calls) == 1
    np.testing.assert_array_equal(cached_tfidf(TEXTS, spec, cache_dir=tmp_path), first)
    assert len(calls) == 1
    cached_tfidf(TEXTS, TfidfSpec(dim=4), cache_dir=tmp_path)  # another spec: another key
    cached_tfidf(TEXTS[:-1], spec, cache_dir=tmp_path)  # other texts: another key
    assert len(calls) == 3
    assert len(list(tmp_path.glob("tfidf-*.safetensors"))) == 3
