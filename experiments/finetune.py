"""Fine-tuning mode: the strong student trained end to end on the weak teacher's soft labels.

The frozen-feature protocol (`experiments.protocol`) trains only a linear head; this
mode follows Burns et al. (2023, arXiv:2312.09390) more closely: the whole strong
model, or low-rank adapters inside it, learns from weak labels. The adapters are LoRA
(Hu et al. 2021, arXiv:2106.09685) in plain torch: each targeted `nn.Linear` keeps its
frozen weight W and adds (alpha / r) * B A x with A (r x in) small random and B
(out x r) zero, so training starts from the pretrained model exactly.

Any `transformers` checkpoint loads by name or path (`AutoModel`: encoders such as
BERT or MiniLM, or decoders such as Qwen and Llama with `pooling="last"`). A pair is
fed as one sequence (the tokenizer's text pair), so the model attends across both
texts. The weak teacher is the testbed's frozen weak model with a linear head, as in
the frozen protocol; the ceiling is the same fine-tuning on ground truth. CUDA is used
when available (bfloat16 there), else the CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.errors import EncoderLoadError, ExperimentError
from experiments.features import ProgressFn, _pool, default_model_path
from experiments.pair_features import model_features
from experiments.protocol import MIN_GAP, accuracy, pgr, train_teacher
from experiments.testbeds import Testbed, load_testbed

# Projection names LoRA targets by default: attention queries and values of BERT-like
# encoders ("query", "value") and of Llama/Qwen-like decoders ("q_proj", "v_proj").
DEFAULT_TARGETS = ("query", "value", "q_proj", "v_proj")


@dataclass(frozen=True)
class FinetuneConfig:
    """Model, adapters and training recipe of the fine-tuned student (and ceiling).

    `lora_rank` 0 means full fine-tuning. `dtype` "auto" is bfloat16 on CUDA, float32
    on the CPU. `max_train` caps the training items (useful on a CPU).
    """

    model: str = field(default_factory=default_model_path)
    pooling: Literal["mean", "cls", "last"] = "mean"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = DEFAULT_TARGETS
    epochs: int = 2
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.0
    max_length: int = 256
    dtype: str = "auto"
    device: str | None = None
    local_files_only: bool = True
    max_train: int | None = None
    train_ceiling: bool = True


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update (alpha / r) * B A."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.scale = alpha / rank
        dtype, device = base.weight.dtype, base.weight.device
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=dtype, device=device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=dtype, device=device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as nn.Linear initialises weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base output plus the low-rank correction."""
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale


def apply_lora(model: nn.Module, *, rank: int, alpha: float, targets: Sequence[str]) -> int:
    """Freeze `model` and wrap every nn.Linear whose name ends in a target; returns how many."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = 0
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear) and child_name in targets:
                setattr(module, child_name, LoRALinear(child, rank, alpha))
                wrapped += 1
    if wrapped == 0:
        raise ExperimentError(f"no nn.Linear named {list(targets)} found for LoRA; "
                              "set lora_targets to the model's projection names or lora_rank=0")
    return wrapped


class Classifier(nn.Module):
    """A transformers backbone, pooled, and a linear head giving one logit per sequence."""

    def __init__(self, backbone: nn.Module, hidden_size: int, pooling: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,)."""
        hidden = self.backbone(**batch).last_hidden_state
        pooled = _pool(hidden, batch["attention_mask"], self.pooling)  # type: ignore[arg-type]
        return self.head(pooled.to(self.head.weight.dtype)).squeeze(-1)


def resolve_device(cfg: FinetuneConfig) -> tuple[torch.device, torch.dtype]:
    """The configured device (default: CUDA when present) and weight dtype."""
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if cfg.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    else:
        dtype = getattr(torch, cfg.dtype)
    return device, dtype


