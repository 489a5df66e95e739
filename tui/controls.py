"""The supervisor's commands: each key becomes a typed command sent through the control
channel; the engine applies it and answers with an event (the app never holds the
engine). Prompts come first where a command needs words or a choice."""

from __future__ import annotations

from textual import work
from textual.app import App

from agents.commands import (
    Approve,
    Command,
    Deny,
    EditApprove,
    GrantBudget,
    Pause,
    PostToForum,
    Redirect,
    Resume,
    RevokeGrant,
    Stop,
)
from agents.control import Control, EngineGone
from agents.events import ApprovalRequested
from agents.views import CampaignView
from tui.modals import ApprovalPrompt, Decision, EditPrompt, GrantsScreen, TextPrompt


class SupervisorControls(App[None]):
    """The command actions of the control room (``AarApp`` adds the screens)."""

    control: Control | None
    view: CampaignView
    viewer: str
    selected: str | None

    # Commands: typed, sent through the control channel; the engine applies and answers them.

    def _live(self) -> Control | None:
        if self.control is None:
            self.notify("Review mode is read-only.", severity="warning")
            return None
        if self.view.phase == "finished":
            self.notify("The campaign has finished.", severity="warning")
            return None
        return self.control

    @work(exit_on_error=False, group="commands")
    async def _send(self, command: Command) -> None:
        control = self._live()
        if control is None:
            return
        try:
            outcome = await control.send(command)
        except EngineGone as gone:
            self.notify(str(gone), severity="error")
            return
        if not outcome.applied:
            self.notify(f"refused: {outcome.reason}", severity="warning")

    def _oldest_request(self) -> ApprovalRequested | None:
        queue = self.view.approval_queue()
        mine = [r for r in queue if r.agent_id == self.selected]
        if not queue:
            self.notify("No request awaits approval.")
            return None
        return (mine or queue)[0]

    def action_toggle_pause(self) -> None:
        """Pause the selected agent, or resume it when paused."""
        agent = self.view.agents.get(self.selected or "")
        if agent is not None:
            kind = Resume if agent.status == "paused" else Pause
            self._send(kind(agent_id=agent.agent_id, viewer=self.viewer))

    def action_pause_all(self) -> None:
        self._send(Pause(viewer=self.viewer))

    def action_resume_all(self) -> None:
        self._send(Resume(viewer=self.viewer))

    def action_stop_agent(self) -> None:
        if self.selected:
            self._send(Stop(agent_id=self.selected, reason=f"stopped by {self.viewer}", viewer=self.viewer))

    def action_redirect(self) -> None:
        """A message the selected agent reads before its next turn."""
        agent_id = self.selected
        if agent_id is None or self._live() is None:
            return

        def send(message: object) -> None:
            if isinstance(message, str):
                self._send(Redirect(agent_id=agent_id, message=message, viewer=self.viewer))

        self.push_screen(TextPrompt(f"Message to {agent_id} (read before its next turn)", what="a redirect",
                                    placeholder="e.g. try hard labels with strong weight decay"), send)

    def action_post_forum(self) -> None:
        """A forum post as the supervisor: every agent reads it."""
        if self._live() is None:
            return

        def send(text: object) -> None:
            if isinstance(text, str):
                self._send(PostToForum(text=text, viewer=self.viewer))

        self.push_screen(TextPrompt("Post to the forum as the supervisor (every agent reads it)", what="a post"), send)

    def action_approve(self) -> None:
        """Approve the selected agent's oldest request (else the oldest of all), once."""
        request = self._oldest_request()
        if request is not None:
            self._send(Approve(request_id=request.request_id, viewer=self.viewer))

    def action_approval_prompt(self) -> None:
        """The full approval prompt: once, always (with its scope), edit, or deny."""
        request = self._oldest_request()
        if request is not None:
            self._decide(request)

    def _decide(self, request: ApprovalRequested) -> None:
        if self._live() is None:
            return

        def chosen(decision: object) -> None:
            if not isinstance(decision, Decision):
                return
            if decision.action == "deny":
                self._deny(request)
            elif decision.action == "edit":
                self._edit(request)
            else:
                self._send(Approve(request_id=request.request_id, always=decision.always, match=decision.match,
                                   prefix=decision.prefix, viewer=self.viewer))

        self.push_screen(ApprovalPrompt(request), chosen)

    def action_deny(self) -> None:
        """Deny the oldest request, with a reason the model reads."""
        request = self._oldest_request()
        if request is not None and self._live() is not None:
            self._deny(request)

    def _deny(self, request: ApprovalRequested) -> None:
        def send(reason: object) -> None:
            if isinstance(reason, str):
                self._send(Deny(request_id=request.request_id, reason=reason, viewer=self.viewer))

        self.push_screen(TextPrompt(f"Deny request #{request.request_id} with a reason (the model reads it)",
                                    what="a reason", placeholder="e.g. that trains on the test split"), send)

    def action_edit_approve(self) -> None:
        """Edit the oldest request's arguments, then approve what was written."""
        request = self._oldest_request()
        if request is None or self._live() is None:
            return
        if request.request_kind != "tool":
            self.notify("A budget checkpoint has no arguments to edit: approve or deny it.", severity="warning")
            return
        self._edit(request)

    def _edit(self, request: ApprovalRequested) -> None:
        def send(arguments: object) -> None:
            if isinstance(arguments, dict):
                self._send(EditApprove(request_id=request.request_id, arguments=arguments, viewer=self.viewer))

        self.push_screen(EditPrompt(request), send)

    def action_grant(self) -> None:
        """Grant half again the budget that holds the selected agent."""
        if self.selected:
            self._send(GrantBudget(agent_id=self.selected, viewer=self.viewer))

    def action_revoke_grant(self) -> None:
        """Choose an "approve always" grant in force and revoke it."""
        if self._live() is None:
            return

        def send(grant_id: object) -> None:
            if isinstance(grant_id, int):
                self._send(RevokeGrant(grant_id=grant_id, viewer=self.viewer))

        self.push_screen(GrantsScreen(list(self.view.grants.values())), send)
