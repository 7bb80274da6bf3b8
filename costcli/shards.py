"""A run split into shards: `--shard i/N`, `--processes N` and `costcli merge`.

A shard (`load.Shard`) is part i of N of the run's seeded schedule: the requests whose
number k has k % N == i - 1, at the planned times of the whole run, with its share of the
concurrency. The unit a worker runs is a `ShardJob`, a plain serialisable object (the plan,
the shard, where to write): `--processes N` hands one to each of N worker processes on this
machine (`python -m costcli.shards`, the job on stdin); a distributed launcher can hand the
same job to a remote worker. Every shard writes its records; `merge` puts them together and
computes every figure once, from all the records, exactly as one process would have.

The worker's side of the pipe, line by line on stdout: `ready` once its client is set up
(pools open, connections warm), then it waits for the start instant (perf_counter_ns, on
stdin; CLOCK_MONOTONIC is one clock for every process of the machine); `S label total`,
`R label <record JSON>` and `F label` as its targets start, requests finish and targets end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from costcli.errors import BadInputError, CostcliError
from costcli.load import Shard
from costcli.metrics import SLO, RequestRecord, summarize
from costcli.results import RunResult, TargetResult

if TYPE_CHECKING:
    from costcli.api import RunPlan
    from costcli.load import ProgressObserver
    from costcli.prices import Prices

START_LEAD_NS = 20_000_000  # from the last worker's `ready` to the common start
WORKER_GRACE_S = 60.0  # how long an interrupted worker may take to write its records


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


def _write_lines(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


class StartGate:
    """Awaited once the client is set up: says `ready` (after the lines before it), returns
    the common start instant read from stdin. Only the run's first measured phase waits;
    later ones start at once."""

    def __init__(self, lines: LineBatcher) -> None:
        self.used = False
        self.lines = lines

    async def __call__(self) -> int | None:
        if self.used:
            return None
        self.used = True
        self.lines.say("ready")
        self.lines.flush()
        line = await asyncio.to_thread(sys.stdin.readline)
        return int(line) if line.strip() else None


def run_job(job: ShardJob) -> int:
    """Run one shard; write its results (partial after a signal). Returns the exit code."""
    from costcli import runner
    from costcli.api import EXIT_INTERRUPTED, RunPlan, resolve
    from costcli.results import dumps, write_atomic
    from costcli.signals import interrupt_signals

    plan = RunPlan.model_validate(job.plan)
    lines = LineBatcher(_write_lines)
    setup = dataclasses.replace(resolve(plan), start_gate=StartGate(lines))
    state = runner.RunState()
    with interrupt_signals() as guard:
        try:
            try:
                runner.run(setup, state, LineObserver(lines.say))
                complete = True
            except KeyboardInterrupt:
                complete = False
            with guard.deferred():  # the records first: the last lines are only progress
                write_atomic(
                    job.output, dumps(runner.build_result(setup, state, complete=complete))
                )
        finally:
            lines.close()
    return 0 if complete else (guard.exit_code or EXIT_INTERRUPTED)


def worker_main() -> None:
    """`python -m costcli.shards`: the job as one JSON line on stdin."""
    from costcli.errors import CostcliError

    try:
        job = ShardJob.model_validate_json(sys.stdin.readline())
        sys.exit(run_job(job))
    except CostcliError as exc:
        print(f"costcli: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


# --- the parent of --processes ---------------------------------------------------------


class Readiness(Protocol):
    ready: bool


@dataclasses.dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    output: Path
    buffer: bytes = b""
    ready: bool = False
    done: bool = False


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


def _spawn(plan: RunPlan, count: int, folder: Path) -> list[_Worker]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = []
    for i in range(1, count + 1):
        shard_plan = plan.model_copy(update={"processes": 1, "shard": Shard(index=i, count=count)})
        job = ShardJob(plan=shard_plan.model_dump(mode="json"), output=folder / f"shard-{i}.json")
        # stderr to a file, not a pipe: a worker that writes more than a pipe holds while
        # the parent only reads stdout would block (its last lines are the error read back)
        errors = (folder / f"shard-{i}.stderr").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "costcli.shards"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        errors.close()
        assert process.stdin is not None
        process.stdin.write(job.model_dump_json().encode() + b"\n")
        process.stdin.flush()
        workers.append(_Worker(process, job.output))
    return workers


def _pump(workers: Sequence[_Worker], progress: Progress, started: list[bool]) -> None:
    """Read every worker's lines until all have ended; start them together once ready."""
    with selectors.DefaultSelector() as selector:
        for w in workers:
            assert w.process.stdout is not None
            selector.register(w.process.stdout, selectors.EVENT_READ, w)
        while any(not w.done for w in workers):
            for key, _ in selector.select(timeout=0.5):
                _read(key.data, progress, selector)
            if not started[0] and all(w.ready for w in workers):
                _start(workers)
                started[0] = True
            elif not started[0] and any(w.done for w in workers):
                _stop(workers)  # one worker could not set up: the others stop too


