"""What every split engine shares: a shard's job, the worker's progress as lines, and the
parent's reading of them.

A shard (`load.schedule.Shard`) is part i of N of the run's seeded schedule: the requests
whose number k has k % N == i - 1, at the planned times of the whole run, with its share of
the concurrency. The unit a worker runs is a `ShardJob` (the plan with its shard, where to
write). A worker's lines: `ready` once its client is set up, then `S label total`,
`R label <record JSON>` and `F label` as its targets start, requests finish and targets end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from costcli.files.errors import BadInputError
from costcli.load.schedule import Shard
from costcli.results.metrics import RequestRecord

if TYPE_CHECKING:
    from costcli.load.phase import ProgressObserver


def parse_shard(text: str) -> Shard:
    """`i/N` (1-based) -> Shard; anything else is bad input naming --shard."""
    index, sep, count = text.partition("/")
    try:
        if sep and index.strip().isdigit() and count.strip().isdigit():
            return Shard(index=int(index), count=int(count))
    except ValueError:
        pass
    raise BadInputError(f"--shard {text}: expected i/N with 1 <= i <= N, e.g. --shard 1/2")


class ShardJob(BaseModel):
    """What one worker runs: the plan (with its `shard`) and the results file to write."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: dict[str, Any]
    output: Path


# --- the worker ------------------------------------------------------------------------


class LineObserver:
    """The worker's progress as lines, handed to `say`: a `LineBatcher` that writes them to
    stdout (`--processes`) or sends them back through Ray (`--engine ray`)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def target_started(self, label: str, total: int | None) -> None:
        self.say(f"S {label}\t{total if total is not None else ''}")

    def request_done(self, label: str, record: RequestRecord) -> None:
        self.say(f"R {label}\t{record.model_dump_json()}")

    def target_finished(self, label: str) -> None:
        self.say(f"F {label}")


FLUSH_S = 0.2  # how often a worker's lines go to its parent (or a Ray task's to the hub)


class LineBatcher:
    """A worker's lines, handed to `send` together every FLUSH_S by a thread of their own:
    the event loop only appends. Written one by one, each finished request cost its worker a
    write and its parent a wake-up and a parse, all at the instant a round of synchronized
    streams ends and the next one's requests go out."""

    def __init__(self, send: Callable[[list[str]], None], empty_too: bool = False) -> None:
        self.send = send
        self.empty_too = empty_too  # send every FLUSH_S, lines or not
        self.pending: list[str] = []
        self.lock = threading.Lock()  # the pending list
        self.sending = threading.Lock()  # one batch at a time, in order
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="costcli-lines", daemon=True)
        self.thread.start()

    def say(self, line: str) -> None:
        with self.lock:
            self.pending.append(line)

    def flush(self) -> None:
        with self.sending:
            with self.lock:
                batch, self.pending = self.pending, []
            if batch or self.empty_too:
                self.send(batch)

    def _loop(self) -> None:
        while not self.done.wait(FLUSH_S):
            self.flush()

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.flush()


class Readiness(Protocol):
    ready: bool


class Progress:
    """Worker lines -> the parent's observer: a target starts with its first worker and
    finishes with its last."""

    def __init__(self, observer: ProgressObserver, workers: int, total: int | None) -> None:
        self.observer, self.workers, self.total = observer, workers, total
        self.started: dict[str, int] = {}

    def line(self, worker: Readiness, text: str) -> RequestRecord | None:
        """Relay one line; an `R` line's record is returned too (the Ray driver keeps it)."""
        kind, _, rest = text.partition(" ")
        label, _, payload = rest.partition("\t")
        if kind == "R":
            record = RequestRecord.model_validate_json(payload)
            self.observer.request_done(label, record)
            return record
        if kind == "S":
            self.started[label] = self.started.get(label, 0) + 1
            if self.started[label] == 1:
                self.observer.target_started(label, self.total)
        elif kind == "F":
            self.started[label] -= 1
            if self.started[label] == 0:
                self.observer.target_finished(label)
        elif text == "ready":
            worker.ready = True
        return None
