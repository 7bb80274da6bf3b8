"""The run's journal: an append-only JSONL file that every record is written to as it
completes, so a run killed at any moment (`kill -9` included) leaves on disk all but its
last second, and `costcli recover` or `costcli run --resume` can pick it up.

Line 1 is the header: `{"journal": 1, "costcli_version", "started_at", "plan", "seed"}`
(`plan` is the RunPlan as JSON). Every later line is one event:

    {"k": "target", "t": 0, "label": "mock:m"}      target t starts
    {"k": "point", "t": 0, "p": 0, "load": "c=4"}   its load point p starts
    {"k": "r", "t": 0, "p": 0, "r": {...}}           a request finished (a RequestRecord)
    {"k": "info", "t": 0, "info": {...}}             the target's server facts
    {"k": "stop", "t": 0, "p": 0, "why": "..."}     the point stopped early
    {"k": "restart", "t": 0, "p": 0, "session": s}  a resume sends session s again whole:
                                                     its earlier turns do not count
    {"k": "resumed", "at": "..."}                   a resume starts appending
    {"k": "end", "complete": true, "at": "..."}     the run ended on its own

Lines are buffered and written at least once a second (`FLUSH_S`) and at every load
point's start and end, where the file is also fsync'd. The reader streams: a torn last
line (a kill in the middle of a write) is dropped with a note; any other bad line is one
error naming the file and the line.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from costcli.files.errors import BadInputError
from costcli.results.metrics import RequestRecord

JOURNAL_VERSION = 1
FLUSH_S = 0.5  # lines wait at most this long in memory (the bound is one second)
SUFFIX = ".journal.jsonl"


def journal_beside(output: Path) -> Path:
    """`run.json` -> `run.journal.jsonl`, beside it."""
    return output.with_name(output.stem + SUFFIX)


class JournalWriter:
    """Appends events to the journal; `record()` is called once per finished request."""

    def __init__(self, path: Path, header: dict[str, Any] | None) -> None:
        """A new journal with `header` as its first line, or (header None) an existing
        one appended to (a resume)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("x" if header is not None else "a", encoding="utf-8")
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        if header is not None:
            self.event({"journal": JOURNAL_VERSION, **header}, sync=True)

    def record(self, target: int, point: int, record: RequestRecord) -> None:
        self._lines.append(f'{{"k":"r","t":{target},"p":{point},"r":{record.model_dump_json()}}}\n')
        self._soon()

    def event(self, event: dict[str, Any], *, sync: bool = False) -> None:
        """A line other than a record; `sync`: written and fsync'd now (a point's edges)."""
        self._lines.append(json.dumps(event, separators=(",", ":")) + "\n")
        if sync:
            self.flush(sync=True)
        else:
            self._soon()

    def _soon(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a worker's parent, a test): write now
            self.flush()
            return
        self._timer = loop.call_later(FLUSH_S, self.flush)

    def flush(self, *, sync: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._file.closed:
            return
        if self._lines:
            self._file.write("".join(self._lines))
            self._lines.clear()
            self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self.flush(sync=True)
        self._file.close()


@dataclass
class Header:
    path: Path
    plan: dict[str, Any]
    started_at: str
    costcli_version: str
    seed: int | None = None


@dataclass
class Event:
    line: int
    kind: str
    data: dict[str, Any]

    @property
    def target(self) -> int:
        return int(self.data.get("t", 0))

    @property
    def point(self) -> int:
        return int(self.data.get("p", 0))


@dataclass
class JournalRead:
    """What reading a journal noticed besides its events."""

    notes: list[str] = field(default_factory=list)


def _bad(path: Path, line: int, what: str) -> BadInputError:
    return BadInputError(
        f"{path}:{line}: {what}; this is not a costcli journal line (was the file edited?); "
        "remove the line or recover from an intact copy"
    )


def read_header(path: Path) -> Header:
    """The journal's first line."""
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the journal: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _bad(path, 1, "not UTF-8 text") from None
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        raise _bad(path, 1, "not a JSON header") from None
    if not isinstance(head, dict) or "journal" not in head or "plan" not in head:
        raise _bad(path, 1, "key 'journal' or 'plan' is missing")
    if head["journal"] != JOURNAL_VERSION:
        raise BadInputError(
            f"{path}:1: key 'journal' is version {head['journal']}, this costcli reads "
            f"{JOURNAL_VERSION}; use the costcli that wrote it"
        )
    return Header(
        path=path,
        plan=head["plan"],
        started_at=str(head.get("started_at", "")),
        costcli_version=str(head.get("costcli_version", "")),
        seed=head.get("seed"),
    )


def events(path: Path, read: JournalRead | None = None) -> Iterator[Event]:
    """Every event after the header, streamed. A last line without its newline that does
    not parse is a write cut by a kill: dropped, with a note in `read`."""
    with path.open("rb") as f:
        f.readline()
        number = 1
        for raw in f:
            number += 1
            try:
                data = json.loads(raw)
                if not isinstance(data, dict) or not isinstance(data.get("k"), str):
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                if not raw.endswith(b"\n") and not f.read(1):
                    if read is not None:
                        read.notes.append(
                            f"{path}:{number}: the last line was cut off mid-write (the run "
                            "was killed); dropped"
                        )
                    return
                raise _bad(path, number, "not a JSON object with a key 'k'") from None
            yield Event(number, data["k"], data)


def record_of(path: Path, event: Event) -> RequestRecord:
    from pydantic import ValidationError

    try:
        return RequestRecord.model_validate(event.data["r"])
    except (KeyError, ValidationError) as exc:
        where = str(exc).splitlines()[1] if isinstance(exc, ValidationError) else "r"
        raise _bad(path, event.line, f"key 'r' is not a request record ({where})") from None
