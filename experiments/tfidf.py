"""TF-IDF + truncated SVD text vectors (latent semantic analysis), in numpy and torch.

The classic weak text model: bag of words and word bigrams weighted by TF-IDF
(Sparck Jones 1972; sublinear tf and smoothed idf as in scikit-learn's
TfidfVectorizer), reduced to `dim` dimensions by a truncated SVD (Deerwester et al.
1990, "Indexing by latent semantic analysis") computed with the randomized range
finder of Halko, Martinsson and Tropp (2011). It sees which words occur, never their
order or meaning, which is why it makes a weak teacher next to a transformer.

The vocabulary, idf weights and SVD are fitted on the texts being embedded (all of a
testbed's distinct texts, without labels), so the result is a pure function of the
texts and the spec, and is cached in safetensors like the encoder features.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from experiments.features import ProgressFn, default_cache_dir, texts_hash

# Bump when the vectors computed for a spec change, so old cache files are ignored.
TFIDF_VERSION = 1
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # words of 2+ characters, as scikit-learn does


@dataclass(frozen=True)
class TfidfSpec:
    """A TF-IDF + SVD model: n-gram range, vocabulary limits and output dimension."""

    dim: int = 256
    max_ngram: int = 2
    min_df: int = 2
    max_features: int = 50_000
    sublinear_tf: bool = True
    power_iterations: int = 5
    seed: int = 0

    @property
    def label(self) -> str:
        """A short model name for reports."""
        return f"TF-IDF+SVD-{self.dim}"

    def key(self) -> str:
        """Everything that changes the vectors, as one string."""
        return json.dumps({"v": TFIDF_VERSION, **asdict(self)}, sort_keys=True)


def tokens(text: str, max_ngram: int) -> list[str]:
    """Lower-cased words and word n-grams up to `max_ngram` (joined by a space)."""
    words = _TOKEN.findall(text.lower())
    out = list(words)
    for n in range(2, max_ngram + 1):
        out.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return out


def tfidf_matrix(texts: Sequence[str], spec: TfidfSpec) -> torch.Tensor:
    """Sparse (texts x terms) float64 TF-IDF matrix with L2-normalised rows (torch CSR)."""
    counts = [Counter(tokens(t, spec.max_ngram)) for t in texts]
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    # The most frequent terms above min_df, ties broken by the term so the order is stable.
    kept = sorted((t for t, n in df.items() if n >= spec.min_df), key=lambda t: (-df[t], t))
    vocab = {t: i for i, t in enumerate(kept[: spec.max_features])}
    n = len(texts)
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in vocab], dtype=np.float64)
    crow: list[int] = [0]
    cols: list[int] = []
    vals: list[float] = []
    for c in counts:
        row = [(vocab[t], k) for t, k in c.items() if t in vocab]
        row.sort()
        weights = np.array([(1.0 + math.log(k)) if spec.sublinear_tf else float(k) for _, k in row])
        if len(row):
            weights *= idf[[j for j, _ in row]]
            weights /= max(float(np.linalg.norm(weights)), 1e-12)
        cols.extend(j for j, _ in row)
        vals.extend(weights.tolist())
        crow.append(len(cols))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta": noise for users
        return torch.sparse_csr_tensor(
            torch.tensor(crow, dtype=torch.int64), torch.tensor(cols, dtype=torch.int64),
            torch.tensor(vals, dtype=torch.float64), size=(n, max(len(vocab), 1)),
        )


def randomized_svd_embed(matrix: torch.Tensor, dim: int, *, power_iterations: int, seed: int) -> np.ndarray:
    """Rows of `matrix` projected on its top `dim` right singular vectors (U * S).

    Halko et al. (2011), Algorithm 4.4: a Gaussian sketch with 10 extra columns, power
    iterations re-orthonormalised by QR each time, then an exact SVD of the small matrix.
    """
    n, m = matrix.shape
    k = max(1, min(dim, n, m))
    width = min(k + 10, n, m)
    gen = torch.Generator().manual_seed(seed)
    omega = torch.randn(m, width, generator=gen, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mt = matrix.t().to_sparse_csr()
    q, _ = torch.linalg.qr(matrix @ omega)
    for _ in range(power_iterations):
        z, _ = torch.linalg.qr(mt @ q)
        q, _ = torch.linalg.qr(matrix @ z)
    b = (mt @ q).t()  # (width, m) = q^T A
    u_small, s, _ = torch.linalg.svd(b, full_matrices=False)
    out = (q @ u_small[:, :k]) * s[:k]
    if k < dim:  # fewer texts or terms than dimensions: pad, keep the documented shape
        out = torch.cat([out, torch.zeros(n, dim - k, dtype=out.dtype)], dim=1)
    return out.numpy().astype(np.float32)


def tfidf_embed(texts: Sequence[str], spec: TfidfSpec) -> np.ndarray:
    """(len(texts), spec.dim) float32 LSA vectors, fitted on `texts` themselves."""
    if not texts:
        return np.zeros((0, spec.dim), dtype=np.float32)
    return randomized_svd_embed(tfidf_matrix(texts, spec), spec.dim,
                                power_iterations=spec.power_iterations, seed=spec.seed)


def tfidf_cache_path(texts: Sequence[str], spec: TfidfSpec, cache_dir: Path) -> Path:
    """Cache file of these texts under this spec."""
    key = hashlib.sha256(f"{spec.key()}|{texts_hash(texts)}".encode()).hexdigest()[:40]
    return cache_dir / f"tfidf-{key}.safetensors"


def is_tfidf_cached(texts: Sequence[str], spec: TfidfSpec, cache_dir: Path | str | None = None) -> bool:
    """Whether `cached_tfidf` would read these vectors from disk."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return tfidf_cache_path(texts, spec, directory).is_file()


def cached_tfidf(
    texts: Sequence[str],
    spec: TfidfSpec,
    *,
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
) -> np.ndarray:
    """`tfidf_embed` through a safetensors cache keyed by the spec and the texts' hash."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = tfidf_cache_path(texts, spec, directory)
    try:
        arr = load_file(str(path))["embeddings"]
        if arr.shape == (len(texts), spec.dim):
            if on_progress is not None:
                on_progress(len(texts), len(texts))
            return arr
    except Exception:  # noqa: BLE001  (missing or damaged file: recompute)
        pass
    if on_progress is not None:
        on_progress(0, len(texts))
    arr = tfidf_embed(texts, spec)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_file({"embeddings": np.ascontiguousarray(arr)}, str(tmp),
              metadata={"model": spec.label, "spec": spec.key(), "texts": str(len(texts))})
    os.replace(tmp, path)  # write then rename: a crash never leaves half a file
    if on_progress is not None:
        on_progress(len(texts), len(texts))
    return arr
