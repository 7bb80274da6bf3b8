"""SIGTERM and SIGHUP end a run as Ctrl-C does: what was measured is kept and written.

    with interrupt_signals() as guard:
        result = execute(plan)          # the first signal stops it as Ctrl-C does
        with guard.deferred():
            write_atomic(path, text)    # a signal here waits until the file is whole
    sys.exit(guard.exit_code or 0)      # 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP)

The guard handles SIGINT, SIGTERM and SIGHUP alike, and acts on the first one only. While
a run's event loop runs (`cancelled_on_interrupt`), it cancels the run's task, as asyncio's
own Ctrl-C handler would (a handler that raised inside the loop could be lost: Python drops
an exception raised while a weakref callback or `__del__` runs); elsewhere it raises
KeyboardInterrupt (before the run starts), or only counts it (once the run's loop has
ended: the results are being kept, and the exit code will say it). Everything that survives Ctrl-C (the run state, the partial results)
survives them all, and the exit code says which signal came first. Every later signal is
only counted, wherever it lands (the end of the loop, the partial result being built, the
results file being written), so a burst of Ctrl-Cs just as a run ends cannot cut the
results short or print a traceback. Inside `deferred()` even the first one is only counted:
the block runs to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_RUNS: list[asyncio.Task[Any]] = []  # the run tasks a first signal cancels (innermost last)
_GUARDS: list[SignalGuard] = []  # the guards installed, innermost last


def exit_code_for(signum: int) -> int:
    """The shell's convention: 128 + the signal number."""
    return 128 + signum


class SignalGuard:
    """The signals received while it is installed; see the module's docstring."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.count = 0
        self._deferring = 0
        self.run_ended = False  # a run's loop has ended: its results are being kept

    @property
    def exit_code(self) -> int | None:
        return None if self.first is None else exit_code_for(self.first)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.remember(signum, frame)
        if self.count > 1 or self._deferring:
            return  # counted only: the first one is already stopping the run
        task = _RUNS[-1] if _RUNS else None
        if task is not None and not task.done():
            task.cancel()  # the run stops as on Ctrl-C, inside its loop
            task.get_loop().call_soon_threadsafe(lambda: None)  # wake the selector
            return
        if not self.run_ended:  # before the run (reading inputs), or a parent's own loop
            raise KeyboardInterrupt

    def remember(self, signum: int, frame: FrameType | None) -> None:
        """Count the signal and keep the first one's number; act on none."""
        self.count += 1
        if self.first is None:
            self.first = signum

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals inside are counted, never acted on: the block runs to its end."""
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
    """Install the guard for SIGINT, SIGTERM and SIGHUP (one not ignored: `nohup` and
    `cmd &` leave theirs ignored); the old handlers come back after. Outside the main thread
    (where handlers cannot be set) the guard only observes."""
    guard = SignalGuard()
    previous = _install(HANDLED, guard.handle)
    _GUARDS.append(guard)
    try:
        yield guard
    finally:
        _GUARDS.remove(guard)
        _restore(previous)


@contextlib.contextmanager
def cancelled_on_interrupt(task: asyncio.Task[Any]) -> Iterator[None]:
    """While inside, the guard's first signal cancels `task` (the run's task, in its loop);
    once it is left, a first signal is only counted (the caller keeps the results, then
    exits with the signal's code)."""
    _RUNS.append(task)
    try:
        yield
    finally:
        _RUNS.remove(task)
        for guard in _GUARDS:
            guard.run_ended = True
