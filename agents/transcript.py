"""The transcript read model: each agent's transcript as structured items, built from events.

Items (``agents.items``) are data, never display strings: the TUI renders them
(``tui/items.py``), export and review read the same model.

``Transcript.apply(event)`` is a reducer over one agent's events. It updates items in
place and bumps their ``version``, so a renderer can cache each item's rendering by
``(seq, version)`` and redo only what changed. Streamed deltas grow a block until
its completed event replaces the text; a broken turn marks its blocks discarded.
Memory is bounded (items per agent, output lines per call); the store keeps all.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from agents.commands import describe
from agents.conversation import RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolUseBlock
from agents.events import (
    AgentFinished,
    AgentResumed,
    AgentStarted,
    AgentStatusChanged,
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
    BlockCompleted,
    BlockDelta,
    BudgetGranted,
    BudgetReached,
    CommandApplied,
    CommandRefused,
    Compacted,
    EngineDecided,
    Event,
    ForumPosted,
    GrantAdded,
    GrantRevoked,
    MessageAdded,
    NoteAdded,
    ReproductionJudged,
    SubmissionScored,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutputEmitted,
    TurnCompleted,
    TurnFailed,
)
from agents.items import (
    ITEMS_KEPT,
    ApprovalItem,
    BlockItem,
    BudgetItem,
    Item,
    MessageItem,
    NoticeItem,
    NoticeTopic,
    SubmissionItem,
    TextItem,
    ThinkingItem,
    ToolCallItem,
    short,
)


@dataclass
class Transcript:
    """One agent's items in order, plus the indexes the reducer and the screen need."""

    agent_id: str
    items: deque[Item] = field(default_factory=lambda: deque(maxlen=ITEMS_KEPT))
    revision: int = 0  # bumped on every change: a renderer with an older one redraws
    items_total: int = 0
    _calls: dict[str, ToolCallItem] = field(default_factory=dict)
    _streams: dict[tuple[int, int, int], BlockItem] = field(default_factory=dict)
    _submissions: dict[int, SubmissionItem] = field(default_factory=dict)
    _requests: dict[int, ToolCallItem | ApprovalItem] = field(default_factory=dict)
    _seq: int = 0  # of the event being applied

    # Queries

    def submission(self, submission_id: int) -> SubmissionItem | None:
        return self._submissions.get(submission_id)

    def call(self, call_id: str) -> ToolCallItem | None:
        return self._calls.get(call_id)

    def item_at(self, seq: int) -> Item | None:
        """The item an event of ``seq`` belongs to: the latest one opened at or before it
        whose events reach it (a call's output lines and its approval belong to the call,
        not to a notice written in between); else the latest opened before it."""
        items = list(self.items)
        end = bisect_right([i.seq for i in items], seq)
        for item in reversed(items[:end]):
            if item.seq <= seq <= max(item.seq, item.last_seq):
                return item
        return items[end - 1] if end else None

    def activity(self) -> str:
        """What the agent is doing now, in a few words ("" when idle)."""
        for item in reversed(self.items):
            if isinstance(item, ToolCallItem) and item.state in ("running", "awaiting_approval", "proposed"):
                what = item.command or item.tool
                if item.state == "awaiting_approval":
                    return f"asks: {item.tool} {short(what, 40)}" if what != item.tool else f"asks: {item.tool}"
                latest = item.output[-1][1] if item.output else ""
                return short(f"{what}" + (f" | {latest}" if latest else ""), 80)
            if isinstance(item, BlockItem):
                if item.streaming and not item.discarded:
                    return "thinking…" if isinstance(item, ThinkingItem) else "writing…"
                return ""
        return ""

    # The reducer

    def _add(self, item: Item) -> Item:
        """Append an item; its ``seq`` (the event that opened it) is its id: one event opens
        at most one item."""
        item.last_seq = item.seq
        if len(self.items) == self.items.maxlen:
            self._forget(self.items[0])
        self.items.append(item)
        self.items_total += 1
        self.revision += 1
        return item

    def _forget(self, item: Item) -> None:
        if isinstance(item, ToolCallItem):
            self._calls.pop(item.call_id, None)
        if isinstance(item, SubmissionItem):
            self._submissions.pop(item.submission_id, None)
        for request_id in [k for k, v in self._requests.items() if v is item]:  # only pending ones: few
            del self._requests[request_id]
        for stream_key in [k for k, v in self._streams.items() if v is item]:
            del self._streams[stream_key]

    def _changed(self, item: Item) -> None:
        item.touch(self._seq)
        self.revision += 1

    def _notice(self, event: Event, topic: NoticeTopic, text: str, level: Literal["info", "warning", "error"] = "info") -> None:
        self._add(NoticeItem(event.seq, event.ts, self.agent_id, topic=topic, text=text, level=level))

    def _call_for(self, event: Event, call_id: str, tool: str, arguments: dict[str, object]) -> ToolCallItem:
        item = self._calls.get(call_id)
        if item is None:  # a backend that reports no blocks, or a log cut before the block
            item = ToolCallItem(event.seq, event.ts, self.agent_id, call_id=call_id, tool=tool, arguments=arguments)
            self._calls[call_id] = item
            self._add(item)
        return item

    def apply(self, event: Event) -> None:
        """Fold one of this agent's events in."""
        self._seq = event.seq
        match event:
            case BlockDelta():
                key = (event.turn, event.attempt, event.index)
                stream = self._streams.get(key)
                if stream is None:
                    cls = ThinkingItem if event.block_type == "thinking" else TextItem
                    stream = cls(event.seq, event.ts, self.agent_id, turn=event.turn, attempt=event.attempt)
                    self._streams[key] = stream
                    self._add(stream)
                stream.text += event.text
                self._changed(stream)
            case BlockCompleted():
                self._block(event)
            case TurnFailed():
                for stream_key in [k for k in self._streams if k[:2] == (event.turn, event.attempt)]:
                    stream = self._streams.pop(stream_key)
                    stream.discarded, stream.streaming = True, False
                    self._changed(stream)
                for call in self._calls.values():
                    if (call.turn, call.attempt) == (event.turn, event.attempt) and call.state == "proposed":
                        call.state = "discarded"
                        self._changed(call)
                then = "retrying the whole turn" if event.will_retry else "giving up"
                self._notice(event, "error", f"turn {event.turn} (attempt {event.attempt}) broke, no tool of it "
                             f"runs; {then}: {short(event.error, 300)}", "error")
            case TurnCompleted():
                for stream_key in [k for k in self._streams if k[:2] == (event.turn, event.attempt)]:
                    stream = self._streams.pop(stream_key)
                    if stream.streaming:
                        stream.streaming = False
                        self._changed(stream)
                if event.usage.total:
                    u = event.usage
                    self._notice(event, "turn", f"turn {event.turn}: {u.input_tokens:,} in, {u.cache_read_tokens:,} "
                                 f"cache read, {u.cache_write_tokens:,} cache write, {u.output_tokens:,} out; "
                                 f"${event.cost_usd:.4f}; {event.seconds:.1f}s")
            case ApprovalRequested():
                self._requested(event)
            case ApprovalDecided():
                self._decided(event)
            case ApprovalWithdrawn():
                target = self._requests.pop(event.request_id, None)
                if isinstance(target, ToolCallItem) and target.state == "awaiting_approval":
                    target.state, target.decision = "proposed", f"request withdrawn: {event.reason}"
                    self._changed(target)
                elif isinstance(target, ApprovalItem):
                    target.decision = f"withdrawn: {event.reason}"
                    self._changed(target)
            case ToolCallStarted():
                call = self._call_for(event, event.call_id, event.tool, event.arguments)
                call.state = "running"
                if event.arguments != call.arguments:
                    call.ran_arguments = event.arguments
                self._changed(call)
            case ToolOutputEmitted():
                call = self._calls.get(event.call_id) or self._call_for(event, event.call_id, "", {})
                call.output.append((event.stream, event.line))
                call.output_total += 1
                self._changed(call)
            case ToolCallFinished():
                call = self._call_for(event, event.call_id, event.tool, {})
                if call.state != "denied":
                    call.state = "succeeded" if event.ok else "failed"
                call.summary, call.result, call.duration_s = event.summary, event.result.content, event.duration_s
                self._changed(call)
            case SubmissionScored():
                item = SubmissionItem(
                    event.seq, event.ts, self.agent_id, submission_id=event.submission_id, method=event.method,
                    valid=event.valid, refused=event.refused, error=event.error or "", public_pgr=event.public_pgr,
                    private_pgr=event.private_pgr, command=event.command,
                    public_interval=event.public_pgr_interval, private_interval=event.private_pgr_interval,
                    flags=tuple((f.get("code", ""), f.get("reason", "")) for f in event.flags))
                self._submissions[event.submission_id] = item
                self._add(item)
            case ReproductionJudged():
                sub = self._submissions.get(event.submission_id)
                if sub is not None:
                    sub.verdict, sub.verdict_reason = event.verdict, event.reason
                    sub.rerun_pgr, sub.shuffled_pgr = event.rerun_pgr, event.shuffled_pgr
                    self._changed(sub)
            case MessageAdded() if event.message.origin in ("task", "supervisor", "harness"):
                self._add(MessageItem(event.seq, event.ts, self.agent_id, origin=event.message.origin,
                                      text=event.message.text()))
            case BudgetReached():
                self._add(BudgetItem(event.seq, event.ts, self.agent_id, budget=event.budget, limit=event.limit,
                                     used=event.used, scope=event.scope))
            case BudgetGranted():
                self._add(BudgetItem(event.seq, event.ts, self.agent_id, budget=event.budget, granted=event.amount,
                                     new_limit=event.new_limit))
            case _:
                self._notice_for(event)

    def _block(self, event: BlockCompleted) -> None:
        block = event.block
        key = (event.turn, event.attempt, event.index)
        if isinstance(block, ToolUseBlock):
            call = self._calls.get(block.id)
            if call is None:
                call = ToolCallItem(event.seq, event.ts, self.agent_id, call_id=block.id, tool=block.name,
                                    arguments=dict(block.input), turn=event.turn, attempt=event.attempt)
                self._calls[block.id] = call
                self._add(call)
            return
        stream = self._streams.pop(key, None)
        if isinstance(block, ThinkingBlock | RedactedThinkingBlock):
            text = block.thinking if isinstance(block, ThinkingBlock) else ""
            if not isinstance(stream, ThinkingItem):
                stream = ThinkingItem(event.seq, event.ts, self.agent_id, turn=event.turn, attempt=event.attempt)
                self._add(stream)
            stream.redacted = isinstance(block, RedactedThinkingBlock)
        elif isinstance(block, TextBlock):
            text = block.text
            if not isinstance(stream, TextItem):
                stream = TextItem(event.seq, event.ts, self.agent_id, turn=event.turn, attempt=event.attempt)
                self._add(stream)
        else:
            return
        stream.text, stream.streaming = text, False  # the completed block is the record
        self._changed(stream)

    def _requested(self, event: ApprovalRequested) -> None:
        if event.request_kind == "tool":
            call = self._call_for(event, event.call_id, event.tool, event.arguments)
            call.state, call.request_id, call.rule, call.decision = "awaiting_approval", event.request_id, event.rule, ""
            self._requests[event.request_id] = call
            self._changed(call)
        else:
            item = ApprovalItem(event.seq, event.ts, self.agent_id, request_id=event.request_id, rule=event.rule,
                                budget=event.budget or "")
            self._requests[event.request_id] = item
            self._add(item)

    def _decided(self, event: ApprovalDecided) -> None:
        target = self._requests.pop(event.request_id, None)
        words = f"{event.decision} by {event.viewer or 'the supervisor'}" + (f": {event.reason}" if event.reason else "")
        if event.grant_id is not None:
            words += f" (and always, grant #{event.grant_id})"
        if isinstance(target, ToolCallItem):
            target.decision = words
            if event.decision == "denied":
                target.state = "denied"
            else:
                target.state = "proposed" if target.state == "awaiting_approval" else target.state
                if event.arguments is not None:
                    target.ran_arguments = dict(event.arguments)
            self._changed(target)
        elif isinstance(target, ApprovalItem):
            target.decision = words
            self._changed(target)

    def _notice_for(self, event: Event) -> None:
        match event:
            case AgentStarted():
                self._notice(event, "sandbox", f"agent started ({event.backend}); direction: {event.direction}\n"
                             f"sandbox: {event.sandbox_isolation}; work dir {event.sandbox_workdir}")
            case AgentResumed():
                self._notice(event, "status", f"resumed after {event.turns_done} turns ({event.messages} messages "
                             "rebuilt from the log)")
            case AgentStatusChanged() if event.status in ("paused", "failed"):
                reason = f" ({event.reason})" if event.reason else ""
                self._notice(event, "status", f"{event.status}{reason}",
                             "error" if event.status == "failed" else "warning")
            case AgentFinished():
                self._notice(event, "status", f"finished: {event.reason}")
            case Compacted():
                self._notice(event, "context", f"context compacted: {event.tokens_before:,} -> about "
                             f"{event.tokens_after:,} tokens")
            case EngineDecided():
                self._notice(event, "engine", f"engine: {event.decision} ({event.reason})", "warning")
            case ForumPosted():
                files = f" (+{len(event.attachments)} file(s))" if event.attachments else ""
                self._notice(event, "forum", f"forum #{event.post_id} [{event.post_kind}]{files}: {event.text}")
            case NoteAdded():
                self._notice(event, "note", f"notebook: {event.text}")
            case CommandApplied():
                self._notice(event, "command", f"supervisor ({event.command.viewer}): {describe(event.command)}")
            case CommandRefused():
                self._notice(event, "command", f"refused command from {event.command.viewer} "
                             f"({describe(event.command)}): {event.reason}", "warning")
            case GrantAdded():
                self._notice(event, "grant", f"grant #{event.grant_id}: {event.scope}")
            case GrantRevoked():
                self._notice(event, "grant", f"grant #{event.grant_id} revoked")
            case _:
                pass
