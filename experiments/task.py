"""The W2S task as an agent sees it, and the scorer that stays outside its sandbox.

`prepare_task` runs the weak teacher once (fixed `teacher_seed`) so every agent gets
the same weak labels, computes the weak and ceiling baselines on each test part, and
keeps the test labels inside a `Scorer`. `W2STask.write_agent_files` writes only
features, weak labels, opaque test ids and TASK.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiments.baselines import BASELINE_SEEDS, fixed_baselines
from experiments.errors import ExperimentError
from experiments.features import PAIR_FORMULAS, ProgressFn
from experiments.heads import LogisticHead
from experiments.pair_features import weak_strong_features
from experiments.protocol import accuracy, train_teacher
from experiments.scorer import FEEDBACK_STEP, Scorer, TaskBaselines
from experiments.testbeds import load_testbed
from experiments.testbeds.testbed import Splits

PREDICTIONS_FILE = "predictions.json"

_TASK_MD = """\
# Weak-to-strong task

{description}

You train a strong model using only labels from a weaker model. No ground-truth
label exists anywhere in your files; the scorer holds them.

## Files
| file | content |
|---|---|
| `train_x.npy` | float32 array ({n_train}, {dim}): strong-model features of the training items |
| `train_weak.npy` | float32 array ({n_train},): the weak teacher's P(label = 1) for each training row |
| `test_x.npy` | float32 array ({n_test}, {dim}): strong-model features of the test items |
| `test_ids.json` | JSON list of {n_test} opaque ids, one per row of `test_x.npy`, same order |

Each item is a pair of texts; its features are {pair_formula} where u and v are the
L2-normalised embeddings of the two texts by the strong encoder (the last layer of
{model_name}). The weak teacher is a linear head on {weak_description},
trained on ground truth of other items. Its labels are
wrong on a sizeable share of items; the strong features know more than the teacher.

## Goal
Predict P(label = 1) for every test item. Your score is PGR, performance gap recovered:

    PGR = (acc_yours - acc_weak) / (acc_ceiling - acc_weak)

where acc_weak is the weak teacher's test accuracy and acc_ceiling that of a linear head
on the strong features trained on ground truth. 0 means no better than the teacher,
1 means as good as training on true labels. An item counts as predicted 1 when P > 0.5.

## Submission
Write `{predictions}`:

    {{"ids": ["{example_id}", ...], "probs": [0.73, ...]}}

with every id of `test_ids.json` exactly once (any order) and each prob a finite number
in [0, 1]. The test items are split into a public and a private part; you see only the
public PGR, rounded to {step}. An invalid submission is rejected with the reason.
"""


@dataclass(frozen=True, eq=False)
class W2STask:
    """What one W2S task gives agents, plus baselines and the scorer for the harness."""

    testbed: str
    description: str  # the agent-facing one (TestbedSpec.agent_description)
    dataset_hash: str
    teacher_seed: int
    weak_layer: int
    model_name: str
    train_x: np.ndarray
    train_weak: np.ndarray
    test_x: np.ndarray
    test_ids: tuple[str, ...]
    baselines: TaskBaselines
    _scorer: Scorer = field(repr=False)
    weak_description: str = "a weaker text model"
    pair_formula: str = PAIR_FORMULAS["similarity"]

    def scorer(self) -> Scorer:
        """The scorer for this task's test ids (the only object with test labels)."""
        return self._scorer

    def task_markdown(self) -> str:
        """The TASK.md text: task, file formats, scoring and the predictions format."""
        return _TASK_MD.format(
            description=self.description, n_train=len(self.train_x),
            n_test=len(self.test_x), dim=self.train_x.shape[1], model_name=self.model_name,
            weak_description=self.weak_description, pair_formula=self.pair_formula,
            predictions=PREDICTIONS_FILE,
            example_id=self.test_ids[0], step=FEEDBACK_STEP,
        )

    def write_agent_files(self, dest_dir: Path | str) -> dict[str, Path]:
        """Write the agent-visible files into `dest_dir`; returns {file name: path}."""
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        paths = {name: dest / name for name in
                 ("train_x.npy", "train_weak.npy", "test_x.npy", "test_ids.json", "TASK.md")}
        np.save(paths["train_x.npy"], self.train_x.astype(np.float32), allow_pickle=False)
        np.save(paths["train_weak.npy"], self.train_weak.astype(np.float32), allow_pickle=False)
        np.save(paths["test_x.npy"], self.test_x.astype(np.float32), allow_pickle=False)
        paths["test_ids.json"].write_text(json.dumps(list(self.test_ids)), encoding="utf-8")
        paths["TASK.md"].write_text(self.task_markdown(), encoding="utf-8")
        return paths


