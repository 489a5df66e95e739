"""experiments/ stands alone: importing it pulls in nothing of ours and no UI or pydantic."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_pulls_in_only_allowed_packages() -> None:
    code = (
        "import json, sys, experiments; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"agents", "sandboxes", "tui", "textual", "pydantic", "anthropic", "docker"}
    # transformers loads lazily, only when a model or config is needed.
    assert "transformers" not in loaded
