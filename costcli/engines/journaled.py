"""A run and its journal: opening it (new, or resumed), closing it, and `recover`: a
results document from journals alone.

A split run journals in parts: the parent's journal (`run.journal.jsonl`) holds the
header and a `parts` line naming each worker's own journal (`run.journal.part-1.jsonl`,
...), which that worker writes and resumes itself. `recover` and `--resume` follow the
`parts` line, so one path is all either needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from costcli import __version__
from costcli.files.errors import BadInputError
from costcli.load import runner
from costcli.load.clock import now_iso
from costcli.load.phase import TargetRun
from costcli.load.resume import Resume, journal_events
from costcli.load.runner import RunSetup, RunState, TargetProgress
from costcli.plan import RunPlan, resolve
from costcli.results.document import RunResult
from costcli.results.journal import (
    SUFFIX,
    Event,
    JournalRead,
    JournalWriter,
    bad_line,
    parts_of,
    read_header,
)
from costcli.results.metrics import RequestRecord
from costcli.results.server_metrics import Scrapes

# what differs between a journal's plan and the one that resumes it without changing it
NOT_THE_PLAN = {"journal", "resume", "records"}


def part_path(journal: Path, i: int) -> Path:
    """The journal of part i of a split run, beside the run's own."""
    name = journal.name.removesuffix(SUFFIX) if journal.name.endswith(SUFFIX) else journal.stem
    return journal.with_name(f"{name}.journal.part-{i}.jsonl")


def anchored(plan: RunPlan) -> RunPlan:
    """The plan with the files it names made absolute, so its journal reads back (recover,
    --resume) from any folder."""
    update: dict[str, Any] = {"providers": tuple(p.resolve() for p in plan.providers)}
    if plan.prices is not None:
        update["prices"] = plan.prices.resolve()
    kind, sep, rest = plan.workload.partition(":")
    named = Path(rest if sep else plan.workload)
    if named.exists():
        update["workload"] = f"{kind}:{named.resolve()}" if sep else str(named.resolve())
    return plan.model_copy(update=update)


def header_of(plan: RunPlan) -> dict[str, Any]:
    return {
        "costcli_version": __version__,
        "started_at": now_iso(),
        "plan": anchored(plan).model_dump(mode="json", exclude={"journal", "resume"}),
        "seed": plan.load.seed,
    }


