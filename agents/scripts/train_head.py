"""Train a logistic-regression head on frozen features with the weak teacher's soft labels.

Written into an agent's sandbox by the baseline researcher; it reads only the files
the agent was given under data/ and writes a predictions file for submission. It
depends on numpy alone so it starts fast inside any sandbox.
"""

import argparse
import json

import numpy as np


def sharpen(p: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature < 1 pushes soft labels towards 0/1; 0 gives hard labels."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    if temperature == 0:
        return (p > 0.5).astype(np.float64)
    logits = np.log(p / (1 - p)) / temperature
    return 1 / (1 + np.exp(-logits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # Weight decay 1.0 and lr 0.01 are the library head's recipe. With 1e-3 and 0.1 the
    # head swung by seed between public PGR +0.5 and -1.0 on stdlib-docstrings-hard, the
    # same on shuffled weak labels: it found the label's direction and guessed its sign.
    parser.add_argument("--weight-decay", type=float, default=1.0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="predictions.json")
    args = parser.parse_args()

    x = np.load("data/train_x.npy").astype(np.float64)
    weak = np.load("data/train_weak.npy").astype(np.float64)
    test_x = np.load("data/test_x.npy").astype(np.float64)
    with open("data/test_ids.json") as f:
        test_ids = json.load(f)

    mean, std = x.mean(0), x.std(0) + 1e-6
    x, test_x = (x - mean) / std, (test_x - mean) / std
    targets = sharpen(weak, args.temperature)

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    n_val = max(1, len(x) // 10)
    val, train = order[:n_val], order[n_val:]
    print(f"train {len(train)} / held-out {n_val} items, {x.shape[1]} features; {vars(args)}")

    w = rng.normal(0, 0.01, x.shape[1])
    b = 0.0
    m_w, v_w = np.zeros_like(w), np.zeros_like(w)  # Adam moments
    for epoch in range(1, args.epochs + 1):
        z = x[train] @ w + b
        p = 1 / (1 + np.exp(-z))
        err = p - targets[train]
        grad_w = x[train].T @ err / len(train) + args.weight_decay * w
        grad_b = float(err.mean())
        m_w = 0.9 * m_w + 0.1 * grad_w
        v_w = 0.999 * v_w + 0.001 * grad_w**2
        w -= args.lr * (m_w / (1 - 0.9**epoch)) / (np.sqrt(v_w / (1 - 0.999**epoch)) + 1e-8)
        b -= args.lr * grad_b
        if epoch % max(1, args.epochs // 8) == 0 or epoch == args.epochs:
            eps = 1e-9
            loss = -np.mean(targets[train] * np.log(p + eps) + (1 - targets[train]) * np.log(1 - p + eps))
            val_p = 1 / (1 + np.exp(-(x[val] @ w + b)))
            agree = np.mean((val_p > 0.5) == (weak[val] > 0.5))
            print(f"epoch {epoch:4d}  loss {loss:.4f}  held-out agreement with weak labels {agree:.3f}")

    probs = 1 / (1 + np.exp(-(test_x @ w + b)))
    with open(args.out, "w") as f:
        json.dump({"ids": test_ids, "probs": [float(v) for v in probs]}, f)
    print(f"wrote {len(probs)} predictions to {args.out}")


if __name__ == "__main__":
    main()
