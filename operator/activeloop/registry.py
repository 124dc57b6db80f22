"""One small registry for every name-to-implementation map (surrogates, strategies, encodings ...).

A config names an implementation (``acquisition.strategy: thompson``); the module that implements
it registers it under that name with a decorator, and the getter refuses an unknown name with a
:class:`~activeloop.errors.ConfigError` that names the field and every known name::

    STRATEGIES: Registry[type[AcquisitionStrategy]] = Registry("acquisition.strategy")

    @STRATEGIES.register("thompson")
    class ThompsonSampling(AcquisitionStrategy): ...

    STRATEGIES.get("thompson")   # the class; STRATEGIES.get("x") -> ConfigError naming the known
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar, cast

from activeloop.errors import ConfigError

T = TypeVar("T")
S = TypeVar("S")


class Registry(Mapping[str, T], Generic[T]):
    """Implementations by config name; ``field`` is what a bad name is reported against.

    A mapping (``name in registry``, ``sorted(registry)``, ``registry[name]``) whose getter,
    :meth:`get`, raises :class:`ConfigError` instead of ``KeyError``.
    """

    def __init__(self, field: str, what: str = "name") -> None:
        self.field = field
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[S], S]:
        """Decorator: register the decorated object under each of ``names`` (and return it as is)."""

        def add(obj: S) -> S:
            for name in names:
                self.add(name, cast(T, obj))
            return obj

        return add

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` (a name is registered once)."""
        if name in self._items:
            raise ValueError(f"{self.field}: {name!r} is registered twice")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:  # type: ignore[override]  # a clear error instead of a default
        """The implementation registered under ``name``; :class:`ConfigError` naming the known ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ConfigError(self.field, f"unknown {self.what} {name!r}; known: {sorted(self._items)}") from None

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.field!r}, {sorted(self._items)})"


__all__ = ["Registry"]
