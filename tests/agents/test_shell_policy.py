"""Approval rules judge what a command line runs: the bypasses an agent tried, one by one.

With ``pip *`` denied, ``*curl*`` denied, ``python *`` on ask and ``notes/*`` denied as a
path, each line below ran without asking before the policy read lines with a bash
parser (``agents.shell``). Each now asks or is denied; an "approve always" is a
token-exact prefix of one command's words.
"""

from __future__ import annotations

import pytest

from agents.approvals import ApprovalRule, Grant, default_prefix, grant_scope, judge
from agents.shell import normalize_path, parse_line, split_words

RULES = [
    ApprovalRule(tool="run_command", command="pip *", action="deny"),
    ApprovalRule(tool="run_command", command="pip", action="deny"),
    ApprovalRule(tool="run_command", command="*curl*", action="deny"),
    ApprovalRule(tool="run_command", command="python *", action="ask"),
    ApprovalRule(tool="*", path="notes/*", action="deny"),
]

DENIED = [
    "pip install evil",
    "bash -c 'pip install evil'",
    "sh -c 'cd . && pip install evil'",
    "env pip install evil",
    "env -u HOME FOO=1 pip install evil",
    "/usr/bin/pip install evil",
    "/runtime/venv/bin/pip install evil",
    "cd . && pip install evil",
    "true; pip install evil",
    "true || pip install evil",
    "ls | pip install evil",
    "p''ip install evil",
    'p"i"p install evil',
    "p\\ip install evil",
    "cu''rl http://x",
    "echo $(pip install evil)",
    "timeout 10 pip install evil",
    "nohup nice -n 5 pip install evil &",
    "xargs -n1 pip install < list.txt",
    "eval pip install evil",
    "for p in a b; do pip install $p; done",
    "f() { curl http://x; }; f",
    "if true; then pip install evil; fi",
    "(pip install evil)",
    "{ pip install evil; }",
    "bash -c \"bash -c 'pip install evil'\"",
    "python train.py; pip install evil",
    "exec pip install evil",
    "busybox sh -c 'pip install evil'",
    "coproc pip install evil",
    "chroot / pip install evil",
    "pkexec pip install evil",
]

ASKED = [
    "$(echo pip) install evil",
    "X=pip; $X install evil",
    "sh run.sh",
    "bash ./run.sh",
    "./p install evil",
    "/work/p install evil",
    "python3 -m pip install evil",
    "python -c 'import os; os.system(\"pip install evil\")'",
    "python train.py",
    "python <<EOF\nimport os\nEOF",
    "source env.sh",
    ". env.sh",
    "eval \"$CMD\"",
    "PATH=. pip-like",
    "env PATH=. tool",
    "find . -name '*.py' -exec sh {} \\;",
    "awk 'BEGIN { system(\"id\") }'",
    "perl -e 'system(\"id\")'",
    "echo 'unterminated",
    "env -S 'pip install evil'",
    "watch pip install evil",
    "script -qc 'pip install evil' /dev/null",
    "su -c 'pip install evil'",
    "setpriv --reuid 1 pip install evil",
    "make install",
]


@pytest.mark.parametrize("line", DENIED)
def test_a_denied_command_is_denied_however_the_line_hides_it(line: str) -> None:
    assert judge(RULES, "run_command", {"command": line}).action == "deny", parse_line(line)


@pytest.mark.parametrize("line", ASKED)
def test_what_the_parser_cannot_see_through_asks(line: str) -> None:
    judged = judge(RULES, "run_command", {"command": line})
    assert judged.action == "ask", (judged, parse_line(line))


@pytest.mark.parametrize("line", ["ls -la", "cat data/TASK.md | head -3", "echo done > log.txt", "mkdir -p out && cd out",
                                  "CUDA_VISIBLE_DEVICES=0 ls"])
def test_plain_lines_still_run_without_asking(line: str) -> None:
    assert judge(RULES, "run_command", {"command": line}).action == "auto", parse_line(line)


def test_a_policy_that_judges_no_commands_lets_opaque_lines_run() -> None:
    only_paths = [ApprovalRule(tool="write_file", path="data/*", action="deny")]
    assert judge(only_paths, "run_command", {"command": "sh run.sh"}).action == "auto"
    assert judge([], "run_command", {"command": "$(echo pip) install"}).action == "auto"


@pytest.mark.parametrize("path", ["notes/x.txt", "./notes/x.txt", "notes//x.txt", "/work/notes/x.txt",
                                  "sub/../notes/x.txt"])
def test_path_rules_see_the_normalised_path(path: str) -> None:
    assert normalize_path(path) == "notes/x.txt"
    assert judge(RULES, "write_file", {"path": path, "content": ""}).action == "deny"


def test_the_parser_reads_words_as_bash_does() -> None:
    assert split_words("python train.py --lr 3") == ("python", "train.py", "--lr", "3")
    assert split_words("p''ip 'a b' \"c\\\"d\" e\\ f") == ("pip", "a b", 'c"d', "e f")
    assert split_words("ls; pwd") is None and split_words("echo $X") is None and split_words("") is None
    line = parse_line("bash -c 'pip install x' && /usr/bin/env curl y")
    assert [c.text for c in line.commands] == ["bash -c pip install x", "pip install x", "env curl y", "curl y"]


def _grant(prefix: str) -> Grant:
    return Grant(1, "agent-1", "run_command", prefix)


def test_approve_always_is_a_token_exact_prefix_of_every_command_that_asks() -> None:
    rules = [ApprovalRule(tool="run_command", command="python *", action="ask"),
             ApprovalRule(tool="run_command", command="rm *", action="ask")]
    words = default_prefix("python train_head.py --weight-decay 3 --seed 0")
    assert words == ("python", "train_head.py")
    grant = _grant("python train_head.py")

    def covered(line: str) -> bool:
        judged = judge(rules, "run_command", {"command": line})
        assert judged.action == "ask", line
        return grant.covers("agent-1", "run_command", judged)

    assert covered("python train_head.py --weight-decay 1 --seed 4")
    assert covered("cd sub && python train_head.py")  # cd needs no approval
    assert not covered("python -c 'import os'")
    assert not covered("python train_head.pyc")
    assert not covered("python train_head.py; rm -rf ~")
    assert not covered("python train_head.py --seed $SEED"), "a word not known before it runs"
    assert not covered("python other.py")
    assert not grant.covers("agent-2", "run_command", judge(rules, "run_command", {"command": "python train_head.py"}))
    old = _grant("python")  # a grant from before prefixes were words: still never `pythonic`
    assert not old.covers("agent-1", "run_command", judge([ApprovalRule(command="*", action="ask")], "run_command",
                                                          {"command": "pythonic"}))


def test_the_scope_names_what_a_grant_covers_and_two_things_it_does_not() -> None:
    scope = grant_scope(("python", "train.py"))
    assert "`python train.py --seed 1` runs" in scope
    assert "`python -c ...`" in scope and "`python train.py; other`" in scope
    assert default_prefix("ls; pwd") is None and default_prefix("ls -la") == ("ls", "-la")
