"""One small registry type used for datasets, models, attacks, training methods and suites.

Example::

    MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

    @MODELS.register("lenet5")
    def lenet5(num_classes: int = 10, in_channels: int = 1) -> nn.Module: ...

    MODELS.build("lenet5", num_classes=10)
    MODELS.names()  # ['lenet5', ...]
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from robustlab.core.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping that refuses duplicates and explains unknown names.

    Args:
        kind: What the registry holds ("model", "attack", ...), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...
    def register(self, name: str, obj: T | None = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted.

        Raises:
            ValueError: if ``name`` is already registered or is not a non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def _add(o: T) -> T:
            if name in self._entries:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered; choose another name "
                    f"(paper packages prefix theirs, e.g. 'ctr/{name}')"
                )
            self._entries[name] = o
            return o

        return _add if obj is None else _add(obj)

    def get(self, name: str) -> T:
        """Return the object registered as ``name``.

        Raises:
            UnknownNameError: listing the valid names and the closest matches.
        """
        try:
            return self._entries[name]
        except KeyError:
            self._load_plugins()
            if name in self._entries:
                return self._entries[name]
            close = difflib.get_close_matches(str(name), self._entries, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Valid {self.kind} names: "
                f"{', '.join(self.names())}"
            ) from None

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Call the registered factory ``name`` with ``kwargs`` and return the result."""
        factory = self.get(name)
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r} is not callable and cannot be built")
        return factory(**kwargs)

    def names(self) -> list[str]:
        """Sorted registered names (paper packages' entries included once they are loaded)."""
        self._load_plugins()
        return sorted(self._entries)

    def _load_plugins(self) -> None:
        from robustlab.core.plugins import load_paper_plugins

        load_paper_plugins()

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"
