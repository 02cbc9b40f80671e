"""The one error type users see: a place and a message, printed as one line.

``GantryError(where, what, exit_code=2)`` prints ``gantry: <where>: <what>``. Its typed subclasses
(:class:`NotFound`, :class:`Conflict`, :class:`Unauthorized`, :class:`Unavailable`,
:class:`TimeoutExceeded`, :class:`BadInput`, :class:`BadAnswer`, :class:`CheckFailed`) let callers branch on the kind
of failure with ``isinstance`` instead of matching message text.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143   # 128 + SIGTERM: a Jenkins abort, a pod eviction


class GantryError(Exception):
    """A user-facing failure: ``gantry: <where>: <what>`` and a non-zero exit code.

    ``problems`` carries more than one line when one input has several faults
    (a catalog with three bad keys reports all three).
    """

    def __init__(self, where: str, what: str, *, exit_code: int = EXIT_BAD_INPUT,
                 problems: list[str] | None = None) -> None:
        super().__init__(f"{where}: {what}" if where else what)
        self.where = where
        self.what = what
        self.exit_code = exit_code
        self.problems = problems or []

    def lines(self) -> list[str]:
        """Every line to print on stderr, each prefixed by ``gantry: ``."""
        lines = self.problems or [str(self)]
        return ["gantry: " + " ".join(line.split()) for line in lines]


# Typed failures. Callers branch on the type (``except NotFound``), never on message text.
# Each carries its default exit code; ``exit_code=`` still overrides it for one raise.

class _Typed(GantryError):
    default_exit_code = EXIT_BAD_INPUT

    def __init__(self, where: str, what: str, *, exit_code: int | None = None,
                 problems: list[str] | None = None) -> None:
        super().__init__(where, what, exit_code=self.default_exit_code if exit_code is None else exit_code,
                         problems=problems)


class BadInput(_Typed):
    """The user's input is wrong (a flag, a file, a value): exit 2."""


class BadAnswer(_Typed):
    """A server answered, but not as its API documents (not JSON, a field missing or of another
    type); the message names the endpoint and the field (:mod:`pipeline_lib.core.answer`): exit 2."""


class NotFound(_Typed):
    """A named thing does not exist (HTTP 404, a missing file, branch, tool or image): exit 2."""


class Conflict(_Typed):
    """The target's state refuses the change (HTTP 409/412/422, a rejected push): exit 2."""


class Unauthorized(_Typed):
    """Credentials missing, wrong or without the permission (HTTP 401/403): exit 2."""


class Unavailable(_Typed):
    """A service could not be reached or kept failing after retries (5xx, 429, connection): exit 2."""


class TimeoutExceeded(_Typed):
    """A command or request did not finish within its time limit (its processes are gone): exit 2."""


class CheckFailed(_Typed):
    """The check ran and said no (gate failed, drift found): exit 1."""

    default_exit_code = EXIT_CHECK_FAILED


def error_for_status(status: int, where: str, what: str) -> GantryError:
    """The typed error for an HTTP ``status`` (RFC 9110 §15): 401/403 Unauthorized, 404/410
    NotFound, 409/412/422 Conflict, 408/429/5xx Unavailable, other 4xx BadInput."""
    if status in (401, 403):
        return Unauthorized(where, what)
    if status in (404, 410):
        return NotFound(where, what)
    if status in (409, 412, 422):
        return Conflict(where, what)
    if status in (408, 429) or status >= 500:
        return Unavailable(where, what)
    return BadInput(where, what)
