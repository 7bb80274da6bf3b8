"""The `processes` engine (`--processes N`): the schedule split across N worker processes of
this machine, started at one instant.

Each worker is `python -m costcli.engines.processes` with its `ShardJob` on stdin. It says
`ready` once its client is set up (pools open, connections warm), then waits for the start
instant (perf_counter_ns, on stdin; CLOCK_MONOTONIC is one clock for every process of the
machine), and writes its lines (costcli/engines/shards.py) on stdout.
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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costcli.files.errors import CostcliError
from costcli.load.replay import planned_requests
from costcli.load.schedule import Shard
from costcli.results.document import RunResult

if TYPE_CHECKING:
    from costcli.load.phase import ProgressObserver
    from costcli.plan import RunPlan
from costcli.engines.merge import merge
from costcli.engines.shards import LineBatcher, LineObserver, Progress, ShardJob

START_LEAD_NS = 20_000_000  # from the last worker's `ready` to the common start
WORKER_GRACE_S = 60.0  # how long an interrupted worker may take to write its records


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
    from costcli.engines.base import EXIT_INTERRUPTED
    from costcli.engines.journaled import journaled
    from costcli.load import runner
    from costcli.load.signals import interrupt_signals
    from costcli.plan import RunPlan, resolve
    from costcli.results.document import dumps, write_atomic

    plan = RunPlan.model_validate(job.plan)
    lines = LineBatcher(_write_lines)
    setup = dataclasses.replace(resolve(plan), start_gate=StartGate(lines))
    state = runner.RunState()
    with interrupt_signals() as guard, journaled(plan, setup, state) as setup:
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
    """`python -m costcli.engines.processes`: the job as one JSON line on stdin."""
    from costcli.files.errors import CostcliError

    try:
        job = ShardJob.model_validate_json(sys.stdin.readline())
        sys.exit(run_job(job))
    except CostcliError as exc:
        print(f"costcli: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


# --- the parent of --processes ---------------------------------------------------------


@dataclasses.dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    output: Path
    buffer: bytes = b""
    ready: bool = False
    done: bool = False


def _spawn(plan: RunPlan, count: int, folder: Path) -> list[_Worker]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = []
    from costcli.engines.journaled import part_path

    for i in range(1, count + 1):
        part: dict[str, Any] = {"processes": 1, "shard": Shard(index=i, count=count)}
        if plan.journal is not None:  # each worker journals (and resumes) its own part
            part["journal"] = part_path(plan.journal, i)
        shard_plan = plan.model_copy(update=part)
        job = ShardJob(plan=shard_plan.model_dump(mode="json"), output=folder / f"shard-{i}.json")
        # stderr to a file, not a pipe: a worker that writes more than a pipe holds while
        # the parent only reads stdout would block (its last lines are the error read back)
        errors = (folder / f"shard-{i}.stderr").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "costcli.engines.processes"],
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
    from costcli.results.document import read_result

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

    from costcli.engines.base import RunInterrupted
    from costcli.engines.journaled import SplitJournal

    journal = SplitJournal(plan)
    try:
        return journal.ended(_run_parts(plan, observer, plan.processes))
    except RunInterrupted as stop:
        stop.result = journal.named(stop.result)
        raise
    finally:
        journal.close()


def _run_parts(plan: RunPlan, observer: ProgressObserver, count: int) -> RunResult:
    from costcli.engines.base import RunInterrupted
    from costcli.pricing.prices import load_prices

    with tempfile.TemporaryDirectory(prefix="costcli-shards-") as tmp:
        workers = _spawn(plan, count, Path(tmp))
        progress = Progress(observer, count, planned_requests(plan))
        try:
            _pump(workers, progress, [False])
        except KeyboardInterrupt:
            _stop(workers)
            with contextlib.suppress(KeyboardInterrupt):
                _pump(workers, progress, [True])
            merged = merge(_finish(workers), load_prices(plan.prices), plan.records)
            raise RunInterrupted(merged.model_copy(update={"complete": False})) from None
        return merge(_finish(workers), load_prices(plan.prices), plan.records)


class ProcessesEngine:
    """`--processes N`: the schedule across N worker processes of this machine."""

    name = "processes"

    def run(self, plan: RunPlan, observer: ProgressObserver) -> RunResult:
        from costcli.plan import resolve

        resolve(plan)  # bad input is found here, before any worker starts
        return run_processes(plan, observer)


if __name__ == "__main__":
    worker_main()
