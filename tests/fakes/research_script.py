"""A scripted Claude researcher for the fake Messages API: it walks the whole toolset.

``research(body, n)`` reads the request the real client sent (the agent's id from the
system prompt, its turns so far, the tool results it got) and answers like a
researcher would: look at the data, write a training script, run it, submit with the
command, post the result with the script attached, note it, look at the leaderboard,
read the forum until another agent's post is there, read that agent's shared script,
and finish. Every turn starts with a thinking block whose signature the next request
must carry back unchanged. Deterministic per agent and turn; stateless.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.messages_api import SCRIPTS, Reply, Stream, text, thinking, tool_use

TRAIN_PY = '''\
import json
import numpy as np

# Ridge regression of the teacher's soft labels on the strong features.
x = np.load("data/train_x.npy").astype(np.float64); w = np.load("data/train_weak.npy").astype(np.float64)
tx = np.load("data/test_x.npy").astype(np.float64); ids = json.load(open("data/test_ids.json"))
mu, sd = x.mean(0), x.std(0) + 1e-6
x, tx = (x - mu) / sd, (tx - mu) / sd
theta = np.linalg.solve(x.T @ x + 100.0 * np.eye(x.shape[1]), x.T @ (w - w.mean()))
print("train mse", float(np.mean((x @ theta + w.mean() - w) ** 2)))
probs = np.clip(tx @ theta + w.mean(), 0.0, 1.0)
json.dump({"ids": ids, "probs": [float(v) for v in probs]}, open("predictions.json", "w"))
print("wrote predictions.json")
'''
_AGENT = re.compile(r"You are (agent-\d+)")
_ATTACHMENT = re.compile(r'"path": "shared/(agent-\d+)/(post-\d+/[\w./-]+)"')
MAX_FORUM_WAITS = 40


def _agent(body: dict[str, Any]) -> str:
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(part.get("text", "") for part in system)
    match = _AGENT.search(system)
    return match.group(1) if match else "agent-?"


def _last_results(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages") or []
    if not messages or messages[-1]["role"] != "user":
        return []
    content = messages[-1]["content"]
    if isinstance(content, str):
        return []
    return [str(block.get("content", "")) for block in content if block.get("type") == "tool_result"]


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [block["name"] for m in body.get("messages", []) if m["role"] == "assistant"
            for block in m["content"] if block.get("type") == "tool_use"]


def research(body: dict[str, Any], n: int) -> Reply:
    """The next assistant turn for the request ``body``."""
    me = _agent(body)
    done = _tool_names(body)
    turn = sum(1 for m in body.get("messages", []) if m["role"] == "assistant")
    think = thinking(f"{me}, turn {turn + 1}: the tools I used so far are {', '.join(done) or 'none'}. "
                     "I plan the next step carefully.")
    results = _last_results(body)
    if "run_command" not in done:
        return Stream([think, text("First I look at the task and the data."),
                       tool_use("run_command", {"command": "ls data && head -c 300 data/TASK.md"})])
    if "write_file" not in done:
        return Stream([think, text("A plain logistic regression on the soft labels as a first baseline."),
                       tool_use("write_file", {"path": "train.py", "content": TRAIN_PY})])
    if done.count("run_command") < 2:
        return Stream([think, tool_use("run_command", {"command": "python train.py", "timeout_s": 120})])
    if "submit_predictions" not in done:
        return Stream([think, tool_use("submit_predictions", {
            "path": "predictions.json", "method": f"{me}: logistic regression on soft labels",
            "command": "python train.py"})])
    if "post_to_forum" not in done:
        return Stream([think, tool_use("post_to_forum", {
            "kind": "result", "attachments": ["train.py"],
            "text": f"{me}: logistic regression on the teacher's soft labels; {results[0][:80] if results else ''}"})])
    if "notebook" not in done:
        return Stream([think, text("I note what I did and look at the board."),
                       tool_use("notebook", {"action": "append", "text": "baseline submitted and posted"}),
                       tool_use("view_leaderboard", {})])
    if "read_shared_file" not in done:
        forum = "\n".join(results)
        others = [(agent, path) for agent, path in _ATTACHMENT.findall(forum) if agent != me]
        if others:
            agent, path = others[0]
            return Stream([think, text(f"{agent} shared a script; I read it."),
                           tool_use("read_shared_file", {"agent": agent, "path": path})])
        if done.count("read_forum") >= MAX_FORUM_WAITS:
            return Stream([think, text("Nobody else has posted; I stop here.")])
        wait = [tool_use("run_command", {"command": "sleep 0.3"})] if "read_forum" in done else []
        return Stream([think, *wait, tool_use("read_forum", {})])
    return Stream([think, text("I read another agent's approach and compared it with mine. Done for now.")])


SCRIPTS["research"] = research
