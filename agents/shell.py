"""What a shell command line will run: its simple commands, read with a real bash parser.

Approval rules judge each simple command of a ``run_command`` line, not the line's text:
``true; pip install x``, ``cd . && pip``, ``p''ip``, ``env pip``, ``/usr/bin/pip`` and
``bash -c 'pip ...'`` all reach a rule as ``pip ...``. The parser is tree-sitter's bash
grammar (``tree-sitter-bash``); this module only reads its tree.

What the parser cannot see through is marked *opaque*, with the reason, so a policy
that judges commands asks about it instead of letting it pass: command substitution,
``eval`` of words not known before it runs, ``source``, a shell reading a script or its
input, an interpreter given code (``python -c``, ``python -m``, ``perl -e``) or reading
its input, a file run from the work dir (``./p``), a variable in command position, an
environment assignment that changes what runs (``PATH=. pip``), ``find -exec``, and a
line that does not parse. ``bash -c '...'``, ``sh -c``, and ``eval`` of literal words
are parsed again, and their commands judged like the rest.
"""

from __future__ import annotations

import functools
import posixpath
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

SYSTEM_BIN = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/runtime/venv/bin",
              "/runtime/python/bin")
"""Dirs whose programs are named by their base name (``/usr/bin/pip`` is ``pip``)."""
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
INTERPRETERS = frozenset({"perl", "ruby", "node", "nodejs", "php", "lua", "Rscript", "R", "julia", "tclsh"})
"""Besides Python (``python``, ``python3``, ``python3.11``): programs that run code given on their command line."""
CODE_OPTIONS = frozenset({"-c", "-m", "-e", "-E", "--eval", "--exec", "-r", "-x"})
RUNS_OTHERS = {
    # wrapper: (options that take a value, positional words before the command)
    "env": (frozenset({"-u", "--unset", "-C", "--chdir"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "nohup": (frozenset(), 0),
    "setsid": (frozenset(), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "command": (frozenset(), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "ionice": (frozenset({"-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"}), 0),
    "chrt": (frozenset(), 1),
    "taskset": (frozenset({"-c", "--cpu-list"}), 1),
    "flock": (frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"}), 1),
    "xargs": (frozenset({"-a", "--arg-file", "-d", "--delimiter", "-E", "-e", "--eof", "-I", "-i", "--replace",
                         "-L", "-l", "--max-lines", "-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars"}), 0),
    "sudo": (frozenset({"-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir"}), 0),
    "doas": (frozenset({"-u"}), 0),
    "strace": (frozenset({"-e", "-o", "-p", "-s", "-u"}), 0),
    "ltrace": (frozenset({"-e", "-o", "-p", "-s", "-u"}), 0),
    "coproc": (frozenset(), 0),
    "pkexec": (frozenset({"--user"}), 0),
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "unbuffer": (frozenset(), 0),
    "catchsegv": (frozenset(), 0),
}
"""Programs that run the command after their own options: judged as that command."""
RUNS_CODE_OPTIONS = {"find": frozenset({"-exec", "-execdir", "-ok", "-okdir"})}
RUNS_LINES = frozenset({
    "watch", "script", "su", "runuser", "parallel", "setpriv", "unshare", "nsenter", "firejail", "bwrap",
    "systemd-run", "ssh", "screen", "tmux", "at", "batch", "xvfb-run", "valgrind", "gdb", "perf", "make", "ninja",
    "expect", "dtach",
})
"""Programs that run a command line or program of their own, in a syntax not unwrapped here: opaque."""
ENV_THAT_CHANGES_WHAT_RUNS = frozenset({
    "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME",
    "PYTHONINSPECT", "BASH_ENV", "ENV", "IFS", "SHELLOPTS", "BASHOPTS", "PERL5LIB", "PERL5OPT", "RUBYLIB",
    "RUBYOPT", "NODE_OPTIONS", "NODE_PATH", "GIT_EXEC_PATH", "PROMPT_COMMAND",
})
PYTHON = re.compile(r"python(\d+(\.\d+)*)?$")
MAX_DEPTH = 8  # bash -c "bash -c '...'": nested lines parsed at most this deep


@dataclass(frozen=True)
class Command:
    """One simple command as it will run: its words, and whether they are all known now."""

    words: tuple[str, ...]
    """Each word after quote removal; a word only known when it runs (``$X``, ``$(...)``)
    appears as written."""
    static: bool = True
    """True when every word is known before the line runs."""
    opaque: str = ""
    """Why what this command runs cannot be judged from the line ("" when it can)."""

    @property
    def text(self) -> str:
        """The words joined by single spaces: what a rule's glob is matched against."""
        return " ".join(self.words)

    def starts_with(self, prefix: Sequence[str]) -> bool:
        """Whether the command's first words are exactly ``prefix`` (token by token, all known)."""
        return self.static and 0 < len(prefix) <= len(self.words) and tuple(self.words[: len(prefix)]) == tuple(prefix)


@dataclass(frozen=True)
class Line:
    """Every simple command a line runs, outermost first, and what keeps it from being seen whole."""

    commands: tuple[Command, ...]
    opaque: tuple[str, ...] = field(default=())
    """Reasons that concern the line as a whole (a command substitution, a parse error)."""

    @property
    def reasons(self) -> list[str]:
        """Every reason the line cannot be judged whole, each once."""
        seen: list[str] = []
        for reason in (*self.opaque, *(c.opaque for c in self.commands if c.opaque)):
            if reason not in seen:
                seen.append(reason)
        return seen


@functools.lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bash.language()))


def parse_line(text: str) -> Line:
    """The simple commands ``text`` runs (see the module doc)."""
    return _parse(text, 0)


def _parse(text: str, depth: int) -> Line:
    if depth > MAX_DEPTH:
        return Line((), ("shell lines nested too deep to follow",))
    source = text.encode()
    tree = _parser().parse(source)
    walk = _Walk(source, depth)
    if tree.root_node.has_error:
        walk.reasons.append("the line does not parse as bash")
    walk.visit(tree.root_node)
    return Line(tuple(walk.commands), tuple(walk.reasons))


def split_words(text: str) -> tuple[str, ...] | None:
    """The words of a line holding exactly one simple command of known words, else None."""
    line = parse_line(text)
    if line.opaque or len(line.commands) != 1 or not line.commands[0].static:
        return None
    return line.commands[0].words


def join_words(words: Sequence[str]) -> str:
    """Words as one shell line that ``split_words`` reads back as the same words."""
    return shlex.join(words)


def normalize_path(path: str, workdir: str = "/work") -> str:
    """A path argument as rules see it: ``./notes/x``, ``notes//x`` and ``/work/notes/x`` are ``notes/x``."""
    clean = posixpath.normpath(path.strip()) if path.strip() else ""
    if clean == workdir:
        return "."
    if clean.startswith(workdir + "/"):
        clean = clean[len(workdir) + 1 :]
    return clean


def _unescape(text: str, escapable: str | None = None) -> str:
    """Backslash escapes removed as bash does: any character outside quotes (``escapable``
    None), only ``escapable`` ones inside double quotes; an escaped newline joins lines."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and (escapable is None or text[i + 1] in escapable):
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


class _Walk:
    """One pass over a parse tree, collecting commands and reasons."""

    def __init__(self, source: bytes, depth: int) -> None:
        self.source = source
        self.depth = depth
        self.commands: list[Command] = []
        self.reasons: list[str] = []

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode(errors="replace")

    def word(self, node: Node) -> str | None:
        """A word's value after quote removal, or None when only running it tells."""
        kind = node.type
        if kind in ("word", "number"):
            return _unescape(self.text(node))
        if kind == "raw_string":
            return self.text(node)[1:-1]
        if kind == "string":
            parts = []
            for child in node.named_children:
                if child.type != "string_content":
                    return None
                parts.append(_unescape(self.text(child), '"\\$`\n'))
            return "".join(parts)
        if kind == "concatenation":
            values = [self.word(child) for child in node.named_children]
            return None if any(v is None for v in values) else "".join(v for v in values if v is not None)
        return None

    def visit(self, node: Node) -> None:
        if node.type == "command":
            self.command(node)
            return
        if node.type in ("command_substitution", "process_substitution"):
            self.note("a command substitution (its output becomes part of the line)")
        elif node.type == "ERROR":
            self.note("the line does not parse as bash")
        for child in node.named_children:
            self.visit(child)

    def note(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def command(self, node: Node) -> None:
        for child in node.named_children:  # substitutions anywhere in it run first
            self.visit(child)
        name = node.child_by_field_name("name")
        if name is None:  # assignments only, e.g. X=$(cmd): nothing more runs
            return
        assigned = [self.text(c).split("=", 1)[0] for c in node.named_children if c.type == "variable_assignment"]
        words: list[str] = []
        static = True
        for child in [name, *node.children_by_field_name("argument")]:
            target = child.named_children[0] if child.type == "command_name" and child.named_children else child
            value = self.word(target)
            static &= value is not None
            words.append(value if value is not None else self.text(target))
        opaque = ""
        if self.word(name.named_children[0] if name.named_children else name) is None:
            opaque = "a variable or substitution in command position"
        elif set(assigned) & ENV_THAT_CHANGES_WHAT_RUNS:
            opaque = f"sets {', '.join(sorted(set(assigned) & ENV_THAT_CHANGES_WHAT_RUNS))} for the command"
        for command in self.resolve(tuple(words), static, opaque):
            self.commands.append(command)

    def resolve(self, words: tuple[str, ...], static: bool, opaque: str) -> Iterator[Command]:
        """The command ``words`` really runs: wrappers unwrapped, paths named, shells read."""
        if opaque or not words:
            yield Command(words, static, opaque)
            return
        name = words[0]
        if "/" in name:
            folder, base = posixpath.split(posixpath.normpath(name))
            if folder not in SYSTEM_BIN:
                yield Command(words, static, "runs a file from the work dir (its contents are not on the line)")
                return
            words, name = (base, *words[1:]), base
        if name in RUNS_OTHERS:
            inner = _after_options(words, *RUNS_OTHERS[name])
            if name == "env" and any(w in ("-S", "--split-string") or w.startswith("-S") for w in words[1:]):
                yield Command(words, static, "env -S splits a string into a command")
                return
            if name == "env":
                assignments = [w.split("=", 1)[0] for w in inner if "=" in w and not w.startswith("=")]
                inner = tuple(w for w in inner if "=" not in w or w.startswith("="))
                if set(assignments) & ENV_THAT_CHANGES_WHAT_RUNS:
                    yield Command(words, static, "env sets what decides which program runs")
                    return
            if name == "command" and any(w in ("-v", "-V") for w in words[1:2]):
                yield Command(words, static)  # only looks the name up
                return
            if inner:
                yield Command(words, static)  # the wrapper itself, for rules about it
                yield from self.resolve(inner, static, "")
                return
            yield Command(words, static)
            return
        if name in ("eval", "source", "."):
            if name == "eval" and static and len(words) > 1:
                yield from self.nested(" ".join(words[1:]), words, static)
                return
            yield Command(words, static, f"{name} runs what its words or file say")
            return
        if name in SHELLS:
            yield from self.shell(words, static)
            return
        if name in ("awk", "gawk", "mawk", "nawk"):
            yield Command(words, static, f"{name} runs the program on its line")
            return
        if PYTHON.match(name) or name in INTERPRETERS:
            yield self.interpreter(words, static)
            return
        if name in RUNS_LINES:
            yield Command(words, static, f"{name} runs commands of its own")
            return
        for flag in RUNS_CODE_OPTIONS.get(name, ()):
            if flag in words[1:]:
                yield Command(words, static, f"{name} {flag} runs commands of its own")
                return
        yield Command(words, static)

    def shell(self, words: tuple[str, ...], static: bool) -> Iterator[Command]:
        args = list(words[1:])
        if words[0] == "busybox":
            if not args or args[0] not in SHELLS - {"busybox"}:
                yield from self.resolve(tuple(args), static, "") if args else iter([Command(words, static)])
                return
            args = args[1:]
        for i, arg in enumerate(args):
            if arg == "-c" or (arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]):
                if i + 1 < len(args) and static:
                    yield from self.nested(args[i + 1], words, static)
                    return
                yield Command(words, static, "a shell given a command string not known before it runs")
                return
            if not arg.startswith("-") and not arg.startswith("+"):
                yield Command(words, static, "runs a shell script (its contents are not on the line)")
                return
        yield Command(words, static, "a shell reading commands from its input")

    def nested(self, text: str, words: tuple[str, ...], static: bool) -> Iterator[Command]:
        yield Command(words, static)
        inner = _parse(text, self.depth + 1)
        for reason in inner.opaque:
            self.note(reason)
        yield from inner.commands

    def interpreter(self, words: tuple[str, ...], static: bool) -> Command:
        for arg in words[1:]:
            if arg in CODE_OPTIONS or (arg.startswith("-") and not arg.startswith("--") and arg[1:2] in "cme"
                                       and len(arg) > 2):
                return Command(words, static, f"{words[0]} {arg[:2]} runs code given on the line")
            if arg == "-":
                break
            if not arg.startswith("-"):
                return Command(words, static)  # a script: judged by its name and arguments
        return Command(words, static, f"{words[0]} reading code from its input")


def _after_options(words: tuple[str, ...], with_value: frozenset[str], positionals: int) -> tuple[str, ...]:
    """The words after a wrapper's own options and positional arguments: the command it runs."""
    i = 1
    while i < len(words):
        word = words[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        i += 2 if word in with_value else 1
    return words[i + positionals :]
