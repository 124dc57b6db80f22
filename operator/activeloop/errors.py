"""One exception base class for ActiveLoop, with specific subclasses.

Every error that comes from bad input names the field (or line) and the problem, so a scientist
can fix the input without reading a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class ActiveLoopError(Exception):
    """Base class of every error ActiveLoop raises on purpose."""


class InputError(ActiveLoopError, ValueError):
    """Bad user input: ``field`` names where, ``problem`` says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")

    def __reduce__(self):  # noqa: ANN204 - picklable, so errors cross process boundaries intact
        return type(self), (self.field, self.problem)


class VariantError(InputError):
    """A variant, mutation or sequence that cannot be parsed against its parent."""


class ConfigError(InputError):
    """A campaign or step configuration that is invalid (unknown strategy, bad size ...)."""


class RecordError(ActiveLoopError, ValueError):
    """One or more rows of an assay file are invalid; nothing was recorded.

    ``errors`` holds ``(line_number, message)`` pairs, line numbers as a text editor shows them.
    """

    def __init__(self, source: str, errors: list[tuple[int, str]]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  line {n}: {msg}" for n, msg in errors)
        super().__init__(f"{source}: {len(errors)} invalid row(s), nothing recorded:\n{lines}")

    def __reduce__(self):  # noqa: ANN204
        return type(self), (self.source, self.errors)


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the field path (camelCase, as written in YAML).

    ``prefix`` (e.g. ``spec``) is put before every path; a problem of the whole object is named
    by the prefix alone.
    """
    lines = []
    for err in exc.errors():
        loc = ".".join([prefix] * bool(prefix) + [str(p) for p in err["loc"]]) or "(spec)"
        lines.append(f"{loc}: {err['msg']}")
    return "; ".join(lines)
