"""The image real users build for Docker sandboxes must not contain aar."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "sandboxes" / "Dockerfile"


def test_hostile_dockerfile_installs_numpy_and_torch_but_nothing_of_aar() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    text = "\n".join(lines)
    assert not [line for line in lines if re.match(r"(COPY|ADD)\b", line)], "no file of the repo enters the image"
    assert not re.search(r"pip install[^\n]*(\s\.(\s|$)|aar\b|-e\s)", text), "aar is never pip-installed"
    assert "numpy==" in text and "torch==" in text
