"""Errors that reach the user as one readable line and an exit code.

Exit codes (DESIGN.md): 0 ok; 1 a check failed; 2 bad usage or bad input file;
3 the run could not reach its target.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


class CostcliError(Exception):
    """An error the CLI prints as one line (no traceback) before exiting with `exit_code`."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInputError(CostcliError):
    """A file, key or option is wrong. The message names the file, the key and the fix.

    A file with several problems gives one line per problem (`BadInputError.of(lines)`);
    the CLI prints each line on its own."""

    exit_code = EXIT_BAD_INPUT

    @classmethod
    def of(cls, problems: list[str]) -> BadInputError:
        return cls("\n".join(problems))

    @property
    def problems(self) -> list[str]:
        return self.message.splitlines()

    @classmethod
    def at(cls, file: object, key: str, problem: str, fix: str) -> BadInputError:
        where = f"{file}: " if file else ""
        keypart = f"key '{key}' " if key else ""
        return cls(f"{where}{keypart}{problem}; {fix}")


class UnreachableError(CostcliError):
    """The target could not be reached at all (no request got an answer)."""

    exit_code = EXIT_UNREACHABLE


class CheckFailedError(CostcliError):
    """A check failed: error budget, SLO or regression."""

    exit_code = EXIT_CHECK_FAILED
