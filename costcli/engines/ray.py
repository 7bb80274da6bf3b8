"""`--engine ray`: a run's shards as Ray tasks, on one machine or a cluster.

The plan's seeded schedule is split into `workers` shards, the same `load.Shard`s that
`--shard` and `--processes` run. The driver resolves the plan once (files read here, on the
driver) and hands each task its `RunSetup` with its shard: targets carry the names of
their key variables, never a key, and each task reads its key from its own environment.
Inside a task is costcli's own engine: one event loop, the adapter created there.

A small actor, the `Hub`, is where the run meets: each task measures its clock against
the hub's over Ray (the sample with the shortest round trip), says it is ready once its
client is set up, and waits for the start the hub sets once every task is ready (the hub's
time plus START_LEAD_NS, turned into each task's own monotonic clock). Records go back to
the hub in batches every FLUSH_S and reach the driver as they come; the driver merges them
with `shards.merge`, every percentile computed once from all the records.

A task that dies keeps the records that reached the hub; its shard's other requests are
counted as `not_sent` and the run is `complete: false`. Ctrl-C (or SIGTERM) on the driver
asks every task to stop through the hub, waits up to WORKER_GRACE_S for what they
measured, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from costcli.engines.ray_journal import LINE, JournalTicket, PartJournals, relayed
from costcli.engines.shards import FLUSH_S, LineBatcher
from costcli.files.errors import BadInputError, CostcliError, UnreachableError
from costcli.load.phase import ProgressObserver, TargetRun
from costcli.load.schedule import Shard
from costcli.results.document import RunResult, WorkerState
from costcli.results.metrics import RequestRecord

if TYPE_CHECKING:
    from costcli.load.runner import RunSetup
    from costcli.plan import RunPlan

START_LEAD_NS = 250_000_000  # from the last task's `ready` to the common start
READY_TIMEOUT_S = 300.0  # every task must be set up by then (scheduling included)
WORKER_GRACE_S = 60.0  # how long a stopped task may take to send what it measured
CLOCK_SAMPLES = 5
PROBE_TIMEOUT_S = 5.0  # --ray-address: how long a TCP connect may take before Ray is asked


@runtime_checkable
class WorkerWatcher(Protocol):
    """An observer that also hears when each task is set up (the CLI prints it)."""

    def worker_ready(self, worker: WorkerState) -> None: ...


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BadInputError(
            "--engine ray needs Ray: pip install 'costcli[ray]' (or use --engine local)"
        ) from None
    return ray


# --- the hub: an actor where the tasks meet ------------------------------------------------


class Hub:
    """The run's meeting point (a Ray actor): clocks, the start, lines back, the stop."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.start_at: int | None = None
        self.stopping = False
        self.go = asyncio.Event()

    async def now(self) -> int:
        return time.time_ns()

    async def start_in(self, lead_ns: int) -> None:
        self.start_at = time.time_ns() + lead_ns
        self.go.set()

    async def wait_start(self) -> int | None:
        """The start, in the hub's wall clock; None if the run stopped before it."""
        await self.go.wait()
        return None if self.stopping else self.start_at

    async def put(self, index: int, lines: list[str]) -> bool:
        """A task's lines; returns whether the run is stopping."""
        self.lines.extend((index, line) for line in lines)
        return self.stopping

    async def take(self) -> list[tuple[int, str]]:
        lines, self.lines = self.lines, []
        return lines

    async def stop(self) -> None:
        self.stopping = True
        self.go.set()


# --- inside a task -----------------------------------------------------------------------------


class Outbox(LineBatcher):
    """A task's lines, sent to the hub every FLUSH_S from a thread of their own (the event
    loop only appends); a stop heard from the hub calls `on_stop`."""

    def __init__(self, hub: Any, index: int) -> None:
        self.hub, self.index = hub, index
        self.stopped = False
        self.on_stop: Callable[[], None] | None = None
        super().__init__(self._put, empty_too=True)  # the hub's answer carries a stop

    def _put(self, batch: list[str]) -> None:
        import ray

        if ray.get(self.hub.put.remote(self.index, batch)) and not self.stopped:
            self.stopped = True
            if self.on_stop is not None:
                self.on_stop()