def _weak_labels(teacher: LogisticHead, weak_x: np.ndarray, y: np.ndarray, splits: Splits, seed: int,
                 resample: int | None, blind: int | None) -> np.ndarray:
    """The weak labels of the agent's training rows (see ``prepare_task``'s ``blind_teacher``)."""
    labels = teacher.predict_proba(weak_x[splits.train_unlabel])
    if blind is not None:
        blind_head = train_teacher(weak_x, y, splits, seed=seed, resample=resample, shuffle=blind)
        scores = blind_head.predict_proba(weak_x[splits.train_unlabel]).astype(np.float64)
        # A head fit to noise can still lean on a direction that tracks the label; with the
        # real teacher's part regressed out, its ranks keep nothing a teacher knows.
        real = labels.astype(np.float64) - labels.mean()
        scores = scores - scores.mean() - (scores @ real) / max(real @ real, 1e-12) * real
        ranks = np.argsort(np.argsort(scores, kind="stable"), kind="stable")
        labels = np.sort(labels)[ranks]
    return labels.astype(np.float32)


def prepare_task(
    testbed_name: str,
    *,
    cache_dir: Path | str | None = None,
    teacher_seed: int = 0,
    baseline_seeds: int = BASELINE_SEEDS,
    limit: int | None = None,
    on_progress: ProgressFn | None = None,
    teacher_resample: int | None = None,
    blind_teacher: int | None = None,
) -> W2STask:
    """Build the agent-facing task and its scorer for a registered testbed.

    The weak teacher uses `teacher_seed` (and, with `teacher_resample`, learns from
    that bootstrap resample of its ground-truth split: another teacher of the same
    kind, for reproduction runs). With `blind_teacher` (a number), the agent's weak labels
    come from a teacher of the same kind trained on shuffled ground truth, which knows
    nothing about the items, carrying this teacher's values rank for rank: the same
    marginal as a real teacher's, and no permutation of any labels an agent saw. The
    scorer keeps the real teacher as its weak baseline. The ceiling baseline averages `baseline_seeds`
    seeds, cached on disk with the features. Test items are shuffled into a fixed
    order derived from the dataset hash and given ids t00000, t00001, ... that
    reveal nothing.
    """
    if baseline_seeds < 1:
        raise ExperimentError(f"baseline_seeds must be at least 1, got {baseline_seeds}")
    testbed = load_testbed(testbed_name, limit=limit)
    splits, y = testbed.splits, testbed.labels
    for part in ("train_label", "train_unlabel", "test_public", "test_private"):
        if len(getattr(splits, part)) == 0:
            raise ExperimentError(f"testbed {testbed_name!r} (limit={limit}) has no {part} items")
    feats = weak_strong_features(testbed, cache_dir=cache_dir, on_progress=on_progress)
    teacher = train_teacher(feats.weak, y, splits, seed=teacher_seed, resample=teacher_resample)
    base = fixed_baselines(testbed, feats.weak, feats.strong, seeds=baseline_seeds, cache_dir=cache_dir)

    rng = np.random.default_rng(int(testbed.dataset_hash[:16], 16))
    perm = rng.permutation(len(splits.test))
    order = splits.test[perm]
    public = np.isin(order, splits.test_public)
    width = max(5, len(str(len(order) - 1)))
    test_ids = tuple(f"t{i:0{width}d}" for i in range(len(order)))
    labels = y[order]

    weak_probs = teacher.predict_proba(feats.weak[order])
    ceiling_correct = base.ceiling_correct[:, perm]  # cached rows follow splits.test

    def part_accs(mask: np.ndarray) -> tuple[float, float]:
        return accuracy(weak_probs[mask], labels[mask]), float(ceiling_correct[:, mask].mean())

    (pw, pc), (qw, qc) = part_accs(public), part_accs(~public)
    baselines = TaskBaselines(public_acc_weak=pw, public_acc_ceiling=pc,
                              private_acc_weak=qw, private_acc_ceiling=qc)
    return W2STask(
        testbed=testbed_name,
        description=testbed.spec.agent_description,
        dataset_hash=testbed.dataset_hash,
        teacher_seed=teacher_seed,
        weak_layer=testbed.spec.weak_layer,
        model_name=testbed.spec.encoder.label,
        train_x=feats.strong[splits.train_unlabel].astype(np.float32),
        train_weak=_weak_labels(teacher, feats.weak, y, splits, teacher_seed, teacher_resample, blind_teacher),
        test_x=feats.strong[order].astype(np.float32),
        test_ids=test_ids,
        baselines=baselines,
        _scorer=Scorer(test_ids, labels, public, baselines, weak_probs=weak_probs, ceiling_correct=ceiling_correct),
        weak_description=testbed.spec.weak_description,
        pair_formula=PAIR_FORMULAS[testbed.spec.strong_pairs],
    )