def build_classifier(cfg: FinetuneConfig, *, seed: int) -> tuple[Any, Classifier, int]:
    """(tokenizer, classifier on its device, trainable parameter count) for `cfg`."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    device, dtype = resolve_device(cfg)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg.model, local_files_only=cfg.local_files_only)
        backbone = AutoModel.from_pretrained(cfg.model, local_files_only=cfg.local_files_only, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise EncoderLoadError(f"cannot load model {cfg.model!r}: {exc}") from exc
    if tokenizer.pad_token is None:  # decoder LMs ship without one
        tokenizer.pad_token = tokenizer.eos_token
    if cfg.lora_rank > 0:
        apply_lora(backbone, rank=cfg.lora_rank, alpha=cfg.lora_alpha, targets=cfg.lora_targets)
    torch.manual_seed(seed)  # the head's (and adapters') initialisation
    model = Classifier(backbone, int(backbone.config.hidden_size), cfg.pooling).to(device)
    model.head.to(torch.float32)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return tokenizer, model, trainable


def _batches(tokenizer: Any, left: Sequence[str], right: Sequence[str] | None, idx: Sequence[int],
             cfg: FinetuneConfig, device: torch.device) -> dict[str, torch.Tensor]:
    texts = [left[i] for i in idx]
    pairs = [right[i] for i in idx] if right is not None else None
    enc = tokenizer(texts, pairs, padding=True, truncation=True, max_length=cfg.max_length, return_tensors="pt")
    return {k: v.to(device) for k, v in enc.items()}


def train_classifier(
    cfg: FinetuneConfig, left: Sequence[str], right: Sequence[str] | None, targets: np.ndarray, *,
    seed: int, on_step: ProgressFn | None = None,
) -> tuple[Any, Classifier, int]:
    """Fine-tune a fresh classifier on soft targets in [0, 1] (binary cross-entropy)."""
    tokenizer, model, trainable = build_classifier(cfg, seed=seed)
    device = next(model.head.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(left) / cfg.batch_size)
    total = max(1, steps_per_epoch * cfg.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total))  # linear decay
    gen = torch.Generator().manual_seed(seed)
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    model.train()
    step = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(left), generator=gen).tolist()
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            logits = model(**_batches(tokenizer, left, right, idx, cfg, device))
            loss = F.binary_cross_entropy_with_logits(logits.float(), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if on_step is not None:
                on_step(step, total)
    model.eval()
    return tokenizer, model, trainable


def predict(tokenizer: Any, model: Classifier, left: Sequence[str], right: Sequence[str] | None,
            cfg: FinetuneConfig) -> np.ndarray:
    """P(label = 1) for every item, float64."""
    device = next(model.head.parameters()).device
    out = np.zeros(len(left), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(left), cfg.batch_size * 2):
            idx = list(range(start, min(start + cfg.batch_size * 2, len(left))))
            logits = model(**_batches(tokenizer, left, right, idx, cfg, device))
            out[idx] = torch.sigmoid(logits.float()).cpu().numpy()
    return out


def _subset(tb: Testbed, idx: np.ndarray) -> tuple[list[str], list[str] | None]:
    return [tb.left[i] for i in idx], ([tb.right[i] for i in idx] if tb.right is not None else None)


def run_w2s_finetune(
    testbed_name: str,
    *,
    config: FinetuneConfig | None = None,
    seeds: int = 1,
    cache_dir: Path | str | None = None,
    limit: int | None = None,
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """The W2S protocol with a fine-tuned strong student (and ceiling), over `seeds` seeds.

    Returns a JSON-ready dict: accuracies averaged over seeds, the gap, PGR (None with a
    note when the gap is below MIN_GAP), per-seed numbers, device, trainable
    parameters and seconds. `on_progress(step, total)` reports training steps.
    """
    cfg = config or FinetuneConfig()
    if seeds < 1:
        raise ExperimentError(f"seeds must be at least 1, got {seeds}")
    start = time.perf_counter()
    tb = load_testbed(testbed_name, limit=limit)
    splits, y = tb.splits, tb.labels
    (weak_x,) = model_features(tb, [tb.spec.weak], forms=[tb.spec.weak_pairs],
                               cache_dir=cache_dir)  # the student needs no frozen features
    train_idx = splits.train_unlabel[: cfg.max_train] if cfg.max_train else splits.train_unlabel
    train_l, train_r = _subset(tb, train_idx)
    test_l, test_r = _subset(tb, splits.test)
    y_test = y[splits.test]
    per_seed: list[dict[str, Any]] = []
    trainable = 0
    for seed in range(seeds):
        teacher = train_teacher(weak_x, y, splits, seed=seed)
        weak_soft = teacher.predict_proba(weak_x[train_idx])
        row: dict[str, Any] = {"seed": seed, "acc_weak": accuracy(teacher.predict_proba(weak_x[splits.test]), y_test)}
        tok, model, trainable = train_classifier(cfg, train_l, train_r, weak_soft, seed=seed, on_step=on_progress)
        row["acc_w2s"] = accuracy(predict(tok, model, test_l, test_r, cfg), y_test)
        del model
        if cfg.train_ceiling:
            tok, model, _ = train_classifier(cfg, train_l, train_r, y[train_idx].astype(np.float64),
                                             seed=seed, on_step=on_progress)
            row["acc_ceiling"] = accuracy(predict(tok, model, test_l, test_r, cfg), y_test)
            del model
        per_seed.append(row)
    mean: dict[str, float] = {k: float(np.mean([r[k] for r in per_seed]))
                              for k in ("acc_weak", "acc_w2s", "acc_ceiling") if k in per_seed[0]}
    gap = mean["acc_ceiling"] - mean["acc_weak"] if "acc_ceiling" in mean else None
    enough = gap is not None and gap >= MIN_GAP
    device, dtype = resolve_device(cfg)
    return {
        "testbed": testbed_name, "mode": "finetune", "model": cfg.model, "device": str(device),
        "dtype": str(dtype).removeprefix("torch."), "seeds": seeds, **mean, "gap": gap,
        "pgr": pgr(mean["acc_w2s"], mean["acc_weak"], mean["acc_ceiling"]) if enough else None,
        "note": None if enough else ("no ceiling trained" if gap is None else
                                     f"gap too small: {100 * gap:.1f} points < {100 * MIN_GAP:.0f}"),
        "n_train": len(train_idx), "n_test": len(splits.test), "trainable_params": trainable,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "per_seed": per_seed, "seconds": time.perf_counter() - start,
    }
