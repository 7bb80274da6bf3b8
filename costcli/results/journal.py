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
    {"k": "done", "t": 0, "p": 0}                   the point ran to its end
    {"k": "restart", "t": 0, "p": 0, "session": s}  a resume sends session s again whole:
                                                     its earlier turns do not count
    {"k": "resumed", "at": "..."}                   a resume starts appending
    {"k": "spend", "held": w}                        --max-spend-usd: a request's worst
    {"k": "spend", "usd": c, "held": -w}             case held as it is sent; its cost, the
                                                     hold released, as it ends
    {"k": "end", "complete": true, "at": "..."}     the run ended on its own

Each line is written as it happens (a killed process loses nothing written), fsync'd at
least every second (`SYNC_S`) and at every load point's start and end. The reader streams: a torn last
line (a kill in the middle of a write) is dropped with a note; any other bad line is one
error naming the file and the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from costcli.files.errors import BadInputError
from costcli.results.document import RunResult
from costcli.results.metrics import RequestRecord

JOURNAL_VERSION = 1
SYNC_S = 1.0  # how often written lines are fsync'd (a machine crash loses at most this)
SUFFIX = ".journal.jsonl"


def journal_beside(output: Path) -> Path:
    """`run.json` -> `run.journal.jsonl`, beside it."""
    return output.with_name(output.stem + SUFFIX)


class JournalWriter:
    """Appends events to the journal; `record()` is called once per finished request.

    Every line reaches the operating system as it is written (one write call: a `kill -9`
    then loses only the requests still in flight), and is fsync'd at least every SYNC_S
    (off the event loop, in a thread) and at every load point's edges: a machine that
    loses power loses at most that second."""

    def __init__(self, path: Path, header: dict[str, Any] | None) -> None:
        """A new journal with `header` as its first line, or (header None) an existing
        one appended to (a resume)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("x" if header is not None else "a", encoding="utf-8")
        self._timer: asyncio.TimerHandle | None = None
        if header is not None:
            self.event({"journal": JOURNAL_VERSION, **header}, sync=True)

    def record(self, target: int, point: int, record: RequestRecord) -> None:
        self._write(f'{{"k":"r","t":{target},"p":{point},"r":{record.model_dump_json()}}}\n')

    def line(self, text: str) -> None:
        """A line written elsewhere (a Ray task's, relayed), as it came."""
        self._write(text + "\n")

    def event(self, event: dict[str, Any], *, sync: bool = False) -> None:
        """A line other than a record; `sync`: fsync'd now (a point's edges)."""
        self._write(json.dumps(event, separators=(",", ":")) + "\n")
        if sync:
            self.flush(sync=True)

    def _write(self, line: str) -> None:
        if self._file.closed:
            return
        self._file.write(line)
        self._file.flush()
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (a worker's parent): synced at the end
                return
            self._timer = loop.call_later(SYNC_S, self._sync_soon, loop)

    def _sync_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self._file.closed:
            loop.run_in_executor(None, _fsync, self._file.fileno())

    def flush(self, *, sync: bool = False) -> None:
        if self._file.closed:
            return
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush(sync=True)
        self._file.close()


def _fsync(fd: int) -> None:
    with contextlib.suppress(OSError):  # closed meanwhile: its close synced it
        os.fsync(fd)


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


def bad_line(path: Path, line: int, what: str) -> BadInputError:
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
        raise bad_line(path, 1, "not UTF-8 text") from None
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        raise bad_line(path, 1, "not a JSON header") from None
    if not isinstance(head, dict) or "journal" not in head or "plan" not in head:
        raise bad_line(path, 1, "key 'journal' or 'plan' is missing")
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
                raise bad_line(path, number, "not a JSON object with a key 'k'") from None
            for key in ("t", "p"):  # a target's and a load point's number
                value = data.get(key, 0)
                if type(value) is not int or value < 0:
                    raise bad_line(path, number, f"key '{key}' is {value!r}, not a number >= 0")
            yield Event(number, data["k"], data)


def record_of(path: Path, event: Event) -> RequestRecord:
    from pydantic import ValidationError

    try:
        return RequestRecord.model_validate(event.data["r"])
    except (KeyError, ValidationError) as exc:
        where = str(exc).splitlines()[1] if isinstance(exc, ValidationError) else "r"
        raise bad_line(path, event.line, f"key 'r' is not a request record ({where})") from None


def parts_of(path: Path) -> list[Path]:
    """The journal itself, or the part journals its `parts` line names (a split run)."""
    read_header(path)
    for event in events(path):
        if event.kind == "parts":
            return [path.with_name(str(name)) for name in event.data["names"]]
    return [path]


def point_records(path: Path, target: int, load: str | None) -> Iterator[RequestRecord]:
    """The records of one target's load point (`load`: its label, as the results name it;
    None: its last point), streamed from the journal and its parts. A conversation a
    resume sent again counts from its restart on, as in the run's own figures."""
    for part, event in point_events(path, target, load):
        yield record_of(part, event)


def point_events(path: Path, target: int, load: str | None) -> Iterator[tuple[Path, Event]]:
    """`point_records`' lines, not yet parsed into records (part, event)."""
    for part in parts_of(path):
        yield from ((part, event) for event in _part_events(part, target, load))


def _part_events(path: Path, target: int, load: str | None) -> Iterator[Event]:
    points: dict[str, int] = {}
    restarted: dict[tuple[int, str], int] = {}
    for event in events(path):
        if event.target != target:
            continue
        if event.kind == "point":
            points[str(event.data.get("load", ""))] = event.point
        elif event.kind == "restart":
            restarted[event.point, str(event.data["session"])] = event.line
    if not points:
        return
    chosen = (
        points.get(load or "", max(points.values())) if load is not None else max(points.values())
    )
    for event in events(path):
        if event.kind != "r" or (event.target, event.point) != (target, chosen):
            continue
        session = event.data.get("r", {}).get("session")
        if session is not None and event.line < restarted.get((chosen, str(session)), 0):
            continue
        yield event


JOURNAL_SAMPLE = 20_000  # records a reader takes from a journal for resampling and plots


_Item = TypeVar("_Item")


def sampled(items: Iterable[_Item], limit: int, seed: int = 0) -> list[_Item]:
    """All the items, or (more than `limit`) a seeded uniform sample of `limit` of them
    (reservoir sampling: one pass, `limit` held), in their order."""
    import random

    rng = random.Random(seed)
    kept: list[tuple[int, _Item]] = []
    for n, record in enumerate(items):
        if n < limit:
            kept.append((n, record))
        else:
            j = rng.randrange(n + 1)
            if j < limit:
                kept[j] = (n, record)
    return [r for _, r in sorted(kept, key=lambda pair: pair[0])]


def with_journal_records(result: RunResult, limit: int = JOURNAL_SAMPLE) -> RunResult:
    """A results document written without inline records, its targets' records drawn from
    its journal (`meta.journal`): all of them, or past `limit` a seeded uniform sample
    (what `check` resamples and `report` plots, in bounded memory). A document with
    records, or whose journal is not there, is returned as it is."""
    where = result.meta.journal
    if where is None or all(t.records is not None for t in result.targets):
        return result
    path = Path(where)
    if not path.exists():
        return result
    targets = [
        t
        if t.records is not None
        else t.model_copy(
            update={
                "records": [
                    record_of(part, event)
                    for part, event in sampled(point_events(path, i, t.capacity_load), limit)
                ]
            }
        )
        for i, t in enumerate(result.targets)
    ]
    return result.model_copy(update={"targets": targets})