def _ended(path: Path) -> bool:
    """Whether the journal's last line says the run ended on its own."""
    with path.open("rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 4096))
        tail = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return tail.startswith(b'{"k":"end"')


def open_writer(plan: RunPlan, resumed_at: str | None = None) -> JournalWriter | None:
    """The plan's journal: a new one (refused over an unfinished one), or the resumed one
    appended to."""
    path = plan.journal
    if path is None:
        return None
    if plan.resume:
        trim_torn(path)
        writer = JournalWriter(path, None)
        writer.event({"k": "resumed", "at": resumed_at or now_iso()}, sync=True)
        return writer
    if path.exists() and not _ended(path):
        raise BadInputError(
            f"{path}: a journal of an unfinished run is there; continue it with "
            f"--resume {path}, recover it with costcli recover {path}, or remove it"
        )
    path.unlink(missing_ok=True)
    return JournalWriter(path, header_of(plan))


class SplitJournal:
    """A split run's own journal: its plan and the names of its parts' journals (each part
    writes its own), the `end` line once the run ended on its own; the merged result names
    it as its journal (the parts' records are read through it)."""

    def __init__(self, plan: RunPlan) -> None:
        self.writer = open_writer(plan)
        if self.writer is not None and not plan.resume:
            names = [part_path(self.writer.path, i).name for i in range(1, plan.parts + 1)]
            self.writer.event({"k": "parts", "names": names}, sync=True)

    def named(self, result: RunResult) -> RunResult:
        if self.writer is None:
            return result
        meta = result.meta.model_copy(update={"journal": str(self.writer.path)})
        return result.model_copy(update={"meta": meta})

    def ended(self, result: RunResult) -> RunResult:
        """The run ended on its own: a new run may take its journal's place."""
        if self.writer is not None:
            self.writer.event({"k": "end", "complete": result.complete, "at": now_iso()})
        return self.named(result)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def trim_torn(path: Path) -> None:
    """A last line a kill cut off mid-write is cut away before a resume appends to the
    file (else the next line would be glued to it)."""
    with path.open("r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - (1 << 20)))
        tail = f.read()
        if not tail or tail.endswith(b"\n"):
            return
        keep = tail.rfind(b"\n")
        f.truncate(size - len(tail) + keep + 1 if keep >= 0 else 0)


def turns_of(setup: RunSetup) -> dict[str, int]:
    """Each conversation's number of turns, by its session name."""
    items = setup.workload.items
    return {
        str(items[chosen[0]].session): len(chosen)
        for chosen in setup.workload.sessions
        if items[chosen[0]].session is not None
    }


def shape_of(setup: RunSetup) -> tuple[int, int]:
    """The plan's number of slots (targets, times --repeat) and of load points (a search's
    most steps): what a journal line may name."""
    points = setup.search.steps if setup.search is not None else len(setup.points)
    return len(setup.slots), points


@contextlib.contextmanager
def journaled(plan: RunPlan, setup: RunSetup, state: RunState) -> Iterator[RunSetup]:
    """The setup with its journal (and, resuming, what the journal holds); the journal's
    `end` line is written once the run ended on its own."""
    if plan.resume and plan.journal is not None and not plan.journal.exists():
        # a part of a split run killed before its worker began: nothing to skip, start it
        plan = plan.model_copy(update={"resume": False})
    resume = (
        Resume(plan.journal, turns_of(setup), shape_of(setup))
        if plan.resume and plan.journal
        else None
    )
    writer = open_writer(plan, resume.times[-1] if resume else None)
    if resume is not None and plan.journal is not None:
        state.started_at = read_header(plan.journal).started_at
    if writer is None:
        yield setup
        return
    ended = False
    try:
        yield dataclasses.replace(setup, journal=writer, resume=resume)
        ended = True
    finally:
        if ended:
            writer.event({"k": "end", "complete": True, "at": now_iso()})
        writer.close()


def resumed_plan(path: Path, given: RunPlan | None = None, bare: RunPlan | None = None) -> RunPlan:
    """The journal's plan, to be resumed. `given` is the plan the command line gives and
    `bare` the one it gives with no option: an option that changes the journal's plan is
    refused in one line naming the first difference."""
    header = read_header(path)
    try:
        plan = RunPlan.model_validate({**header.plan, "journal": path, "resume": True})
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise BadInputError(
            f"{path}:1: key 'plan' is not a plan this costcli reads ({first})"
        ) from None
    if given is None or bare is None:
        return plan
    if given.records:  # what the results document holds inline is the resume's choice
        plan = plan.model_copy(update={"records": True})
    mine, theirs, unset = (
        p.model_dump(mode="json", exclude=NOT_THE_PLAN) for p in (plan, given, bare)
    )
    for key, value in mine.items():
        for sub in _differences(key, value, theirs.get(key), unset.get(key)):
            raise BadInputError(
                f"--resume {path}: the journal's plan has {sub}; drop that option (a resume "
                "runs the journal's plan) or start a new run without --resume"
            )
    return plan


def _differences(key: str, mine: Any, theirs: Any, unset: Any) -> Iterator[str]:
    """Where the command line's value differs from the journal's, and was given."""
    if isinstance(mine, dict) and isinstance(theirs, dict) and isinstance(unset, dict):
        for k, v in mine.items():
            yield from _differences(k, v, theirs.get(k), unset.get(k))
    elif theirs not in (mine, unset):
        yield f"{key}={mine!r} and the command line gives {theirs!r}"


# --- recover ---------------------------------------------------------------------------


def recover(paths: Sequence[Path]) -> tuple[RunResult, list[str]]:
    """Journals (a run's, or the parts of a split one) -> a results document with
    `complete: false` and every figure computed from the records they hold, with the
    notes reading them gave (a torn last line dropped)."""
    notes: list[str] = []
    parts = [p for path in paths for p in parts_of(path)]
    results = [_recover_one(p, notes) for p in parts]
    if len(results) == 1:
        return results[0], notes
    from costcli.engines.merge import merge
    from costcli.pricing.prices import load_prices

    plan = RunPlan.model_validate(read_header(parts[0]).plan)
    merged = merge(results, load_prices(plan.prices), plan.records, [str(p) for p in parts])
    return merged.model_copy(update={"complete": False}), notes


def _recover_one(path: Path, notes: list[str]) -> RunResult:
    header = read_header(path)
    plan = RunPlan.model_validate(header.plan)
    setup = resolve(plan, keys_here=False)
    state = RunState(started_at=header.started_at)
    progress: dict[int, TargetProgress] = {}
    read = JournalRead()
    ended = False
    for event, record in journal_events(path, read):
        try:
            ended = _replay(setup, progress, event, record) or ended
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise bad_line(
                path, event.line, f"a '{event.kind}' line this plan cannot hold"
            ) from None
    notes.extend(read.notes)
    last = max(progress, default=None)
    for t in sorted(progress):  # the target a kill cut short is marked interrupted
        cut = not ended and t == last
        state.finished.append(runner.target_result(setup, progress[t], interrupted=cut))
    return runner.build_result(setup, state, complete=ended)


def _replay(
    setup: RunSetup,
    progress: dict[int, TargetProgress],
    event: Event,
    record: RequestRecord | None,
) -> bool:
    """One journal line into the figures; True for the `end` line. The journal's target
    numbers are slots (--repeat: a target a round)."""
    t = event.target
    slots = setup.slots
    if event.kind in ("target", "info", "point", "r", "stop", "done", "restart", "scrape"):
        if t >= len(slots):
            raise IndexError(t)
        if event.kind == "target":
            progress.setdefault(t, TargetProgress(slots[t]))
        elif event.kind == "info":
            progress.setdefault(t, TargetProgress(slots[t])).info.update(dict(event.data["info"]))
        else:
            label = str(event.data["load"]) if event.kind == "point" else None
            run = _point_run(
                setup, progress.setdefault(t, TargetProgress(slots[t])), t, event.point, label
            )
            if record is not None:
                run.add(record)
            elif event.kind == "stop":
                run.stopped = str(event.data.get("why"))
            elif event.kind == "done" and isinstance(event.data.get("ended"), str):
                run.ended = event.data["ended"]
            elif event.kind == "scrape":
                _scrape(run, event.data)
            elif event.kind == "restart":
                _drop_session(run, str(event.data["session"]), setup)
    return event.kind == "end"


def _point_run(
    setup: RunSetup, progress: TargetProgress, slot: int, p: int, label: str | None = None
) -> TargetRun:
    """Point p's run; a search's point is known by its `point` line's label."""
    if p >= shape_of(setup)[1] or (setup.search is not None and p > len(progress.runs)):
        raise IndexError(p)
    while len(progress.runs) <= p:
        if setup.search is not None and label is None:
            raise IndexError(p)  # a search step's records before its `point` line
        point = setup.point_of(len(progress.runs), label or "")
        # a conversational point keeps its records: a restart line takes some back out
        keep = setup.with_records or bool(setup.workload.sessions)
        progress.runs.append((point, setup.point_run(slot, len(progress.runs), point, keep)))
    return progress.runs[p][1]


def _scrape(run: TargetRun, data: dict[str, Any]) -> None:
    """A `scrape` line (the server's metrics, load/scrape.py) into the point's view."""
    values = data["v"]
    if not isinstance(values, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()
    ):
        raise TypeError("v")
    if run.server is None:
        run.server = Scrapes(str(data["url"]))
    run.server.add(float(data["at"]), {str(k): float(v) for k, v in values.items()})


def _drop_session(run: TargetRun, name: str, setup: RunSetup) -> None:
    """A conversation a resume sent again: its earlier turns leave the point's figures
    (the figures are refolded from the kept records)."""
    kept = [r for r in run.records if r.session != name]
    fresh = TargetRun(slo=setup.slo, keep=True, records=kept)
    run.records, run.digest = fresh.records, fresh.digest
