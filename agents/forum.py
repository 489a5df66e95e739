"""The campaign's forum and shared storage, and each agent's notebook.

Agents post findings (a result, a hypothesis, a negative result) with optional
attached files. Attachments are snapshotted: read from the author's work dir by
descriptor, following no link (``sandboxes.snapshot_files``), and written read-only
under ``shared/<agent>/post-<id>/`` in the campaign's shared storage, which every
sandbox sees read-only at ``shared/``. Posts and notes are events, so both services
are rebuilt from the log (``replay``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from agents.bus import EventBus
from agents.events import ForumAttachment, ForumPosted, NoteAdded
from sandboxes import SandboxError, snapshot_files

MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 5_000_000  # all attachments of one post together
NOTEBOOK_READ_CHARS = 20_000


class ToolError(Exception):
    """A tool call that cannot be done as asked; the message is for the model."""


@dataclass
class Forum:
    """Posts of one campaign, in order; attachments live under ``shared_root``."""

    bus: EventBus
    shared_root: Path
    posts: list[ForumPosted] = field(default_factory=list)

    def replay(self, event: ForumPosted) -> None:
        """Take a stored post back (crash resume)."""
        self.posts.append(event)

    def post(
        self, author: str, kind: str, text: str, *, attachments: list[str], workdir: Path | None,
        setting: dict[str, float] | None = None,
    ) -> ForumPosted:
        """Publish a post; ``attachments`` are paths in the author's ``workdir``; ``setting``
        a result's flags as data (validated by ``ForumPosted``)."""
        post_id = len(self.posts) + 1
        if len(attachments) > MAX_ATTACHMENTS:
            raise ToolError(f"at most {MAX_ATTACHMENTS} attachments per post, got {len(attachments)}")
        files: list[ForumAttachment] = []
        if attachments:
            if workdir is None:
                raise ToolError("only agents can attach files")
            files = self._snapshot(author, post_id, attachments, workdir)
        event = self.bus.publish(
            ForumPosted(agent_id=author or None, author=author or "supervisor", post_id=post_id,
                        post_kind=kind, text=text, attachments=files, setting=setting)  # type: ignore[arg-type]
        )
        self.posts.append(event)
        return event

    def _snapshot(self, author: str, post_id: int, paths: list[str], workdir: Path) -> list[ForumAttachment]:
        wanted = {os.path.normpath(p).lstrip("./") or p for p in paths}
        found, notes = snapshot_files(
            str(workdir), select=lambda rel: rel in wanted, max_total_bytes=MAX_ATTACHMENT_BYTES,
            skip_dirs=frozenset({"shared"}),
        )
        missing = sorted(wanted - set(found))
        if missing:
            why = "; ".join(notes) or "not found, or not a regular file in your work dir"
            raise ToolError(f"cannot attach {', '.join(missing)}: {why}")
        folder = self.shared_root / author / f"post-{post_id}"
        attachments: list[ForumAttachment] = []
        for relative, content in sorted(found.items()):
            target = folder / relative
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            # O_EXCL and no link to follow: the host writes only into storage it alone owns.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
            try:
                os.write(fd, content)
            finally:
                os.close(fd)
            attachments.append(ForumAttachment(
                path=relative, shared_path=f"{author}/post-{post_id}/{relative}", size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            ))
        return attachments

    def render(self, *, query: str = "", limit: int = 20, reader: str = "") -> str:
        """The newest posts matching ``query`` (words, all must appear), newest last.

        One line of counts, then one JSON object per post: id, author and kind come from
        the engine, and what the author wrote is a JSON string, so no text of a post can
        pass for another post or for the supervisor.
        """
        words = [w.lower() for w in query.split()]
        hits = [p for p in self.posts if all(w in f"{p.author} {p.post_kind} {p.text}".lower() for w in words)]
        if not hits:
            return "no posts yet" if not self.posts else f"no post matches {json.dumps(query)}"
        shown = hits[-limit:]
        lines = [f"{len(hits)} post(s){' matching ' + json.dumps(query) if query else ''}; showing the last "
                 f"{len(shown)}, one JSON object per line (the author's words are the \"text\" value):"]
        lines += [json.dumps(post_record(post, reader), ensure_ascii=False) for post in shown]
        return "\n".join(lines)

    def read_shared(self, agent: str, path: str, max_bytes: int = 1_000_000) -> bytes:
        """A snapshotted file of ``agent``'s posts (``path`` relative to its shared folder)."""
        from sandboxes.files import read_inside

        root = self.shared_root / agent
        if not agent or "/" in agent or agent.startswith(".") or not root.is_dir():
            posters = sorted({p.author for p in self.posts if p.attachments})
            raise ToolError(f"no shared files of {agent!r}; agents with attachments: {', '.join(posters) or 'none'}")
        try:
            return read_inside(str(root.resolve()), path, max_bytes)
        except SandboxError as exc:
            raise ToolError(str(exc)) from exc


def post_record(post: ForumPosted, reader: str = "") -> dict[str, object]:
    """A post as data, for a model to read: the engine's fields, then the author's text."""
    record: dict[str, object] = {
        "id": post.post_id,
        "author": post.author or "supervisor",
        "from_supervisor": post.agent_id is None,
        "kind": post.post_kind,
    }
    if reader and post.author == reader:
        record["yours"] = True
    record["text"] = post.text
    if post.setting:
        record["setting"] = post.setting
    if post.attachments:
        record["attachments"] = [{"path": f"shared/{a.shared_path}", "bytes": a.size} for a in post.attachments]
    return record


@dataclass
class Notebooks:
    """One persistent notebook per agent: it survives compaction and crashes (events)."""

    bus: EventBus
    notes: dict[str, list[str]] = field(default_factory=dict)

    def replay(self, event: NoteAdded) -> None:
        self.notes.setdefault(event.agent_id or "", []).append(event.text)

    def append(self, agent_id: str, text: str) -> int:
        self.bus.publish(NoteAdded(agent_id=agent_id, text=text))
        self.notes.setdefault(agent_id, []).append(text)
        return len(self.notes[agent_id])

    def read(self, agent_id: str) -> str:
        entries = self.notes.get(agent_id, [])
        if not entries:
            return "your notebook is empty"
        text = "\n".join(f"[{i}] {entry}" for i, entry in enumerate(entries, start=1))
        return text if len(text) <= NOTEBOOK_READ_CHARS else "[... older entries omitted ...]\n" + text[-NOTEBOOK_READ_CHARS:]
