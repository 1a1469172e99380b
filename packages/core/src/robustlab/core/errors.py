"""Exception types. Every error a user can cause derives from :class:`RobustlabError`.

The CLI turns any ``RobustlabError`` (and ``ValueError``) into one readable line and a
non-zero exit code; library callers can catch the specific subclasses.
"""

from __future__ import annotations


class RobustlabError(Exception):
    """Base class of the errors robustlab raises on bad input or missing resources."""


class UnknownNameError(RobustlabError, KeyError):
    """A name that is not in a registry. The message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataNotFoundError(RobustlabError, FileNotFoundError):
    """A dataset that is not on disk and cannot be downloaded. The message says where we looked."""


class CheckpointError(RobustlabError):
    """A checkpoint that is corrupt, truncated or for a different architecture."""


class ConfigError(RobustlabError, ValueError):
    """An unknown configuration key or a value of the wrong type."""


class UnknownOptionError(ConfigError, TypeError):
    """A keyword option that a registered factory (attack, method, model, ...) does not take.

    The message names the option and the entry and lists the valid options, with the closest
    matches first ("did you mean"). It is a ``TypeError`` too, which is what Python raises for
    an unexpected keyword argument, so existing ``except TypeError`` code keeps working.

    Attributes:
        kind: What the registry holds ("attack", "method", ...).
        name: The registered name that was built.
        option: The unknown option.
        valid: The options the entry takes (sorted; may be empty when unknown).
    """

    def __init__(
        self, kind: str, name: str, option: str, valid: tuple[str, ...], via: str | None = None
    ) -> None:
        import difflib

        self.kind, self.name, self.option, self.valid = kind, name, option, tuple(valid)
        close = difflib.get_close_matches(option, self.valid, n=3)
        where = f"{kind} {name!r}" + (f" (passed on to {kind} {via!r})" if via else "")
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        listed = ", ".join(self.valid) if self.valid else "none known (see its docstring)"
        super().__init__(f"unknown option {option!r} for {where}; valid: {listed}{hint}")
