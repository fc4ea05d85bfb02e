"""Image reference grammar (Docker Distribution's `reference` package) for what we name.

Everything that reaches a command line or a script as a registry, repository, tag or
digest is validated here first, so a hostile name never gets further than this.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from werfpull.errors import UsageError

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
REPO_RE = re.compile(_NAME)
DOMAIN_RE = re.compile(_DOMAIN)
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")
STAGE_TAG_PREFIX = "image-stage-"


# In a name that is data (an image, project or stage name, a reason): NUL, which the
# script renderer uses to mark its own shell variables, and the control characters
# that a terminal reads as commands (ESC, CR, backspace, C1). Newline and tab are
# quoted like any other character.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def name_problem(text) -> str | None:
    """Why `text` cannot be a name shown or rendered, or None when it can."""
    if text is None:
        return None
    if not isinstance(text, str):
        return "is not a string"
    bad = CONTROL_RE.search(text)
    if bad:
        return f"holds the control character U+{ord(bad.group()):04X}"
    return None


def sha256_digest(data: bytes) -> str:
    """The OCI digest of `data`: "sha256:" and 64 lower-case hex digits."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def stage_tag(signature: str) -> str:
    if not SIGNATURE_RE.fullmatch(signature):
        raise ValueError(f"not a stage signature: {signature!r}")
    return STAGE_TAG_PREFIX + signature


@dataclass(frozen=True)
class Repo:
    """A stages repository, `HOST[:PORT]/PATH`, without tag or digest."""

    name: str

    @property
    def host(self) -> str:
        first, _, rest = self.name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost" or first[:1] == "["):
            return first
        return "docker.io"

    def tagged(self, signature: str) -> str:
        return f"{self.name}:{stage_tag(signature)}"

    def digested(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.name}@{digest}"

    @property
    def path(self) -> str:
        """The repository path without its registry host (as a mirror serves it)."""
        first, _, rest = self.name.partition("/")
        return rest if first == self.host else self.name

    def __str__(self) -> str:
        return self.name


def parse_repo(text: str, what: str = "REPO") -> Repo:
    if len(text) > 255 or not REPO_RE.fullmatch(text):
        raise UsageError(
            f"{what} {text!r} is not a valid repository reference",
            hint="expected HOST[:PORT]/PATH, lower-case, without a tag (e.g. "
                 "registry.example.com/project/stages)",
        )
    return Repo(text)


def check_host(text: str) -> str:
    if not DOMAIN_RE.fullmatch(text):
        raise UsageError(f"{text!r} is not a valid registry host (HOST[:PORT])")
    return text


def check_digest(text: str) -> str:
    if not isinstance(text, str) or not DIGEST_RE.fullmatch(text):
        raise ValueError(f"not a sha256 digest: {text!r}")
    return text