def clock_offset(hub: Any) -> tuple[int, int]:
    """(hub's wall clock minus this one, half the round trip), from the sample of
    CLOCK_SAMPLES with the shortest round trip (Cristian's algorithm)."""
    import ray

    best: tuple[int, int] | None = None
    for _ in range(CLOCK_SAMPLES):
        sent = time.time_ns()
        theirs = ray.get(hub.now.remote())
        back = time.time_ns()
        sample = (theirs - (sent + back) // 2, (back - sent) // 2)
        if best is None or sample[1] < best[1]:
            best = sample
    assert best is not None
    return best


class RayStartGate:
    """The task's `start_gate`: clock measured, `ready` said, the common start awaited and
    returned in this task's perf_counter_ns. Later phases start at once."""

    def __init__(self, hub: Any, outbox: Outbox) -> None:
        self.hub, self.outbox, self.used = hub, outbox, False

    async def __call__(self) -> int | None:
        import ray

        from costcli import __version__

        if self.used:
            return None
        self.used = True
        offset, uncertainty = await asyncio.to_thread(clock_offset, self.hub)
        facts = {"host": socket.gethostname(), "pid": os.getpid(), "version": __version__}
        facts |= {"offset_ns": offset, "uncertainty_ns": uncertainty}
        self.outbox.say("ready\t" + json.dumps(facts))
        at: int | None = await asyncio.to_thread(ray.get, self.hub.wait_start.remote())
        if at is None or self.outbox.stopped:
            raise asyncio.CancelledError  # the run stopped before it started
        ahead_ns = at - offset - time.time_ns()  # the start, from now, on this host's clock
        self.outbox.say(f"late\t{max(0, -ahead_ns) / 1e6}")
        return time.perf_counter_ns() + ahead_ns


def check_key(setup: RunSetup) -> None:
    """The task reads the key from its own environment (the node's, or the runtime_env's);
    a node without it is bad input naming the variable and the host."""
    for target in setup.targets:
        if target.api_key_env and not os.environ.get(target.api_key_env):
            raise BadInputError(
                f"{target.label}: ${target.api_key_env} is not set on the Ray node "
                f"{socket.gethostname()}; set it in every node's environment "
                "(docs/distributed.md)"
            )


def check_version(driver_version: str) -> None:
    from costcli import __version__

    if driver_version != __version__:
        raise BadInputError(
            f"the Ray node {socket.gethostname()} runs costcli {__version__}, the driver "
            f"{driver_version}; install the same costcli on every node"
        )


def shard_task(
    setup: RunSetup, hub: Any, driver_version: str, ticket: JournalTicket | None = None
) -> str:
    """One shard, run in a Ray task: its results document (JSON), partial after a stop.
    A CostcliError (bad input, an unreachable target) is the task's error; any other
    error becomes one, redacted here, where the key is known."""
    from costcli.adapters.catalog import for_target

    check_version(driver_version)
    check_key(setup)
    try:
        return _run_shard(setup, hub, ticket)
    except CostcliError:
        raise
    except Exception as exc:
        raise CostcliError(
            f"a Ray task failed: {for_target(setup.targets[0])(repr(exc))}"
        ) from None


def _run_shard(setup: RunSetup, hub: Any, ticket: JournalTicket | None) -> str:
    from costcli.engines.shards import LineObserver
    from costcli.load import runner
    from costcli.results.document import dumps

    outbox = Outbox(hub, setup.shard.index)
    outbox.say("hello\t")  # the task is running (a cluster short of CPUs queues it)
    measured = dataclasses.replace(setup, start_gate=RayStartGate(hub, outbox))
    state = runner.RunState()

    async def main(measured: RunSetup) -> None:
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None

        def cancel() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(task.cancel)

        outbox.on_stop = cancel
        if outbox.stopped:
            raise asyncio.CancelledError
        await runner.run_all(measured, state, LineObserver(outbox.say))

    complete = False
    try:
        with relayed(measured, state, ticket, outbox.say) as measured:
            asyncio.run(main(measured))
            complete = True
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass
    finally:
        outbox.on_stop = None  # a stop heard in the last flush finds nothing to cancel
        outbox.close()
    return dumps(runner.build_result(measured, state, complete=complete))


# --- the driver --------------------------------------------------------------------------------


@dataclasses.dataclass
class RayWorker:
    """One task as the driver follows it."""

    shard: Shard
    ref: Any
    state: WorkerState
    running: bool = False  # its first line arrived (Ray scheduled it)
    ready: bool = False
    records: list[RequestRecord] = dataclasses.field(default_factory=list)
    result: RunResult | None = None
    error: CostcliError | None = None
    ended: bool = False


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at `address` (else RAY_ADDRESS, else a local one); True when this
    call started Ray (and so shuts it down after the run)."""
    import logging

    if ray.is_initialized():
        return False
    if address not in (None, "auto", "local"):
        probe(address)
    # Ray's core installs its own SIGTERM handler (it logs and exits); costcli's signals
    # (costcli.load.signals: SIGTERM and SIGHUP as Ctrl-C, results kept) are put back after it
    kept = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    try:
        ray.init(address=address, logging_level=logging.WARNING, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a local cluster"
        raise UnreachableError(f"--ray-address {where}: cannot connect: {exc}") from exc
    finally:
        with contextlib.suppress(ValueError, TypeError):  # not the main thread
            for sig, handler in kept.items():
                signal.signal(sig, handler)
    return True


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def probe(address: str) -> None:
    """Something answers at a host:port address (Ray would retry it for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise BadInputError(f"--ray-address {address}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise UnreachableError(
            f"--ray-address {address}: nothing answers at {host}:{port} "
            f"({exc.strerror or exc}); is the cluster up (ray start --head)?"
        ) from exc


def cpus_per_task(ray: Any, workers: int) -> float:
    """One CPU a task, or an equal share where the cluster has fewer CPUs than tasks (every
    task must run at once: they start together)."""
    total = float(ray.cluster_resources().get("CPU", 1.0))
    return max(0.0001, min(1.0, int(total / workers * 1e4) / 1e4))


class Driver:
    """Starts the tasks, relays their lines to the observer, sets the start, merges."""

    def __init__(self, ray: Any, plan: RunPlan, setup: RunSetup, observer: ProgressObserver):
        from costcli.engines.shards import Progress

        self.ray, self.plan, self.setup, self.observer = ray, plan, setup, observer
        self.count = plan.parts
        self.progress = Progress(observer, self.count, setup.load.requests)  # a trace's own
        # every task waits on the hub for the start at once: room for all of them; on the
        # driver's node, so the clocks are the driver's and the hub lives as long as it
        self.hub = (
            ray.remote(Hub)
            .options(num_cpus=0, max_concurrency=self.count + 64, **on_this_node(ray))
            .remote()
        )
        self.workers: list[RayWorker] = []
        shards = [Shard(index=i, count=self.count) for i in range(1, self.count + 1)]
        self.journals = PartJournals(plan, shards) if plan.journal is not None else None
        self.inbox: collections.deque[tuple[int, str]] = collections.deque()
        self.started = self.stopping = False

    def launch(self) -> None:
        from costcli import __version__

        task = self.ray.remote(shard_task)
        cpus = cpus_per_task(self.ray, self.count)
        for i in range(1, self.count + 1):
            shard = Shard(index=i, count=self.count)
            setup = self.shard_setup(shard)
            ref = task.options(
                name=f"costcli-shard-{i}-of-{self.count}",
                num_cpus=cpus,
                max_retries=0,  # a shard run twice would send its requests twice
                scheduling_strategy="SPREAD",
            ).remote(setup, self.hub, __version__, self.ticket(i))
            state = WorkerState(shard=shard.label, state="interrupted")
            self.workers.append(RayWorker(shard, ref, state))

    def ticket(self, index: int) -> JournalTicket | None:
        return self.journals.tickets[index - 1] if self.journals is not None else None

    def shard_setup(self, shard: Shard) -> RunSetup:
        """What one task runs: the run's setup with its shard (a shard's records are its
        result)."""
        return dataclasses.replace(self.setup, shard=shard, processes=self.count, with_records=True)

    def pump(self, deadline: float | None = None) -> None:
        """Relay lines and collect ends until every task has ended (or `deadline`)."""
        since = time.monotonic()
        while pending := [w for w in self.workers if not w.ended]:
            if deadline is not None and time.monotonic() > deadline:
                return
            done, _ = self.ray.wait([w.ref for w in pending], num_returns=1, timeout=FLUSH_S)
            self.relay()
            for w in pending:
                if w.ref in done:
                    self.end(w)
            self.relay()
            if self.started or self.stopping:
                continue
            if all(w.ready for w in self.workers):
                self.hub.start_in.remote(START_LEAD_NS)
                self.started = True
            else:
                self.check_start(since)

    def check_start(self, since: float) -> None:
        """Before the start: one task that ended (it could not set up) or a cluster too
        small to run them all (a task still queued after READY_TIMEOUT_S) ends the run with
        that reason."""
        ended = next((w for w in self.workers if w.ended), None)
        queued = sum(1 for w in self.workers if not w.running)
        if ended is None and (not queued or time.monotonic() - since < READY_TIMEOUT_S):
            return
        self.stop()
        if ended is not None and ended.error is not None:
            raise ended.error
        raise UnreachableError(
            (ended.state.error if ended is not None else None)
            or f"{queued} of {self.count} Ray tasks were not running after "
            f"{READY_TIMEOUT_S:g} s; the cluster lacks the CPUs for --workers {self.count}"
        )

    def relay(self) -> None:
        """The tasks' lines, taken from the hub into the inbox, then handled one by one (a
        Ctrl-C in the observer leaves the rest in the inbox for the next call)."""
        self.inbox.extend(self.ray.get(self.hub.take.remote()))
        while self.inbox:
            index, line = self.inbox.popleft()
            if self.journals is not None and line.startswith(LINE + "\t"):
                self.journals.line(index, line[len(LINE) + 1 :])
            else:
                self.handle(self.workers[index - 1], line)
        if self.journals is not None:
            self.journals.sync()

    def handle(self, worker: RayWorker, line: str) -> None:
        worker.running = True
        kind, _, payload = line.partition("\t")
        if kind == "hello":
            return
        if kind == "ready":
            self.ready(worker, json.loads(payload))
        elif kind == "late":
            worker.state.start_late_ms = float(payload)
        elif (record := self.progress.line(worker, line)) is not None:
            worker.records.append(record)  # kept for a task that may die

    def ready(self, worker: RayWorker, facts: dict[str, Any]) -> None:
        worker.ready = True
        state = worker.state
        state.host, state.pid = facts["host"], facts["pid"]
        state.clock_offset_ms = facts["offset_ns"] / 1e6
        state.clock_uncertainty_ms = facts["uncertainty_ns"] / 1e6
        if isinstance(self.observer, WorkerWatcher):
            self.observer.worker_ready(state)

    def end(self, worker: RayWorker) -> None:
        from costcli.adapters.catalog import for_target

        worker.ended = True
        redact = for_target(self.setup.targets[0])
        try:
            worker.result = RunResult.model_validate_json(self.ray.get(worker.ref))
            worker.state.state = "finished" if worker.result.complete else "interrupted"
        except self.ray.exceptions.RayTaskError as exc:  # the task raised: its own error
            cause = exc.cause
            if isinstance(cause, CostcliError):
                worker.error = cause
            worker.state.state = "failed"
            worker.state.error = redact(_first_line(cause if cause is not None else exc))
        except self.ray.exceptions.RayError as exc:  # the worker process died, or was cancelled
            worker.state.state, worker.state.error = "died", redact(_first_line(exc))

    def stop(self) -> None:
        """Ctrl-C: every task asked to stop; what they measured awaited, the rest cancelled."""
        self.stopping = True
        self.hub.stop.remote()
        with contextlib.suppress(KeyboardInterrupt):
            self.pump(time.monotonic() + WORKER_GRACE_S)
        for w in self.workers:
            if not w.ended:
                self.ray.cancel(w.ref, force=True)
                w.ended = True
                w.state.state, w.state.error = "interrupted", "cancelled after the grace period"
        with contextlib.suppress(Exception, KeyboardInterrupt):
            self.relay()

    def result(self, *, stopped: bool) -> RunResult:
        from costcli.engines.merge import merge

        parts = [w.result if w.result is not None else self.partial(w) for w in self.workers]
        order = sorted(range(self.count), key=lambda i: self.workers[i].result is None)
        merged = merge([parts[i] for i in order], self.setup.prices, self.plan.records)
        for w, part in zip(self.workers, parts, strict=True):
            w.state.records = sum(len(t.records or ()) for t in part.targets)
            if self.setup.load.requests is not None:
                w.state.not_sent = w.shard.share(self.setup.load.requests) - w.state.records
        complete = (
            not stopped
            and merged.complete
            and all(w.state.state == "finished" for w in self.workers)
        )
        states = [w.state for w in self.workers]
        meta = merged.meta.model_copy(update={"engine": "ray", "workers": states})
        return merged.model_copy(update={"meta": meta, "complete": complete})

    def partial(self, worker: RayWorker) -> RunResult:
        """The shard result of a task that ended without one: the records that arrived."""
        from costcli.load import runner

        setup = self.shard_setup(worker.shard)
        run = TargetRun(
            stopped="worker_died" if worker.state.state == "died" else None, slo=setup.slo
        )
        for record in sorted(worker.records, key=lambda r: r.index):
            run.add(record)
        progress = runner.TargetProgress(setup.targets[0], runs=[(setup.points[0], run)])
        state = runner.RunState(current=progress)
        return runner.build_result(setup, state, complete=False)


def on_this_node(ray: Any) -> dict[str, Any]:
    """Scheduling options that keep an actor on the driver's node (where there is one: a
    Ray Client driver is not on a node)."""
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = ray.get_runtime_context().get_node_id()
    except Exception:  # any failure: let Ray place it
        return {}
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=True)}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def run_ray(plan: RunPlan, setup: RunSetup, observer: ProgressObserver) -> RunResult:
    """The plan's shards as Ray tasks; their records merged. Raises RunInterrupted on
    Ctrl-C with what arrived, UnreachableError when a task cannot start."""
    from costcli.engines.base import RunInterrupted
    from costcli.engines.journaled import SplitJournal

    check_target(setup)
    ray = import_ray()
    started_here = connect(ray, plan.ray_address)
    journal = SplitJournal(plan)
    driver: Driver | None = None
    try:
        driver = Driver(ray, plan, setup, observer)
        driver.launch()
        try:
            driver.pump()
        except KeyboardInterrupt:
            driver.stop()
            raise RunInterrupted(journal.named(driver.result(stopped=True))) from None
        return journal.ended(driver.result(stopped=False))
    finally:
        if driver is not None and driver.journals is not None:
            driver.journals.close()
        journal.close()
        if started_here:
            ray.shutdown()


