"""Fine-tuning mode on a tiny randomly initialised BERT (seconds on a CPU, no download)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from experiments.errors import EncoderLoadError, ExperimentError
from experiments.features import default_model_path
from experiments.finetune import FinetuneConfig, LoRALinear, apply_lora, build_classifier, run_w2s_finetune
from tests.experiments.test_user_testbeds import write_dir

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the MiniLM tokenizer."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    source = Path(default_model_path())
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)
    vocab = sum(1 for _ in open(source / "vocab.txt", encoding="utf-8"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder


def test_lora_starts_as_the_base_layer_and_trains_only_adapters() -> None:
    torch.manual_seed(0)
    base = nn.Linear(8, 4)
    layer = LoRALinear(base, rank=2, alpha=4.0)
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x), base(x))  # B = 0: no change before training
    assert {n for n, p in layer.named_parameters() if p.requires_grad} == {"lora_a", "lora_b"}
    net = nn.Sequential()
    net.add_module("query", nn.Linear(8, 8))
    net.add_module("other", nn.Linear(8, 8))
    assert apply_lora(net, rank=2, alpha=4.0, targets=("query",)) == 1
    assert isinstance(net.query, LoRALinear) and not isinstance(net.other, LoRALinear)
    with pytest.raises(ExperimentError, match="lora_targets"):
        apply_lora(nn.Sequential(nn.Linear(2, 2)), rank=1, alpha=1.0, targets=("query",))


def test_classifier_counts_trainable_parameters(tiny_model: Path) -> None:
    _, model, lora = build_classifier(FinetuneConfig(model=str(tiny_model), lora_rank=4), seed=0)
    _, _, full = build_classifier(FinetuneConfig(model=str(tiny_model), lora_rank=0), seed=0)
    # LoRA: 2 layers x (query, value) x rank 4 x (32 + 32), plus the head's 33.
    assert lora == 2 * 2 * 4 * 64 + 33
    assert full > 100 * lora
    assert model.head.weight.dtype == torch.float32


def test_run_w2s_finetune_end_to_end(tiny_model: Path, tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb")
    (d / "testbed.json").write_text(json.dumps({"weak": {"kind": "tfidf", "dim": 8}}))
    steps: list[tuple[int, int]] = []
    cfg = FinetuneConfig(model=str(tiny_model), epochs=1, batch_size=16, max_length=32, lora_rank=4)
    result = run_w2s_finetune(f"jsonl:{d}", config=cfg, seeds=1, cache_dir=tmp_path / "cache",
                              on_progress=lambda s, t: steps.append((s, t)))
    assert result["mode"] == "finetune" and result["device"] == "cpu" and result["dtype"] == "float32"
    for key in ("acc_weak", "acc_w2s", "acc_ceiling"):
        assert 0.0 <= result[key] <= 1.0
    assert result["n_train"] == 40 and result["n_test"] == 40
    assert steps[-1] == (3, 3)  # 40 items / 16 a batch = 3 steps, for the student and the ceiling
    assert (result["pgr"] is None) == (result["note"] is not None)
    assert json.loads(json.dumps(result)) == result  # JSON-ready
    assert np.isfinite(result["seconds"])


def test_unknown_model_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="cannot load model"):
        build_classifier(FinetuneConfig(model=str(tmp_path / "missing")), seed=0)
