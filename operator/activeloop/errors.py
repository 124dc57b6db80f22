"""One exception base class for ActiveLoop, with specific subclasses.

Every error that comes from bad input names the field (or line) and the problem, so a scientist
can fix the input without reading a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

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


class StateError(ActiveLoopError):
    """An action that the campaign's state does not allow now (e.g. a round past ``rounds``)."""


class RowProblem(NamedTuple):
    """One bad cell of an assay table: ``line`` as a text editor shows it (header = 1), the
    ``column`` as written in the file (or the field path of an AssayResult), and the problem."""

    line: int
    column: str
    problem: str

    def __str__(self) -> str:
        where = f"line {self.line}: {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.problem}"


MAX_PROBLEMS = 100
"""Problems of one table that are listed (a file with more says how many more there are)."""


class RecordError(ActiveLoopError, ValueError):
    """One or more rows of an assay table are invalid; nothing was recorded.

    ``problems`` lists the bad cells (:class:`RowProblem`), sorted by line: the first
    :data:`MAX_PROBLEMS`; ``total`` counts them all.
    """

    def __init__(self, source: str, problems: list[RowProblem], total: int | None = None) -> None:
        self.source = source
        ordered = sorted(problems)
        self.total = max(total or 0, len(ordered))
        self.problems = ordered[:MAX_PROBLEMS]
        lines = "\n".join(f"  {p}" for p in self.problems)
        more = self.total - len(self.problems)
        tail = f"\n  ... and {more:,} more (the first {len(self.problems)} are listed)" if more else ""
        super().__init__(f"{source}: {self.total:,} problem(s), nothing recorded:\n{lines}{tail}")

    @property
    def lines(self) -> list[int]:
        """Line numbers with a problem (each once, in order)."""
        return sorted({p.line for p in self.problems})

    def __reduce__(self):  # noqa: ANN204
        return type(self), (self.source, self.problems, self.total)


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


class NotFoundError(ActiveLoopError, LookupError):
    """A campaign, round or artifact that does not exist."""


class ForbiddenError(ActiveLoopError, PermissionError):
    """The caller may not do this (``verb`` on ``resource``)."""

    def __init__(self, verb: str, resource: str, detail: str = "") -> None:
        self.verb = verb
        self.resource = resource
        super().__init__(f"you may not {verb} {resource}" + (f": {detail}" if detail else ""))

    def __reduce__(self):  # noqa: ANN204
        return type(self), (self.verb, self.resource)


class UnauthorizedError(ActiveLoopError, PermissionError):
    """No credentials, or credentials the server (or the cluster) no longer accepts."""


class ConflictError(ActiveLoopError):
    """The request conflicts with what exists (a campaign of that name, an idempotency key reused)."""


class StalledError(ActiveLoopError):
    """A request whose body stopped arriving (a slow or stuck client)."""


class TooLargeError(ActiveLoopError):
    """An upload over a limit (bytes, rows, cells, or the uncompressed size of a workbook)."""
