"""A modal that asks the supervisor for a line of text: a redirect, or a reason to deny."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class RedirectScreen(ModalScreen[str | None]):
    """Returns the text typed ("" when submitted empty: the engine says why it refuses), or
    None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="redirect.cancel")]

    def __init__(self, agent_id: str, *, prompt: str | None = None) -> None:
        super().__init__()
        self.agent_id = agent_id
        self.prompt = prompt or f"Message to {agent_id} (read before its next turn):"

    def compose(self) -> ComposeResult:
        with Vertical(id="redirect-box"):
            yield Label(self.prompt)
            yield Input(placeholder="e.g. try hard labels with strong weight decay", id="redirect-input")

    @on(Input.Submitted)
    def send_message(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
