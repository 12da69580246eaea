"""Ctrl-C and kills between training steps, never inside one: a checkpoint then never holds half a step."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def deferred_interrupts():
    """Hold SIGINT and SIGTERM until the step in flight is complete; yields the list of signals received.

    A checkpoint then never holds half a step (D updated, G not). Outside the
    main thread, signals cannot be caught and the list stays empty.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
