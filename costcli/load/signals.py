"""SIGTERM and SIGHUP end a run as Ctrl-C does: what was measured is kept and written.

    with interrupt_signals() as guard:
        result = execute(plan)          # the first signal stops it as Ctrl-C does
        with guard.deferred():
            write_atomic(path, text)    # a signal here waits until the file is whole
    sys.exit(guard.exit_code or 0)      # 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP)

SIGTERM and SIGHUP are turned into SIGINT, which asyncio's runner handles by cancelling the
run (its own handler, installed while a loop runs): so everything that survives Ctrl-C (the
run state, the partial results) survives them too, and the exit code says which signal it
was. A handler that raised an exception itself could be lost: Python drops an exception
raised while a weakref callback or `__del__` runs, and the run went on (seen with SIGINT).
Inside `deferred()` every signal is remembered, never acted on, so the block runs to its
end; a third signal exits at once (the results file is written through a temp file and a
rename, so no half file is left).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGHUP)  # to SIGINT; SIGINT is asyncio's while a loop runs
HANDLED = (signal.SIGINT, *FORWARDED)
FORCE_AFTER = 3  # signals: the third one exits without waiting


def exit_code_for(signum: int) -> int:
    """The shell's convention: 128 + the signal number."""
    return 128 + signum


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
        self.remember(signum, frame)
        if self.count == 1 and not self._deferring:
            if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
                raise KeyboardInterrupt  # SIGINT ignored (`cmd &`): nothing would act on it
            signal.raise_signal(signal.SIGINT)  # the run stops as on Ctrl-C

    def remember(self, signum: int, frame: FrameType | None) -> None:
        """Inside `deferred()`: count the signal (the third exits), act on none."""
        self.count += 1
        if self.first is None:
            self.first = signum
        if self.count >= FORCE_AFTER:
            os._exit(exit_code_for(self.first))

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals inside are remembered, never raised: the block runs to its end."""
        self._deferring += 1
        previous = _install(HANDLED, self.remember)
        try:
            yield
        finally:
            self._deferring -= 1
            _restore(previous)


def _install(signals: tuple[int, ...], handler: Any) -> dict[int, Any]:
    """`handler` for each signal not ignored (`nohup` ignores SIGHUP: it stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {
        s: signal.signal(s, handler) for s in signals if signal.getsignal(s) is not signal.SIG_IGN
    }


def _restore(previous: dict[int, Any]) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


@contextlib.contextmanager
def interrupt_signals() -> Iterator[SignalGuard]:
    """Install the guard for SIGTERM and SIGHUP (SIGINT stays Python's and asyncio's); the
    old handlers come back after. Outside the main thread (where handlers cannot be set) the
    guard only observes."""
    guard = SignalGuard()
    previous = _install(FORWARDED, guard.handle)
    try:
        yield guard
    finally:
        _restore(previous)
