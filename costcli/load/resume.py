"""Reading a journal back: `recover` (a results document from what it holds) and `Resume`
(the same plan continued, skipping the requests it holds).

A plain request is done once the journal holds its record (ok or failed: it was
measured). A conversation is done once the journal holds its last turn or the turn that
ended it; a conversation cut in the middle is sent again whole (its turns carry the
target's earlier answers, which a new connection would not have), and a `restart` event
in the journal says its earlier turns no longer count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from costcli.load.clock import now_iso
from costcli.load.phase import TargetRun
from costcli.load.schedule import PointDone
from costcli.results.journal import (
    Event,
    JournalRead,
    JournalWriter,
    bad_line,
    events,
    record_of,
)
from costcli.results.metrics import RequestRecord

Shape = tuple[int, int]  # the plan's targets and load points
HELD = ("target", "info", "point", "r", "stop", "done", "restart")  # the lines of a target's point


@dataclass
class Spent:
    """A journal's `spend` lines (--max-spend-usd, costcli/load/spend.py): what its
    requests cost, and the worst case held for those it never heard end."""

    usd: float = 0.0
    held_usd: float = 0.0

    def add(self, event: Event) -> bool:
        """Fold one line in; False (nothing folded) where a figure is not a finite number."""
        usd, held = event.data.get("usd", 0.0), event.data.get("held", 0.0)
        figures = (usd, held)
        if not all(type(v) in (int, float) and math.isfinite(v) for v in figures):
            return False
        self.usd += float(usd)
        self.held_usd += float(held)
        return True

    @property
    def total_usd(self) -> float:
        """What a resume counts as spent already: the cost, and the worst case of the
        requests in flight when the run was cut."""
        return self.usd + max(0.0, self.held_usd)


def _session_states(
    path: Path,
    turns_of: dict[str, int],
    read: JournalRead,
    times: list[str],
    shape: Shape,
    spent: Spent,
) -> dict[tuple[int, int], PointDone]:
    points: dict[tuple[int, int], PointDone] = {}
    seen: dict[tuple[int, int, str], list[RequestRecord]] = {}
    for event in events(path, read):
        key = (event.target, event.point)
        _check_line(path, event, shape)
        if event.kind == "spend" and not spent.add(event):
            raise bad_line(path, event.line, "a 'spend' line whose usd or held is not a number")
        elif event.kind == "r":
            _held(points.setdefault(key, PointDone()), record_of(path, event), seen, key)
        elif event.kind == "resumed":
            times.append(str(event.data.get("at")))
        elif event.kind == "stop":  # a point that stopped early is not run again
            points.setdefault(key, PointDone()).stopped = str(event.data.get("why"))
        elif event.kind == "done":  # nor one that ran to its end
            done = points.setdefault(key, PointDone())
            done.finished = True
            ended = event.data.get("ended")
            done.ended = ended if isinstance(ended, str) else None
        elif event.kind == "restart":
            name = str(event.data["session"])
            points.setdefault(key, PointDone()).restarted_at[name] = event.line
            seen.pop((*key, name), None)
    for (t, p, name), records in seen.items():
        point = points.setdefault((t, p), PointDone())
        # in a finished point, a conversation --requests or --duration cut stays as it was
        _conversation(point, name, records, {} if point.finished else turns_of)
    return points


def _check_line(path: Path, event: Event, shape: Shape) -> None:
    """A line naming a target or point the plan lacks, or holding the wrong kind of value,
    is one error naming the line (a journal edited by hand)."""
    kind, data = event.kind, event.data
    if (
        (kind in HELD and not (event.target < shape[0] and event.point < shape[1]))
        or (kind == "restart" and not isinstance(data.get("session"), str))
        or (kind == "info" and not isinstance(data.get("info"), dict))
    ):
        raise bad_line(path, event.line, f"a '{kind}' line this plan cannot hold")


def _held(
    point: PointDone,
    record: RequestRecord,
    seen: dict[tuple[int, int, str], list[RequestRecord]],
    key: tuple[int, int],
) -> None:
    if record.scheduled_ms is not None:
        point.end_ms = max(point.end_ms, record.scheduled_ms + record.e2e_ms)
    if record.session is None:
        point.requests.add(record.index)
    else:
        seen.setdefault((*key, record.session), []).append(record)


def _conversation(
    point: PointDone, name: str, records: list[RequestRecord], turns_of: dict[str, int]
) -> None:
    """A conversation is done at its last turn or the turn that ended it; else cut."""
    last = max(r.turn or 0 for r in records)
    ended = any(r.error is not None and r.error != "invalid_output" for r in records)
    base = name.split("~", 1)[0]
    if ended or last + 1 >= turns_of.get(base, last + 1):
        point.sessions.add(name)
        for r in records:
            point.requests.add(r.index)
    else:
        point.restart.add(name)


class Resume:
    """A journal being continued: what each load point already holds, fed back into the
    new run's figures, and the requests its schedule skips."""

    def __init__(self, path: Path, turns_of: dict[str, int], shape: Shape) -> None:
        self.path = path
        self.read = JournalRead()
        self.times: list[str] = []  # when each resume began, this one last
        self.spent = Spent()  # under --max-spend-usd: counted against the cap again
        self.points = _session_states(path, turns_of, self.read, self.times, shape, self.spent)
        self.times.append(now_iso())

    def point(self, target: int, point: int) -> PointDone:
        return self.points.get((target, point), PointDone())

    def feed(
        self, target: int, point: int, run: TargetRun, journal: JournalWriter | None
    ) -> PointDone:
        """The point's journaled records into `run` (its figures and kept records; not back
        into the journal), the cut conversations marked as restarted."""
        done = self.point(target, point)
        for record in self.records(target, point, done):
            run.add(record, journal=False)
        if journal is not None:
            for name in sorted(done.restart):
                journal.event({"k": "restart", "t": target, "p": point, "session": name})
        return done

    def records(self, target: int, point: int, done: PointDone) -> Iterator[RequestRecord]:
        for event in events(self.path):
            if event.kind != "r" or (event.target, event.point) != (target, point):
                continue
            record = record_of(self.path, event)
            name = record.session
            if name is not None and (
                name not in done.sessions or event.line < done.restarted_at.get(name, 0)
            ):
                continue
            yield record


def journal_events(path: Path, read: JournalRead) -> Iterator[tuple[Event, RequestRecord | None]]:
    """Each event with its record (for `r` events), streamed."""
    for event in events(path, read):
        yield event, record_of(path, event) if event.kind == "r" else None
