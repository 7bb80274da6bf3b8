"""SIGTERM and SIGHUP end a run as Ctrl-C does: what was measured is kept and written.

    with interrupt_signals() as guard:
        result = execute(plan)          # the first signal raises `Terminated` in here
        with guard.deferred():
            write_atomic(path, text)    # a signal here waits until the file is whole
    sys.exit(guard.exit_code or 0)      # 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP)

`Terminated` is a KeyboardInterrupt, so everything that already survives Ctrl-C (the run
state, the partial results) survives SIGTERM and SIGHUP too. A second signal during the
orderly shutdown is remembered and does not cut it short; a third one exits at once (the
results file is written through a temp file and a rename, so no half file is left).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORCE_AFTER = 3  # signals: the third one exits without waiting


def exit_code_for(signum: int) -> int:
    """The shell's convention: 128 + the signal number."""
    return 128 + signum


class Terminated(KeyboardInterrupt):
    """A run stopped by a signal; `exit_code` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = exit_code_for(signum)


class SignalGuard:
    """The signals received while it is installed; see the module's docstring."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.count = 0
        self._deferring = 0

    @property
    def exit_code(self) -> int | None:
        return None if self.first is None else exit_code_for(self.first)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.first is None:
            self.first = signum
        if self.count >= FORCE_AFTER:
            os._exit(exit_code_for(self.first))
        if self.count == 1 and not self._deferring:
            raise Terminated(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals inside are remembered, never raised: the block runs to its end."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1


@contextlib.contextmanager
def interrupt_signals() -> Iterator[SignalGuard]:
    """Install the guard for SIGINT, SIGTERM and SIGHUP; the old handlers come back after.
    Outside the main thread (where handlers cannot be set) the guard only observes."""
    guard = SignalGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = {s: signal.signal(s, guard.handle) for s in HANDLED}
    try:
        yield guard
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
