"""Modal screens: a line of text (redirect, deny reason, forum post), the approval prompt,
edit-then-approve, search, and the grants in force. Each returns its answer through
``dismiss``; the app turns answers into commands. Bad input is answered in the modal,
which stays open: nothing is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from agents.approvals import command_line, default_prefix, grant_scope
from agents.commands import MAX_MESSAGE_CHARS
from agents.events import ApprovalRequested, GrantAdded
from agents.search import SearchError, SearchHit, snippet_parts
from agents.items import compact_json, short
from agents.shell import join_words


class _Modal(ModalScreen[object]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def say(self, message: str, *, error: bool = True) -> None:
        self.query_one("#modal-error", Static).update(Text(message, style="bold red" if error else "dim"))


class TextPrompt(_Modal):
    """One line of text; empty or over-long text is refused here, with the reason."""

    def __init__(self, title: str, *, what: str, placeholder: str = "", limit: int = MAX_MESSAGE_CHARS) -> None:
        super().__init__()
        self.title_text, self.what, self.placeholder, self.limit = title, what, placeholder, limit

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label(self.title_text, classes="modal-title")
            yield Input(placeholder=self.placeholder, id="prompt-input")
            yield Static("enter sends · escape cancels", id="modal-error", classes="modal-hint")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.say(f"{self.what} needs some text; nothing was sent.")
            return
        if len(text) > self.limit:
            self.say(f"{self.what} of {len(text):,} characters is too long (at most {self.limit:,}); nothing was sent.")
            return
        self.dismiss(text)


@dataclass(frozen=True)
class Decision:
    """What the supervisor chose in the approval prompt."""

    action: Literal["approve", "always", "edit", "deny"]
    always: Literal["no", "agent", "all"] = "no"
    match: Literal["tool", "prefix"] = "tool"
    prefix: str = ""


def command_prefix(request: ApprovalRequested) -> tuple[str, ...] | None:
    """The words "approve always" would grant for a run_command line (``default_prefix``)."""
    return default_prefix(command_line(request.arguments)) if request.tool == "run_command" else None


class ApprovalPrompt(_Modal):
    """One request in full, and every decision with its scope stated."""

    def __init__(self, request: ApprovalRequested) -> None:
        super().__init__()
        self.request = request

    def _options(self) -> list[tuple[str, Decision]]:
        r = self.request
        if r.request_kind == "budget":
            return [("Approve: grant more and let it continue", Decision("approve")),
                    ("Deny, with a reason: it stays held", Decision("deny"))]
        options = [("Approve this call once", Decision("approve"))]
        words = command_prefix(r)
        if words:
            options.append((f"Approve, and from now on run {r.agent_id}'s {r.tool} calls without asking where "
                            f"{grant_scope(words)} (until revoked)",
                            Decision("always", "agent", "prefix", join_words(words))))
        options += [
            (f"Approve, and from now on run every {r.tool} call by {r.agent_id} without asking (until revoked)",
             Decision("always", "agent")),
            (f"Approve, and from now on run every {r.tool} call by any agent without asking (until revoked)",
             Decision("always", "all")),
            ("Edit the arguments, then approve (the model is told what ran)", Decision("edit")),
            ("Deny, with a reason the model reads", Decision("deny")),
        ]
        return options

    def compose(self) -> ComposeResult:
        r = self.request
        what = f"budget checkpoint ({r.budget})" if r.request_kind == "budget" else r.tool
        with Vertical(classes="modal-box", id="approval-box"):
            yield Label(f"Request #{r.request_id} from {r.agent_id}: {what}", classes="modal-title")
            if r.request_kind == "tool":
                yield Static(Text(json.dumps(r.arguments, indent=2, ensure_ascii=False)[:4000]), id="approval-args")
            yield Static(Text(f"asked by: {r.rule}", style="dim"))
            yield OptionList(*[Option(text, id=str(i)) for i, (text, _) in enumerate(self._options())],
                             id="approval-options")
            yield Static("enter chooses · escape leaves it pending", id="modal-error", classes="modal-hint")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._options()[int(event.option.id or 0)][1])


class EditPrompt(_Modal):
    """The call's arguments as JSON to edit; ctrl+s approves what is written."""

    BINDINGS = [Binding("ctrl+s", "submit", "Approve edited", id="edit.submit")]

    def __init__(self, request: ApprovalRequested) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="edit-box"):
            yield Label(f"Edit request #{self.request.request_id} ({self.request.tool}), then approve",
                        classes="modal-title")
            yield TextArea(json.dumps(self.request.arguments, indent=2, ensure_ascii=False), language="json",
                           id="edit-area")
            yield Static("ctrl+s approves these arguments · escape cancels", id="modal-error", classes="modal-hint")

    def action_submit(self) -> None:
        text = self.query_one(TextArea).text
        try:
            arguments = json.loads(text)
        except json.JSONDecodeError as exc:
            self.say(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); nothing was sent.")
            return
        if not isinstance(arguments, dict):
            self.say("the arguments must be a JSON object; nothing was sent.")
            return
        self.dismiss(arguments)


