"""The layers hold: only tui/ imports textual; experiments/ and sandboxes/ stand alone."""

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys, {module}
ours = sorted({{m.split('.')[0] for m in sys.modules}} & {{'tui', 'agents', 'experiments', 'sandboxes'}})
print('textual' in sys.modules, ','.join(ours))
"""


def _imported(module: str) -> tuple[bool, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", set(out[1].split(",")) if len(out) > 1 else set()


@pytest.mark.parametrize(
    "module", ["agents.campaign", "agents.headless", "agents.export", "experiments", "sandboxes"]
)
def test_non_ui_packages_do_not_import_textual(module: str) -> None:
    textual_loaded, _ = _imported(module)
    assert not textual_loaded


@pytest.mark.parametrize("module", ["experiments", "sandboxes"])
def test_lower_layers_import_nothing_of_ours(module: str) -> None:
    _, ours = _imported(module)
    assert ours == {module}


def test_ui_does_import_textual() -> None:
    """The probe can tell: importing the app does load textual."""
    textual_loaded, ours = _imported("tui.app")
    assert textual_loaded and "agents" in ours


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    lint = subprocess.run([str(lint_imports), "--no-cache"], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