def _read(worker: _Worker, progress: Progress, selector: selectors.BaseSelector) -> None:
    assert worker.process.stdout is not None
    data = os.read(worker.process.stdout.fileno(), 1 << 16)
    if not data:
        selector.unregister(worker.process.stdout)
        worker.done = True
        return
    worker.buffer += data
    *lines, worker.buffer = worker.buffer.split(b"\n")
    for line in lines:
        progress.line(worker, line.decode("utf-8", "replace"))


def _start(workers: Sequence[_Worker]) -> None:
    at = time.perf_counter_ns() + START_LEAD_NS
    for w in workers:
        assert w.process.stdin is not None
        with contextlib.suppress(OSError):
            w.process.stdin.write(f"{at}\n".encode())
            w.process.stdin.flush()


def _stop(workers: Sequence[_Worker]) -> None:
    """Stop every worker: SIGTERM, and stdin closed, so one still waiting for the start
    line reads the end of it rather than hanging in its reader thread."""
    for w in workers:
        if w.process.poll() is None:
            with contextlib.suppress(OSError):
                w.process.send_signal(signal.SIGTERM)
            if w.process.stdin is not None:
                with contextlib.suppress(OSError):
                    w.process.stdin.close()


def _finish(workers: Sequence[_Worker]) -> list[RunResult]:
    """Wait for every worker; its results, or its own error as the run's."""
    from costcli.results import read_result

    results = []
    for w in workers:
        try:
            w.process.wait(timeout=WORKER_GRACE_S)
        except subprocess.TimeoutExpired:
            w.process.kill()
            w.process.wait()
        if w.output.exists():
            results.append(read_result(w.output))
    failed = [w for w in workers if not w.output.exists()]
    if failed:
        w = failed[0]
        stderr = w.output.with_suffix(".stderr")
        text = stderr.read_text("utf-8", "replace") if stderr.exists() else ""
        lines = text.strip().splitlines()
        why = lines[-1].removeprefix("costcli: error: ") if lines else "no output"
        error = CostcliError(f"a worker process failed: {why}")
        # bad input (2) and an unreachable target (3) pass through; a crash is not a check
        # that failed (1): the run could not be done (3)
        error.exit_code = w.process.returncode if w.process.returncode in (2, 3) else 3
        raise error
    return results


def run_processes(plan: RunPlan, observer: ProgressObserver) -> RunResult:
    """The plan's schedule split across `plan.processes` worker processes, started at one
    instant; their records merged. Ctrl-C/SIGTERM reach the workers, which keep what they
    measured (RunInterrupted carries the merged partial result)."""
    from costcli.api import RunInterrupted
    from costcli.prices import load_prices

    count = plan.processes
    with tempfile.TemporaryDirectory(prefix="costcli-shards-") as tmp:
        workers = _spawn(plan, count, Path(tmp))
        progress = Progress(observer, count, plan.load.requests)
        try:
            _pump(workers, progress, [False])
        except KeyboardInterrupt:
            _stop(workers)
            with contextlib.suppress(KeyboardInterrupt):
                _pump(workers, progress, [True])
            merged = merge(_finish(workers), load_prices(plan.prices), plan.records)
            raise RunInterrupted(merged.model_copy(update={"complete": False})) from None
        return merge(_finish(workers), load_prices(plan.prices), plan.records)


# --- merging -------------------------------------------------------------------------------


def _shard_of(result: RunResult, where: str) -> Shard:
    if result.meta.shard is None:
        raise BadInputError(
            f"{where}: key 'meta.shard' is missing; pass files of costcli run --shard"
        )
    return Shard.model_validate(
        dict(zip(("index", "count"), map(int, result.meta.shard.split("/")), strict=True))
    )