Searcher = Callable[[str], Awaitable[list[SearchHit]]]


def highlighted(snippet: str) -> Text:
    """A search snippet with its matches in bold."""
    out = Text()
    for piece, matched in snippet_parts(snippet.replace("\n", " ")):
        out.append(piece, style="bold reverse" if matched else "")
    return out


class SearchScreen(_Modal):
    """Full-text search across every transcript (FTS5 in the store); enter on a hit jumps there."""

    def __init__(self, search: Searcher, *, query: str = "") -> None:
        super().__init__()
        self.search = search
        self.query_text = query
        self.hits: list[SearchHit] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="search-box"):
            yield Label("Search every transcript", classes="modal-title")
            yield Input(value=self.query_text, placeholder='words, "a phrase", AND/OR/NOT, prefix*', id="search-input")
            yield OptionList(id="search-results")
            yield Static("enter searches · then ↓ and enter jumps to a hit · escape closes", id="modal-error",
                         classes="modal-hint")

    @on(Input.Submitted, "#search-input")
    def submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value)

    @work(exclusive=True, exit_on_error=False)
    async def run_search(self, query: str) -> None:
        results = self.query_one("#search-results", OptionList)
        started = time.perf_counter()
        try:
            hits = await self.search(query)
        except SearchError as exc:
            self.say(str(exc))
            return
        self.hits = hits
        results.clear_options()
        for i, hit in enumerate(hits):
            label = Text(f"{hit.agent_id or 'campaign'} ", style="bold")
            label.append(f"{hit.kind} ", style="cyan")
            label.append_text(highlighted(hit.snippet))
            results.add_option(Option(label, id=str(i)))
        took = (time.perf_counter() - started) * 1000
        self.say(f"{len(hits)} hit(s)" + ("; ↓ and enter jumps to one" if hits else ""), error=False)
        self.took_ms = took
        if hits:
            results.highlighted = 0

    @on(OptionList.OptionSelected, "#search-results")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.hits[int(event.option.id or 0)])


class GrantsScreen(_Modal):
    """The "approve always" grants in force; enter revokes one."""

    def __init__(self, grants: list[GrantAdded]) -> None:
        super().__init__()
        self.grants = grants

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label("Grants in force (enter revokes)", classes="modal-title")
            yield OptionList(*[Option(f"#{g.grant_id} {short(g.scope, 120)}", id=str(g.grant_id)) for g in self.grants],
                             id="grant-options")
            yield Static("" if self.grants else "No grant is in force.", id="modal-error", classes="modal-hint")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))


def describe_request(request: ApprovalRequested) -> str:
    if request.request_kind == "budget":
        return f"#{request.request_id} {request.agent_id}: budget checkpoint ({request.budget})"
    return f"#{request.request_id} {request.agent_id}: {request.tool} {short(compact_json(request.arguments), 80)}"