def check_target(setup: RunSetup) -> None:
    """A managed llama-server would be started by every task, on every node; a secret
    written in a provider file would travel in every task's arguments: both refused."""
    from costcli.files.redact import is_secret_header, url_credentials

    target = setup.targets[0]
    where = target.source_file or target.provider
    secret = next((k for k in target.headers if is_secret_header(k)), None)
    if secret is not None or url_credentials(target.base_url):
        key = f"headers.{secret}" if secret is not None else "base_url"
        raise BadInputError(
            f"{where}: key '{key}' holds a secret, which --engine ray would carry to every "
            "node in the tasks' arguments; use api_key_env (each node reads its own "
            "environment) or --engine local"
        )
    if target.adapter == "llamacpp" and not (target.base_url or "").strip():
        raise BadInputError(
            f"--engine ray: target {target.label} is a managed llama-server, which every "
            "Ray task would start for itself; start one and give its base_url in a "
            "provider file, or use --engine local"
        )


class RayEngine:
    """`--engine ray --workers N`: the plan's shards as Ray tasks."""

    name = "ray"

    def run(self, plan: RunPlan, observer: ProgressObserver) -> RunResult:
        from costcli.plan import resolve

        # a Ray task reads its key from its own node's environment, not the driver's
        return run_ray(plan, resolve(plan, keys_here=False), observer)
