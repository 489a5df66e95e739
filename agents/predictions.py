"""How a submission's probabilities are stored in ``SubmissionScored.predictions``."""

from __future__ import annotations

import base64

import numpy as np


def encode_predictions(probs: np.ndarray) -> str:
    """Probabilities in the scorer's id order, as base64 float32 (~10 KB for 1,855 items)."""
    return base64.b64encode(np.asarray(probs, dtype="<f4").tobytes()).decode()


def decode_predictions(text: str) -> np.ndarray:
    """The probabilities ``encode_predictions`` stored, as float64."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)
