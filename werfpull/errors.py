"""The error hierarchy and the one place where errors become exit codes.

Every error werfpull raises on purpose is a `WerfpullError`; its class decides the
exit code, its message is one line that says what, where and what to do next.
"""

from __future__ import annotations

# Documented in README.md ("Exit codes"); keep both in step.
EXIT_OK = 0
EXIT_FAILED = 1  # some stages failed to transfer; the rest landed
EXIT_USAGE = 2  # bad command line
EXIT_CONFIG = 3  # werf.yaml or the git checkout is wrong
EXIT_REGISTRY = 4  # a registry refused, was unreachable, or answered with an error
EXIT_PLAN = 5  # a plan file is stale, foreign, tampered or of another format
EXIT_TOOL = 6  # a required external tool is missing or failed unexpectedly
EXIT_DAEMON = 7  # the docker daemon (the destination) is down or refused
EXIT_INTERRUPTED = 130  # SIGINT
EXIT_TERMINATED = 143  # SIGTERM


class WerfpullError(Exception):
    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(WerfpullError):
    exit_code = EXIT_USAGE


class ConfigError(WerfpullError):
    """A mistake in werf.yaml, located by file, line, document and key."""

    exit_code = EXIT_CONFIG

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        document: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ):
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        ctx = ", ".join(x for x in (document, f"key {key!r}" if key else None) if x)
        super().__init__(f"{where}{ctx + ': ' if ctx else ''}{message}", hint)
        self.file, self.line, self.document, self.key = file, line, document, key


class GitError(ConfigError):
    """The git checkout cannot give the file state the signatures need."""


class RegistryError(WerfpullError):
    """A registry answered with something other than present or absent."""

    exit_code = EXIT_REGISTRY
    kind = "error"

    def __init__(self, message: str, *, registry: str | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.registry = registry


class Unauthorized(RegistryError):
    kind = "unauthorized"


class TLSError(RegistryError):
    kind = "tls"


class Unreachable(RegistryError):
    kind = "unreachable"


class ServerError(RegistryError):
    kind = "server"


class DaemonError(WerfpullError):
    """The docker daemon, as a destination, did not answer or refused: never a registry's
    fault, so never retried as one; `address` is the daemon werfpull talked to."""

    exit_code = EXIT_DAEMON

    def __init__(self, address: str, reason: str, hint: str | None = None):
        super().__init__(f"docker daemon at {address}: {reason}",
                         hint or "check that the daemon runs and DOCKER_HOST names it")
        self.address = address


class PlanError(WerfpullError):
    exit_code = EXIT_PLAN


class ToolError(WerfpullError):
    """An external tool is missing or failed in a way we do not classify."""

    exit_code = EXIT_TOOL

    def __init__(self, message: str, *, argv=None, code=None, stderr: str = "", hint=None):
        super().__init__(message, hint)
        self.argv, self.code, self.stderr = argv, code, stderr


class TransferFailed(WerfpullError):
    """Some stages of an apply failed; the others landed."""

    exit_code = EXIT_FAILED
    outcome = None

    def with_outcome(self, outcome) -> TransferFailed:
        self.outcome = outcome
        return self


def close_matches(word: str, known, n: int = 1) -> list[str]:
    """The known names nearest a wrong one, for a hint (difflib, imported only then)."""
    import difflib

    return difflib.get_close_matches(word, known, n=n)
