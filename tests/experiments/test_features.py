"""Embedding, pooling and the safetensors feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from experiments import EncoderLoadError, EncoderSpec, cached_embeddings, default_cache_dir, embed_texts, features

TEXTS = [
    "json.dumps(obj, *, skipkeys=False)",
    "Serialize obj to a JSON formatted str.",
    "os.path.join(a, *p)",
    (
        "Join two or more pathname components, inserting '/' as needed, and a long tail "
        "so that this text needs noticeably more tokens than the others in its batch."
    ),
    "x",
]


def test_default_spec_points_at_a_local_model() -> None:
    spec = EncoderSpec()
    assert (Path(spec.model) / "config.json").is_file()
    assert spec.local_files_only and spec.pooling == "mean"
    assert features.num_layers(spec) == 6


def test_embed_texts_gives_every_requested_layer_in_input_order() -> None:
    spec = EncoderSpec(batch_size=2)  # several batches, sorted by length inside
    progress: list[tuple[int, int]] = []
    out = embed_texts(TEXTS, spec, layers=[0, -1], on_progress=lambda d, t: progress.append((d, t)))
    assert sorted(out) == [0, 6]
    assert all(a.shape == (len(TEXTS), 384) and a.dtype == np.float32 for a in out.values())
    assert progress[0] == (0, 5) and progress[-1] == (5, 5)
    alone = embed_texts([TEXTS[3]], spec, layers=[-1])[6]
    np.testing.assert_allclose(out[6][3], alone[0], atol=1e-4)
    assert not np.allclose(out[0], out[6])


def test_cache_hit_does_not_load_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real_loader = features._load_encoder

    def counting_loader(spec: EncoderSpec):  # type: ignore[no-untyped-def]
        loads.append(spec.model)
        return real_loader(spec)

    monkeypatch.setattr(features, "_load_encoder", counting_loader)
    spec = EncoderSpec()
    first = cached_embeddings(TEXTS, spec, layers=[1, -1], cache_dir=tmp_path)
    assert len(loads) == 1
    assert len(list(tmp_path.glob("*.safetensors"))) == 7  # every layer of the pass is kept
    second = cached_embeddings(TEXTS, spec, layers=[1, -1], cache_dir=tmp_path)
    other_layers = cached_embeddings(TEXTS, spec, layers=[0, 3], cache_dir=tmp_path)
    assert len(loads) == 1
    for layer in (1, 6):
        np.testing.assert_array_equal(first[layer], second[layer])
    assert sorted(other_layers) == [0, 3]
    # A damaged cache file is recomputed, not trusted.
    damaged = min(tmp_path.glob("*.safetensors"))
    damaged.write_bytes(damaged.read_bytes()[:100])
    third = cached_embeddings(TEXTS, spec, layers=[0, 1, 2, 3, 4, 5, 6], cache_dir=tmp_path)
    assert len(loads) == 2
    np.testing.assert_allclose(third[6], first[6], atol=1e-5)


def test_cache_key_covers_texts_pooling_and_layer() -> None:
    spec = EncoderSpec()
    fp = features.model_fingerprint(spec)
    base = features.cache_key(fp, spec, features.texts_hash(TEXTS), 1)
    assert base != features.cache_key(fp, spec, features.texts_hash(TEXTS[:-1]), 1)
    assert base != features.cache_key(fp, spec, features.texts_hash(TEXTS), 2)
    assert base != features.cache_key(fp, EncoderSpec(pooling="cls"), features.texts_hash(TEXTS), 1)
    assert features.texts_hash(["ab", "c"]) != features.texts_hash(["a", "bc"])


def test_pooling_ignores_padding_on_either_side() -> None:
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right_pad = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left_pad = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert features._pool(hidden, right_pad, "mean")[:, 0].tolist() == [0.5, 5.5]
    assert features._pool(hidden, right_pad, "cls")[:, 0].tolist() == [0.0, 4.0]
    assert features._pool(hidden, right_pad, "last")[:, 0].tolist() == [1.0, 7.0]
    assert features._pool(hidden, left_pad, "last")[:, 0].tolist() == [3.0, 7.0]


def test_missing_model_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="cannot load"):
        embed_texts(["a"], EncoderSpec(model=str(tmp_path / "no-model")))


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AAR_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "features"  # where the settings' cache_dir keeps them
    monkeypatch.delenv("AAR_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "aar" / "features"
