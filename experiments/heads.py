"""A linear (logistic) head on frozen features, trained in torch.

The same trainer serves the weak teacher, the ceiling and the naive student: the only
difference between them is which features and which targets they get, so a PGR
difference can't come from mismatched training recipes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class HeadConfig:
    """Training recipe: minibatch Adam with a cosine-decayed rate, L2 on the weights.

    Minibatches with a seeded order and a seeded initialisation are what make seeds
    differ; the cosine decay lets every seed settle near the regularised optimum.
    """

    steps: int = 300
    batch_size: int = 256
    lr: float = 1e-2
    # Chosen by 5-fold CV on ground truth within the training splits of
    # stdlib-docstrings (0.1 -> 3.0 moved CV accuracy 0.68 -> 0.71, flat above 1).
    l2: float = 1.0
    init_scale: float = 0.01


@dataclass(frozen=True)
class LogisticHead:
    """Standardisation statistics plus a weight vector and bias."""

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw scores for rows of `x`."""
        out: np.ndarray = ((x - self.mean) / self.scale) @ self.weight + self.bias
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(label = 1) for rows of `x`, float64 in [0, 1]."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(x).astype(np.float64), -50, 50)))


def fit_logistic(
    x: np.ndarray,
    targets: np.ndarray,
    *,
    seed: int,
    config: HeadConfig | None = None,
) -> LogisticHead:
    """Fit a logistic head to soft or hard targets in [0, 1] (binary cross-entropy)."""
    cfg = config or HeadConfig()
    if len(x) != len(targets):
        raise ValueError(f"{len(x)} feature rows but {len(targets)} targets")
    if len(x) == 0:
        raise ValueError("no training rows")
    mean = x.mean(axis=0)
    # Features that never vary would divide by zero; leave them at scale 1.
    scale = np.where(x.std(axis=0) > 1e-6, x.std(axis=0), 1.0)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    yt = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    w = (torch.randn(xt.shape[1], generator=gen) * cfg.init_scale).requires_grad_()
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps)
    n, batch = len(xt), min(cfg.batch_size, len(xt))
    perm, pos = torch.randperm(n, generator=gen), 0
    for _ in range(cfg.steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + batch]
        pos += batch
        loss = F.binary_cross_entropy_with_logits(xt[idx] @ w + b, yt[idx]) + 0.5 * cfg.l2 * (w * w).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
    weight = w.detach().numpy().astype(x.dtype)
    return LogisticHead(mean=mean, scale=scale, weight=weight, bias=float(b.item()))
