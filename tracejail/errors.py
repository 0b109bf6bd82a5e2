"""Errors that end tracejail with a one-line message and a fixed exit status.

The CLI catches TracejailError, prints ``tracejail: <message>`` on stderr and
exits with ``exit_code``; nothing else may print a traceback to users.
"""


class TracejailError(Exception):
    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(TracejailError):
    """Bad flags, values or config file."""
    exit_code = 2


class PolicyError(TracejailError):
    """A policy that does not parse or compile; message starts with file:line:col."""
    exit_code = 2


class SetupError(TracejailError):
    """A jail setup step failed; the command never ran."""
    exit_code = 125


class NotExecutable(TracejailError):
    exit_code = 126


class CommandNotFound(TracejailError):
    exit_code = 127
