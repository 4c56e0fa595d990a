"""Errors that the command line turns into one readable line and exit code 1.

Every layer (``sim``, ``optimise``, ``scenarios``) raises :class:`InputError` for bad input
it can name: the file, the key or row, and the bad value. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input that the user can fix; ``str(err)`` is the whole message for the user."""


class InfeasibleError(InputError):
    """The input is well formed but asks for something that cannot be satisfied."""


class KeyedValueError(ValueError):
    """A check across fields of a spec that knows which key it is about.

    Raised inside a pydantic validator, it lets the scenario loader name the key path
    (``portfolio.segments[1].dpd_weights``) rather than only the enclosing table.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message