def check_shards(results: Sequence[RunResult], names: Sequence[str]) -> None:
    """The files are the N shards of one run: same workload, seed and load, each once."""
    shards = [_shard_of(r, n) for r, n in zip(results, names, strict=True)]
    count = shards[0].count
    first = results[0].meta
    for result, shard, name in zip(results, shards, names, strict=True):
        meta = result.meta
        if shard.count != count:
            raise BadInputError(
                f"{name}: key 'meta.shard' is {shard.label}, but {names[0]} is of {count}"
            )
        for key in ("sha256", "seed"):
            if getattr(meta.workload, key) != getattr(first.workload, key):
                raise BadInputError(
                    f"{name}: key 'meta.workload.{key}' differs from {names[0]}; "
                    "these are shards of different runs"
                )
        if meta.load != first.load:
            raise BadInputError(
                f"{name}: key 'meta.load' differs from {names[0]}; "
                "these are shards of different runs"
            )
    seen = sorted(s.index for s in shards)
    if seen != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(seen))
        twice = sorted({i for i in seen if seen.count(i) > 1})
        what = (
            f"shard {twice[0]}/{count} is given twice"
            if twice
            else f"shard {missing[0]}/{count} is missing"
        )
        raise BadInputError(
            f"{', '.join(names)}: {what}; pass each of the {count} shard files once"
        )


def _slo(targets: Sequence[TargetResult]) -> SLO | None:
    goodput = targets[0].summary.goodput
    return goodput.slo if goodput is not None else None


def merge_target(
    parts: Sequence[TargetResult], prices: Prices | None, with_records: bool
) -> TargetResult:
    """One target's shards -> its entry, every figure computed once from all the records."""
    from costcli.cost import with_outcomes
    from costcli.runner import client_health, priced

    if any(p.records is None for p in parts):
        raise BadInputError(
            f"{parts[0].label}: a shard was written without records; run every shard with --records"
        )
    records = sorted((r for p in parts for r in p.records or ()), key=lambda r: r.index)
    first = parts[0]
    summary = summarize(records, _slo(parts))
    cost = priced(first.provider, first.model, first.self_hosted, records, prices)
    summary.cost = with_outcomes(cost, summary)  # per session, per correct answer
    waits = sum(p.client.max_concurrency_waits for p in parts if p.client)
    cap = first.client.max_concurrency if first.client else None
    return first.model_copy(
        update={
            "summary": summary,
            "client": client_health(records, waits, cap),
            "stopped": next((p.stopped for p in parts if p.stopped), None),
            "records": records if with_records else None,
        }
    )


def merge(
    results: Sequence[RunResult],
    prices: Prices | None,
    with_records: bool,
    names: Sequence[str] | None = None,
) -> RunResult:
    """The shards of one run -> one results document, as if one process had run it."""
    names = names or [f"shard {r.meta.shard}" for r in results]
    check_shards(results, names)
    by_target: list[list[TargetResult]] = []
    for result in results:
        for i, target in enumerate(result.targets):
            if i == len(by_target):
                by_target.append([])
            if by_target[i] and by_target[i][0].label != target.label:
                other = by_target[i][0].label
                raise BadInputError(
                    f"{names[0]}: key 'targets.{i}' is {target.label} in one shard and "
                    f"{other} in another; these are shards of different runs"
                )
            by_target[i].append(target)
    if any(r.targets and r.targets[0].sweep for r in results):
        raise BadInputError(
            f"{names[0]}: a sweep's shards cannot be merged yet; run the sweep in one process"
        )
    targets = [merge_target(parts, prices, with_records) for parts in by_target]
    meta = results[0].meta.model_copy(
        update={
            "started_at": min(r.meta.started_at for r in results),
            "ended_at": max(r.meta.ended_at for r in results),
            "stopped": next((r.meta.stopped for r in results if r.meta.stopped), None),
            "shard": None,
            "processes": len(results),
        }
    )
    complete = all(r.complete for r in results) and all(len(p) == len(results) for p in by_target)
    return RunResult(complete=complete, meta=meta, targets=targets)


def merge_files(paths: Sequence[Path], prices: Prices | None, with_records: bool) -> RunResult:
    """`costcli merge FILES...`: shard results files -> one results document."""
    from costcli.results import read_result

    if not paths:
        raise BadInputError("costcli merge: no files given; pass the shard results files")
    return merge([read_result(p) for p in paths], prices, with_records, [str(p) for p in paths])


if __name__ == "__main__":
    worker_main()
