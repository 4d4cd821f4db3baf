"""The one error hierarchy of mujun.

Every error a user can cause is a :class:`MujunError`. Its message is written for a
land-bureau user: which file, row or field, what was wrong and what to do. The CLI prints
it on one line and exits with status 2; the web app maps the classes to HTTP statuses.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "CRSError",
    "DependencyError",
    "InputError",
    "MujunError",
    "SchemaError",
    "WorkspaceError",
]


class MujunError(Exception):
    """Root of every error a user can cause (bad input, bad options, missing data)."""


class InputError(MujunError):
    """A source file or an argument cannot be used as it is."""


class SchemaError(InputError):
    """Fields are missing, unrecognised, duplicated or of the wrong type."""


class CRSError(InputError):
    """A coordinate reference system is missing or does not fit the coordinates."""


class WorkspaceError(MujunError):
    """The workspace lacks what an operation needs, or cannot be written."""


class ConflictError(MujunError):
    """Someone else changed a record since it was read; ``current`` is what they saved."""

    def __init__(self, message: str, current: object = None):
        super().__init__(message)
        self.current = current


class DependencyError(MujunError, ImportError):
    """An optional package that an option needs is not installed; the message says what to install."""
