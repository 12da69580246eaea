"""Files written atomically: a temporary sibling renamed into place, so a kill never leaves half a file."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None], *, fsync: bool = True) -> Path:
    """Write a file through ``write(handle)`` into a temporary sibling, then rename it into place.

    The file gets the usual permissions (0666 less the umask), not ``mkstemp``'s
    private 0600. ``fsync=False`` skips the flush to disk (bulk data that can be
    regenerated, such as thousands of face crops).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda h: h.write(text.encode("utf-8")))


def check_out(path: str | Path, *, folder: bool = True, what: str = "--out") -> Path:
    """Check, before any work, that ``path`` can become the output folder (or file, ``folder=False``).

    Refused with one line: an existing file where a folder is wanted (or the
    reverse), a file on the way to it, or a nearest existing folder that is not writable.
    """
    from .errors import IcezooError

    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise IcezooError(f"{what} {path}: is {'a file, not a folder' if folder else 'a folder; name a file'}")
    parent = path if folder else path.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise IcezooError(f"{what} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise IcezooError(f"{what} {path}: {existing} is not writable")
    return path


INCOMPLETE = "INCOMPLETE"
"""The marker file in a run folder whose run did not finish; it holds the reason, one line."""


@contextlib.contextmanager
def marked_incomplete(folder: str | Path | None, where: Callable[[], str] = str):
    """Leave ``folder/INCOMPLETE`` (the reason, one line) if the block fails; remove it when the block completes.

    A failed or interrupted run then never passes for a finished one. ``where()``
    says how far it got (say, ``at step 12``). ``folder`` None: nothing to mark.
    """
    try:
        yield
    except BaseException as err:
        if folder is not None and Path(folder).is_dir():
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            what = "interrupted" if isinstance(err, (KeyboardInterrupt, SystemExit)) else type(err).__name__
            with contextlib.suppress(OSError):
                atomic_write_text(Path(folder) / INCOMPLETE, f"{what} {where()}: {reason}".rstrip(": ") + "\n")
        raise
    if folder is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(Path(folder) / INCOMPLETE)
