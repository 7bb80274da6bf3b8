"""Progress observers for the scheduler: a Rich live display, or plain periodic lines."""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from costcli.results.document import WorkerState
    from costcli.results.metrics import RequestRecord


def worker_line(worker: WorkerState) -> str:
    """`--engine ray`: a task set up, where, and its clock against the driver's."""
    offset = worker.clock_offset_ms or 0.0
    return (
        f"worker {worker.shard} ready on {worker.host} (pid {worker.pid}; clock "
        f"{offset:+.1f} ms ± {worker.clock_uncertainty_ms or 0.0:.1f} ms from the driver's)"
    )


RECENT = 500


@dataclass
class _Stats:
    done: int = 0
    errors: int = 0
    tokens: int = 0
    # the last RECENT TTFTs (the live p50): bounded, whatever the run's length
    ttfts: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    started: float = field(default_factory=time.monotonic)

    def add(self, record: RequestRecord) -> None:
        self.done += 1
        if record.ok:
            self.tokens += record.output_tokens or 0
            if record.ttft_ms is not None:
                self.ttfts.append(record.ttft_ms)
        else:
            self.errors += 1

    def line(self) -> str:
        from costcli.results.metrics import percentile

        rate = self.tokens / max(1e-9, time.monotonic() - self.started)
        if not self.ttfts:
            return f"errors {self.errors} · TTFT p50 - · {rate:.1f} tok/s"
        ttft = percentile(sorted(self.ttfts), 50)
        return f"errors {self.errors} · TTFT p50 {ttft:.0f} ms · {rate:.1f} tok/s"


class RichObserver:
    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[stats]}", markup=False),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.stats: dict[str, _Stats] = {}

    def target_started(self, label: str, total: int | None) -> None:
        if not self.tasks:
            self.progress.start()
        self.stats[label] = _Stats()
        self.tasks[label] = self.progress.add_task(label, total=total, stats="")

    def request_done(self, label: str, record: RequestRecord) -> None:
        st = self.stats[label]
        st.add(record)
        self.progress.update(self.tasks[label], completed=st.done, stats=st.line())

    def target_finished(self, label: str) -> None:
        done = self.stats[label].done
        self.progress.update(self.tasks[label], total=done, completed=done)

    def worker_ready(self, worker: WorkerState) -> None:
        self.progress.console.print(worker_line(worker), markup=False, highlight=False)

    def stop(self) -> None:
        if self.tasks:
            self.progress.stop()


class PlainObserver:
    """For pipes and CI: a line per target start/end and one every `every_s` seconds."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.stats: dict[str, _Stats] = {}
        self.totals: dict[str, int | None] = {}
        self.last = 0.0

    def _print(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def target_started(self, label: str, total: int | None) -> None:
        self.stats[label], self.totals[label] = _Stats(), total
        self.last = time.monotonic()
        self._print(
            f"{label}: started ({total if total is not None else 'until the duration ends'} requests)"
        )

    def request_done(self, label: str, record: RequestRecord) -> None:
        st = self.stats[label]
        st.add(record)
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self._print(f"{label}: {st.done}/{self.totals[label] or '?'} · {st.line()}")

    def target_finished(self, label: str) -> None:
        st = self.stats[label]
        self._print(f"{label}: done {st.done} · {st.line()}")

    def worker_ready(self, worker: WorkerState) -> None:
        self._print(worker_line(worker))

    def stop(self) -> None:
        pass


class QuietObserver(PlainObserver):
    def _print(self, text: str) -> None:
        pass
