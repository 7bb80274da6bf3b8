"""`--engine ray` journals: each task's journal lines travel to the driver, which writes
them to that part's journal on its own disk (a task may run on a machine whose files the
driver never sees).

Inside a task, a `RelayedJournal` stands where the local engine's `JournalWriter` stands:
the runner writes the same lines, and each goes to the hub as a `J` line with the task's
other lines (every FLUSH_S). The driver writes each one to the part's file as it arrives,
fsync'd at least every SYNC_S: a driver killed at any moment loses at most the lines of
the last FLUSH_S + SYNC_S. The files are those `--processes` writes (the run's own journal
with its `parts` line, `run.journal.part-N.jsonl` each with the header of its shard's
plan), so `recover`, `--resume`, `merge`, `check` and `report` read both alike.

A resume ships each part's journal to its task (zlib-compressed, in the task's arguments),
which reads it back from a file of its own, as a `--processes` worker reads its part.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from costcli.load.clock import now_iso
from costcli.results.journal import SYNC_S, JournalWriter, read_header

if TYPE_CHECKING:
    from costcli.load.runner import RunSetup, RunState
    from costcli.load.schedule import Shard
    from costcli.plan import RunPlan

LINE = "J"  # a journal line's kind among a task's lines


@dataclasses.dataclass(frozen=True)
class JournalTicket:
    """What a task needs to journal: its part's path (on the driver, for the results'
    `meta.journal`) and, resuming, that part's journal so far (zlib)."""

    path: str
    held: bytes | None = None


class RelayedJournal(JournalWriter):
    """A task's journal: its lines said to the hub (`say`), to be written by the driver."""

    def __init__(self, path: Path, say: Callable[[str], None]) -> None:
        self.path = path
        self._say = say

    def _write(self, line: str) -> None:
        self._say(f"{LINE}\t{line.rstrip()}")

    def flush(self, *, sync: bool = False) -> None:
        """Nothing to do here: the lines leave with the task's next batch, and the driver
        syncs them."""

    def close(self) -> None:
        """The task's outbox sends what is left when it closes."""


@contextlib.contextmanager
def relayed(
    setup: RunSetup, state: RunState, ticket: JournalTicket | None, say: Callable[[str], None]
) -> Iterator[RunSetup]:
    """Inside a task: the setup with its relayed journal (and, resuming, what its part's
    journal holds); the `end` line is said once the shard ended on its own."""
    from costcli.engines.journaled import shape_of, turns_of
    from costcli.load.resume import Resume

    if ticket is None:
        yield setup
        return
    journal = RelayedJournal(Path(ticket.path), say)
    with tempfile.TemporaryDirectory(prefix="costcli-resume-") as folder:
        resume = None
        if ticket.held is not None:
            held = Path(folder) / Path(ticket.path).name
            held.write_bytes(zlib.decompress(ticket.held))
            resume = Resume(held, turns_of(setup), shape_of(setup))
            state.started_at = read_header(held).started_at
        yield dataclasses.replace(setup, journal=journal, resume=resume)
        journal.event({"k": "end", "complete": True, "at": now_iso()})


def part_plan(plan: RunPlan, shard: Shard, path: Path) -> RunPlan:
    """The plan a part's header holds: its shard, run by costcli's own engine (the plan a
    `--processes` worker journals), so a part reads back as that worker's would."""
    update = {"engine": "local", "workers": None, "ray_address": None, "processes": 1}
    return plan.model_copy(update={**update, "shard": shard, "journal": path})


class PartJournals:
    """The driver's side: each part's journal file, written from the lines its task sends."""

    def __init__(self, plan: RunPlan, shards: list[Shard]) -> None:
        from costcli.engines.journaled import header_of, part_path

        self.writers: list[JournalWriter] = []
        self.tickets: list[JournalTicket] = []
        self.synced = time.monotonic()
        assert plan.journal is not None
        for shard in shards:
            path = part_path(plan.journal, shard.index)
            held: bytes | None = None
            if plan.resume and path.exists():  # a part that never began starts afresh
                from costcli.engines.journaled import trim_torn

                trim_torn(path)
                held = zlib.compress(path.read_bytes())
                writer = JournalWriter(path, None)
                writer.event({"k": "resumed", "at": now_iso()}, sync=True)
            else:
                path.unlink(missing_ok=True)
                writer = JournalWriter(path, header_of(part_plan(plan, shard, path)))
            self.writers.append(writer)
            self.tickets.append(JournalTicket(str(path), held))

    def line(self, index: int, text: str) -> None:
        """A journal line from task `index` (1-based)."""
        self.writers[index - 1].line(text)

    def sync(self, *, now: bool = False) -> None:
        """fsync every part at most once per SYNC_S (or `now`)."""
        if now or time.monotonic() - self.synced >= SYNC_S:
            self.synced = time.monotonic()
            for writer in self.writers:
                writer.flush(sync=True)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
