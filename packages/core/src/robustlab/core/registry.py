"""One small registry type used for datasets, models, attacks, training methods and suites.

Example::

    MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

    @MODELS.register("lenet5")
    def lenet5(num_classes: int = 10, in_channels: int = 1) -> nn.Module: ...

    MODELS.build("lenet5", num_classes=10)
    MODELS.names()  # ['lenet5', ...]
    MODELS.build("lenet5", num_clases=10)  # UnknownOptionError: ... valid: in_channels, num_classes

Unknown names and unknown keyword options both end in one error that lists the valid choices.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from robustlab.core.errors import UnknownNameError, UnknownOptionError

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
        """Call the registered factory ``name`` with ``kwargs`` and return the result.

        Raises:
            UnknownNameError: for an unknown ``name`` (listing the valid names).
            UnknownOptionError: when the factory does not take one of ``kwargs`` (listing the
                options it takes, see :func:`accepted_options`); a factory that passes its
                keywords on to another entry of this registry (``ctr/s-pgd`` -> ``pgd``) reports
                both names.
        """
        factory = self.get(name)
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r} is not callable and cannot be built")
        try:
            return factory(**kwargs)
        except UnknownOptionError as exc:
            if exc.kind == self.kind and exc.name != name and exc.option in kwargs:
                valid = tuple(sorted(set(exc.valid) | set(accepted_options(factory))))
                raise UnknownOptionError(self.kind, name, exc.option, valid, via=exc.name) from None
            raise
        except TypeError as exc:
            option = unexpected_keyword(exc)
            if option is None or option not in kwargs:
                raise
            raise UnknownOptionError(self.kind, name, option, accepted_options(factory)) from None

    @contextlib.contextmanager
    def replaced(self, name: str, obj: T) -> Iterator[T]:
        """Temporarily register ``obj`` as the existing entry ``name``; yields the original.

        Meant for tests (e.g. ``robustlab.core.testing`` wraps a training method to simulate a
        crash while the run's configuration, which names the method, stays the same).
        """
        original = self.get(name)
        self._entries[name] = obj
        try:
            yield original
        finally:
            self._entries[name] = original

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


_UNEXPECTED = re.compile(r"got an unexpected keyword argument '([^']+)'")
_MAX_DEPTH = 16


def unexpected_keyword(exc: TypeError) -> str | None:
    """The keyword named by Python's "got an unexpected keyword argument 'x'" TypeError, or None."""
    match = _UNEXPECTED.search(str(exc))
    return match.group(1) if match else None


def accepted_options(factory: Any) -> tuple[str, ...]:
    """The keyword options a registered factory takes, sorted (best effort, for error messages).

    Read from the signatures: a factory's named parameters; when it also takes ``**kwargs``,
    those of the class it returns (its return annotation); for a class, the named parameters of
    every ``__init__`` along the MRO up to the first one without ``**kwargs``. An object may
    declare its options instead with an ``accepted_options()`` callable attribute.
    """
    names: set[str] = set()
    target: Any = factory
    for _ in range(_MAX_DEPTH):
        declared = getattr(target, "accepted_options", None)
        if callable(declared):
            names |= set(declared())
            break
        if isinstance(target, type):
            names |= class_options(target)
            break
        params, var_kw = _keyword_params(target)
        names |= params
        returned = returned_class(target) if var_kw else None
        if returned is None:
            break
        target = returned
    return tuple(sorted(names))


def _keyword_params(fn: Any) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set(), False
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {p.name for p in params if p.kind in kinds and p.name != "self"}
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def class_options(cls: type) -> set[str]:
    """Named parameters of every ``__init__`` along ``cls``'s MRO up to the first without ``**kwargs``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        params, var_kw = _keyword_params(init)
        names |= params
        if not var_kw:
            break
    return names


def returned_class(fn: Any) -> type | None:
    """The class a factory returns: ``fn`` itself if it is a class, else its return annotation."""
    if isinstance(fn, type):
        return fn
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:  # unresolvable annotations: no further options known
        return None
    return hint if isinstance(hint, type) else None
