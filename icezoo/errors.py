"""User-facing errors, and warnings said once.

Every mistake a user can make (a malformed recipe, an unknown component, a
missing file, a corrupt checkpoint) raises :class:`IcezooError`, whose message
is one line naming what and where. The CLI prints that line and exits with
code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging

_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log ``message`` on the ``icezoo`` logger once per process (a LOSO run meets the same advice at every fold)."""
    if message not in _warned:
        _warned.add(message)
        logging.getLogger("icezoo").warning(message)


class IcezooError(Exception):
    """An error caused by the user's input, reported as one line (exit code 2)."""

    exit_code = 2


class RecipeError(IcezooError):
    """A problem in a recipe, located by file and dotted key path."""

    def __init__(self, source: str, path: str, message: str):
        self.source, self.path, self.message = source, path, message
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")


class UnknownComponentError(IcezooError, KeyError):
    """A registered name was asked for but is not known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
