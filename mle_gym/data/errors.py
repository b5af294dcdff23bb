"""What the data layer raises: data that cannot be prepared here, or that changed since."""

from __future__ import annotations


class DataNotAvailable(RuntimeError):
    """The requested data cannot be prepared here; the message says what to do."""


class DataCorrupted(DataNotAvailable):
    """A prepared folder no longer matches what was prepared; the message names the file
    and the command that rebuilds it."""
