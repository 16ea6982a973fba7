"""Stopping cleanly on SIGINT (Ctrl+C) and SIGTERM (``kill``, systemd, Slurm's time limit, ``docker stop``).

Python turns only SIGINT into an exception; SIGTERM's default action kills the process on the spot, so a search
would leave its workers running on and its trial marked as nothing at all. Inside :func:`stop_on_signals` both
raise :class:`automl.errors.Interrupted` (a KeyboardInterrupt) in the main thread: ``finally`` blocks run,
workers are stopped, the running trial is marked ``interrupted`` and queued again, a half-written export is
discarded, and the command line exits with ``128 + signal number``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from automl.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# The signals that arrived inside stop_on_signals. Kept because Python swallows an exception raised while a
# finalizer (``__del__``, e.g. TensorFlow's) or a C callback runs ("Exception ignored in ..."): the loops of
# long work (epochs' batches, trials, workers, export formats) call raise_if_interrupted(), so a stop that was
# swallowed is raised again there instead of being lost, and the traceback Python would print for it is not
# shown (a user who pressed Ctrl+C would read it as a crash).
_received: list[int] = []


def _raise_interrupted(signum, frame) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def _quiet_unraisable(previous):
    """A ``sys.unraisablehook`` that drops our own stop (recorded in ``_received``, raised again at the next
    ``raise_if_interrupted``) instead of printing "Exception ignored in …" and a traceback."""

    def hook(unraisable) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            previous(unraisable)

    return hook


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if SIGINT or SIGTERM arrived inside :func:`stop_on_signals`. Call it only where
    work goes on normally (a loop over batches, trials or formats), never while stopping."""
    if _received:
        raise Interrupted(_received[0])


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` while the block runs; the previous handlers come back after.

    SIGINT is set explicitly because a process started in the background by a non-interactive shell inherits
    it ignored, and Python would then never raise KeyboardInterrupt. Signal handlers belong to the main thread:
    called from another one (the Python API in a thread), the handlers are left as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise_interrupted) for number in STOP_SIGNALS}
    unraisable_hook, sys.unraisablehook = sys.unraisablehook, _quiet_unraisable(sys.unraisablehook)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sys.unraisablehook = unraisable_hook
        _received.clear()
