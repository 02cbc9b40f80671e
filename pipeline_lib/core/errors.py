"""The one error type users see: a place and a message, printed as one line."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


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
