"""Typed sandbox errors. Every message is written to be shown to a person as is."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every sandbox failure; ``str(err)`` is a user-facing message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownSandboxError(SandboxError):
    """No backend is registered under the requested name."""


class SandboxUnavailableError(SandboxError):
    """The sandbox's engine or container went away (Docker stopped, container removed).

    Nothing the agent did caused it, and retrying later may work: callers should hold
    the agent's work (pause it) rather than report a failed command to it.
    """


class SandboxClosedError(SandboxError):
    """The sandbox was closed; it accepts no more work."""


class PathEscapeError(SandboxError):
    """A path given to the sandbox resolves outside its work dir."""


class SandboxFileNotFoundError(SandboxError, FileNotFoundError):
    """``read_file`` was asked for a file that does not exist in the work dir.

    Also a ``FileNotFoundError`` so callers can treat it like the builtin one.
    """
