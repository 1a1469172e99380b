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
