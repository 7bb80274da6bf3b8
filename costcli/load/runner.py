"""The engine of one run: targets one after another, each over the plan's load points, the
same requests in the same order. A plain run is a sweep of one load point.

Builds adapters through the registry, drives the scheduler, summarises, prices and
assembles the RunResult. An interrupted run keeps what was measured (`complete: false`).
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import platform
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from costcli import __version__
from costcli.adapters import registry
from costcli.adapters.base import Adapter, ProviderError, TransportOptions
from costcli.adapters.catalog import Target, for_target
from costcli.files.errors import UnreachableError
from costcli.files.redact import Redactor
from costcli.load import signals
from costcli.load.clock import now_iso
from costcli.load.phase import ProgressObserver, TargetRun
from costcli.load.repeat import PooledRun, Rounds
from costcli.load.resume import Resume
from costcli.load.schedule import WHOLE, LoadSettings, PointDone, PointJob, Shard, StartGate
from costcli.load.search import Search, SearchSpec, StepWatch
from costcli.load.spend import SpendBudget, SpendMeter
from costcli.load.sweep import LoadPoint, SweepSpec, capacity_index, load_points
from costcli.load.target import run_target
from costcli.results.document import (
    ClientHealth,
    Meta,
    RunResult,
    SearchStep,
    SweepPoint,
    TargetResult,
    WorkloadInfo,
)
from costcli.results.journal import JournalWriter
from costcli.results.metrics import SLO, Digest, RequestRecord, Summary, meets, percentiles
from costcli.results.server_metrics import Scrapes
from costcli.workloads.spec import Workload

if TYPE_CHECKING:
    from costcli.pricing.prices import Prices


def redact_url(url: str | None) -> str | None:
    """A URL without any user:password@ part (a key may hide there)."""
    if not url or "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return scheme + sep + host.rsplit("@", 1)[-1] + slash + path


def _redacted(value: Any, redact: Redactor) -> Any:
    """Every string in `value` (server facts from an adapter) through the target's redactor."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redact) for v in value]
    return value


def host_info() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


@dataclass(frozen=True)
class RunSetup:
    """Everything a run needs, resolved from a RunPlan (files read, targets found)."""

    targets: tuple[Target, ...]
    workload: Workload
    load: LoadSettings
    sweep: SweepSpec | None
    slo: SLO | None
    with_records: bool
    prices: Prices | None
    shard: Shard = WHOLE
    processes: int = 1
    # awaited once, before the first measured phase (the parent of --processes starts
    # every worker's schedule at the same instant through it)
    start_gate: StartGate | None = None
    journal: JournalWriter | None = None  # every record, as it completes (results/journal.py)
    resume: Resume | None = None  # a journal being continued: what it holds is skipped
    # the whole run's --max-spend-usd; each of the shard's `count` parts holds cap / count
    max_spend_usd: float | None = None
    rounds: Rounds | None = None  # --repeat N (load/repeat.py)
    search: SearchSpec | None = None  # --search (load/search.py): points found as it runs
    server_metrics: str | None = None  # --server-metrics URL (else the managed server's)

    @property
    def points(self) -> tuple[LoadPoint, ...]:
        """The load points, known before the run (a search's come as it runs)."""
        return load_points(self.load, self.sweep)

    def next_point(self, p: int, search: Search | None) -> LoadPoint | None:
        """Load point p, or None past the last (a search's: the next step it asks)."""
        if search is None:
            return self.points[p] if p < len(self.points) else None
        go, value = search.next_value()
        return search.spec.point(self.load, value) if go else None

    def point_of(self, p: int, label: str) -> LoadPoint:
        """Load point p as a journal's `point` line names it (a search's by its label)."""
        if self.search is None:
            return self.points[p]
        return self.search.point(self.load, self.search.value_of(label))

    @property
    def slots(self) -> tuple[Target, ...]:
        """The targets in the order they run (and are journaled): each once, or with
        --repeat N, every target once a round, N rounds."""
        return self.targets * (self.rounds.count if self.rounds is not None else 1)

    def point_run(self, slot: int, p: int, point: LoadPoint, keep: bool) -> TargetRun:
        """A slot's run at load point p (tapped into its pooled run when repeated)."""
        run = TargetRun(slo=self.slo, keep=keep)
        if self.rounds is not None:
            self.rounds.attach(slot, p, point, run, self.slo, self.with_records)
        return run


@dataclass
class TargetProgress:
    """One target while it runs: its load points so far and the server's facts."""

    target: Target
    runs: list[tuple[LoadPoint, TargetRun]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    """Live state of a run; what it holds is summarised even after Ctrl-C."""

    started_at: str = ""  # a resumed run's: the journal's (its first start)
    finished: list[TargetResult] = field(default_factory=list)
    current: TargetProgress | None = None

    def __post_init__(self) -> None:
        self.started_at = self.started_at or now_iso()


# An open loop's connections are sized before anything was measured: rate x this.
EXPECTED_LATENCY_S = 2.0
FD_RESERVE = 64  # file descriptors kept for everything but connections
LATE_MS = 10.0  # a request sent later than this after its planned time is late
LATE_SHARE = 0.01  # more late requests than this: the client did not keep the schedule


def connection_budget() -> int:
    """How many connections this process may hold: the soft RLIMIT_NOFILE, raised to the
    hard limit where allowed, less FD_RESERVE."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux/macOS
        return 1024 - FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 16 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    limit = 1 << 16 if soft == resource.RLIM_INFINITY else soft
    return max(16, limit - FD_RESERVE)


def transport_for(settings: LoadSettings, shard: Shard = WHOLE) -> TransportOptions:
    """Pools sized from the load: a closed loop's from its concurrency; an open loop's from
    rate x EXPECTED_LATENCY_S (connections opened up front) up to --max-concurrency, or
    else as many as the file-descriptor limit allows (never a silent cap)."""
    timeout = settings.timeout_s
    if not settings.rate:
        streams = max(1, shard.workers(settings.concurrency))
        return TransportOptions(concurrency=streams, timeout_s=timeout, max_streams=streams)
    cap = settings.max_concurrency or connection_budget()
    expected = math.ceil(settings.rate / shard.count * min(timeout, EXPECTED_LATENCY_S))
    streams = max(1, min(cap, expected, settings.requests or expected))
    return TransportOptions(concurrency=streams, timeout_s=timeout, max_streams=cap)


def client_health(digest: Digest, waits: int, max_concurrency: int | None) -> ClientHealth | None:
    """Did the client send every request on time? Late: client_delay over LATE_MS."""
    delays = digest.client_delay_ms
    if not delays.count:
        return None
    late = sum(1 for d in delays if d > LATE_MS)
    figures = percentiles(delays)
    p99 = figures.p99 if figures is not None else 0.0
    kept = late <= max(1, LATE_SHARE * delays.count)  # one late request is not a trend
    notes = []
    if not kept:
        notes.append(
            f"the client could not keep its schedule: {late} of {delays.count} requests left "
            f"more than {LATE_MS:g} ms late (client_delay p99 {p99:.1f} ms); the latencies "
            "include that delay: lower the load or add --processes"
        )
    if waits:
        notes.append(
            f"--max-concurrency {max_concurrency} bound: {waits} requests waited for a slot "
            "(their wait is in client_delay)"
        )
    return ClientHealth(
        schedule_kept=kept,
        late_ms=LATE_MS,
        late_requests=late,
        requests=delays.count,
        client_delay_p99_ms=p99,
        max_concurrency=max_concurrency,
        max_concurrency_waits=waits,
        warning="; ".join(notes) or None,
    )


def create_adapter(
    target: Target, settings: LoadSettings, workload: Workload, shard: Shard = WHOLE
) -> Adapter:
    """The target's adapter, sized for the load and (where it cares) the workload."""
    adapter = registry.create(target, transport_for(settings, shard))
    adapter.fit_workload(workload)
    return adapter


async def start(adapter: Adapter, target: Target) -> None:
    """Start the adapter; a ProviderError here means the target cannot be reached at all."""
    try:
        await adapter.start()
    except ProviderError as exc:
        reason = for_target(target)(str(exc))
        raise UnreachableError(f"{target.label}: cannot start: {reason}") from exc


def _widest(points: Sequence[LoadPoint]) -> LoadSettings:
    """The settings that size the adapter's pools: the most demanding load point."""
    return max((p.settings for p in points), key=lambda s: (s.rate or 0, s.concurrency))


async def measure_target(
    setup: RunSetup,
    target: Target,
    progress: TargetProgress,
    observer: ProgressObserver,
    slot: int | None = None,
    budget: SpendBudget | None = None,
) -> None:
    """Every load point of one target through one adapter; stops at a point that stopped.
    `slot`: its place in `setup.slots` (journaled by it); None: its place in the targets."""
    t = setup.targets.index(target) if slot is None else slot
    journal = setup.journal
    if journal is not None:
        journal.event({"k": "target", "t": t, "label": target.label}, sync=True)
    meter = budget.meter(target, setup.prices) if budget is not None else None
    served = _Served(setup, target, progress)
    ended = False
    try:
        adapter = await served.fit(_widest(setup.points))
        search = Search(setup.search) if setup.search is not None else None
        p = 0
        while (point := setup.next_point(p, search)) is not None:
            if search is not None:  # a step past the pools' size gets an adapter its size
                adapter = await served.fit(point.settings)
            run = await _run_point(setup, adapter, (observer, progress), point, (t, p), meter)
            p += 1
            if run.stopped:
                break
            if search is not None:
                summary = run.digest.summary()
                passed = meets(summary, setup.slo) and run.ended is None
                value = search.spec.value_of(point.label or "")
                search.add(value, passed, summary.throughput.requests_per_s)
        ended = True
    finally:
        await served.close(refresh=ended)
        if journal is not None:
            journal.event({"k": "info", "t": t, "info": progress.info})


async def _run_point(
    setup: RunSetup,
    adapter: Adapter,
    seen: tuple[ProgressObserver, TargetProgress],
    point: LoadPoint,
    where: tuple[int, int],
    meter: SpendMeter | None,
) -> TargetRun:
    """One load point of a target (slot t, point p): journaled, resumed, measured."""
    observer, progress = seen
    t, p = where
    run = setup.point_run(t, p, point, setup.with_records)
    progress.runs.append((point, run))
    resumed = _open_point(setup, run, t, p, point.label or "")
    _watch(setup, run, point, setup.server_metrics or getattr(adapter, "metrics_url", None), t, p)
    label = f"{progress.target.label} @ {point.label}" if point.label else progress.target.label
    if setup.rounds is not None:
        label = setup.rounds.label(t, label)
    job = PointJob(
        setup.workload,
        point.settings,
        label,
        setup.shard,
        setup.start_gate,
        resumed=resumed,
        spend=meter,
    )
    if resumed is not None and resumed.stopped:
        run.stopped = resumed.stopped  # it stopped before the kill: not run again
        return run
    if resumed is not None and resumed.finished:
        run.ended = resumed.ended
        return run  # it ran to its end before the kill: nothing of it is sent again
    try:
        await run_target(adapter, job, observer, run)
        if setup.journal is not None and not run.stopped:
            why = {"ended": run.ended} if run.ended else {}
            setup.journal.event({"k": "done", "t": t, "p": p, **why})
    finally:
        _close_point(setup, run, t, p)
    return run


@dataclass
class _Served:
    """A target's adapter, sized for the load (its widest point); a search's is made anew,
    its size, when a step needs more streams than it has."""

    setup: RunSetup
    target: Target
    progress: TargetProgress
    adapter: Adapter | None = None
    streams: int = 0

    async def fit(self, settings: LoadSettings) -> Adapter:
        need = transport_for(settings, self.setup.shard).concurrency
        if self.adapter is not None and need <= self.streams:
            return self.adapter
        await self.close(refresh=True)
        self.adapter = create_adapter(self.target, settings, self.setup.workload, self.setup.shard)
        self.streams = need
        await start(self.adapter, self.target)
        await self.adapter.refresh_facts()
        self.progress.info.update(self.adapter.describe())
        return self.adapter

    async def close(self, *, refresh: bool) -> None:
        """Close the adapter (after a last read of its facts, unless the run broke off)."""
        adapter, self.adapter = self.adapter, None
        if adapter is None:
            return
        try:
            if refresh:
                await adapter.refresh_facts()
                self.progress.info.update(adapter.describe())
        finally:
            await adapter.close()


def _watch(
    setup: RunSetup, run: TargetRun, point: LoadPoint, url: str | None, t: int, p: int
) -> None:
    """A search step's early end, and the server's metrics read while the point runs."""
    if url is not None:
        run.server = Scrapes(url)
        if setup.journal is not None:
            event = setup.journal.event
            shown = redact_url(url)
            run.scrape_sink = lambda sample: event(
                {"k": "scrape", "t": t, "p": p, "url": shown, **sample}
            )
    if setup.search is not None and setup.slo is not None:
        planned = point.settings.requests if point.settings.duration_s is None else None
        queue = run.server.waiting if run.server is not None else None
        run.watch = StepWatch(setup.slo, planned, queue)


def _open_point(setup: RunSetup, run: TargetRun, t: int, p: int, load: str) -> PointDone | None:
    """A load point's journal line; a resumed point's journaled records folded back in."""
    journal = setup.journal
    if journal is not None:
        journal.event({"k": "point", "t": t, "p": p, "load": load}, sync=True)
        run.sink = functools.partial(journal.record, t, p)
    if setup.resume is None:
        return None
    done = setup.resume.feed(t, p, run, journal)
    run.offset_ms = done.end_ms
    return done


def _close_point(setup: RunSetup, run: TargetRun, t: int, p: int) -> None:
    if setup.journal is None:
        return
    if run.stopped:
        setup.journal.event({"k": "stop", "t": t, "p": p, "why": run.stopped})
    setup.journal.flush(sync=True)


async def run_all(setup: RunSetup, state: RunState, observer: ProgressObserver) -> None:
    budget = SpendBudget.of_part(  # every target's, at once; a resume's spent counts
        setup.max_spend_usd,
        setup.shard,
        setup.resume.spent.total_usd if setup.resume is not None else 0.0,
        setup.journal.event if setup.journal is not None else None,
    )
    for slot, target in enumerate(setup.slots):
        state.current = progress = TargetProgress(target)
        await measure_target(setup, target, progress, observer, slot, budget)
        result = target_result(setup, progress, interrupted=False)
        state.finished.append(result)
        state.current = None
        if result.stopped:
            break


def _records(
    records: Sequence[RequestRecord], with_records: bool, redact: Redactor
) -> list[RequestRecord] | None:
    """The records for the results file; a second net behind the adapter's own: no error
    message carries a secret."""
    if not with_records:
        return None
    return [
        r.model_copy(update={"error_message": redact(r.error_message)}) if r.error_message else r
        for r in records
    ]


def target_result(setup: RunSetup, progress: TargetProgress, *, interrupted: bool) -> TargetResult:
    """The target's entry in the results: a sweep's summary, cost and records are its
    capacity point's (else the last point's); a plain run's are its one point's."""
    runs = [(p, r) for p, r in progress.runs if r.measured]
    summaries = [r.digest.summary() for _, r in runs]
    points = [
        SweepPoint(
            load=p.label or "",
            summary=s,
            meets_slo=meets(s, setup.slo) and r.ended is None,
            server_metrics=_server_view(r),
        )
        for (p, r), s in zip(runs, summaries, strict=True)
    ]
    # a search step a kill or Ctrl-C cut short has no verdict, and is not the capacity
    cut = len(points) - 1 if interrupted and setup.search is not None else None
    best = _capacity(setup, points[:cut])
    chosen = best if best is not None else len(runs) - 1
    run = runs[chosen][1] if runs else TargetRun(slo=setup.slo)
    summary = summaries[chosen] if runs else run.digest.summary()
    from costcli.pricing.cost import with_outcomes

    summary.cost = with_outcomes(run_cost(progress.target, run.digest, setup.prices), summary)
    stopped = next((r.stopped for _, r in progress.runs if r.stopped), None)
    t = progress.target
    redact = for_target(t)
    return TargetResult(
        provider=t.provider,
        model=t.model,
        price_provider=t.price_provider if t.price_provider != t.provider else None,
        adapter=t.adapter,
        base_url=redact_url(t.base_url),
        self_hosted=t.self_hosted,
        hardware=t.settings.hardware if t.settings else None,
        summary=summary,
        server_info=_redacted(progress.info, redact),
        capacity_rps=points[best].summary.throughput.requests_per_s if best is not None else None,
        capacity_load=points[best].load if best is not None else None,
        sweep=points if setup.sweep else None,
        search=[
            _step(p, r, cut=i == cut)
            for i, (p, (_, r)) in enumerate(zip(points, runs, strict=True))
        ]
        if setup.search
        else None,
        server_metrics=points[chosen].server_metrics if runs else None,
        stopped=stopped or ("interrupted" if interrupted else None),
        client=client_health(run.digest, run.capped, runs[chosen][0].settings.max_concurrency)
        if runs
        else None,
        records=_records(run.records, setup.with_records, redact),
    )


def _capacity(setup: RunSetup, points: Sequence[SweepPoint]) -> int | None:
    """The capacity point: a sweep's highest passing point, a search's highest passing
    step by load (its steps are not in order; a probe is not a step of its kind)."""
    if setup.sweep is not None:
        return capacity_index([p.meets_slo for p in points])
    if setup.search is None:
        return None
    spec = setup.search
    tried = [(spec.value_of(p.load), i) for i, p in enumerate(points) if p.meets_slo]
    return max(((v, i) for v, i in tried if v is not None), default=(None, None))[1]


def _server_view(run: TargetRun) -> Any:
    if run.server is None:
        return None
    view = run.server.summary()
    return view.model_copy(update={"url": redact_url(view.url)})


def _step(point: SweepPoint, run: TargetRun, *, cut: bool) -> SearchStep:
    s: Summary = point.summary
    probe = point.load.endswith("(probe)")
    waiting = point.server_metrics.requests_waiting_max if point.server_metrics else None
    return SearchStep(
        load=point.load,
        requests=s.requests.total,
        slo_attainment=s.goodput.attainment if s.goodput is not None else None,
        error_rate=s.error_rate,
        ttft_p95_ms=s.ttft_ms.p95 if s.ttft_ms is not None else None,
        meets_slo=point.meets_slo,
        verdict="cut" if cut else "probe" if probe else "pass" if point.meets_slo else "fail",
        ended=run.ended,
        requests_waiting_max=waiting,
        summary=s,
    )


def pooled_result(setup: RunSetup, t: int, runs: PooledRun) -> TargetResult:
    """A repeated target's result from its pooled runs (every round's records)."""
    return target_result(setup, TargetProgress(setup.targets[t], list(runs)), interrupted=False)


def run_cost(target: Target, digest: Digest, prices: Prices | None) -> Any:
    """The summary's `cost` from the usage the server reported (None without a prices file)."""
    return priced(target.price_provider, target.model, target.self_hosted, digest, prices)


def priced(
    provider: str,
    model: str,
    self_hosted: bool,
    digest: Digest,
    prices: Prices | None,
) -> Any:
    """`run_cost` by the target's names (what a results file keeps of it: costcli merge)."""
    if prices is None:
        return None
    from costcli.pricing.cost import cost_summary
    from costcli.results.metrics import ProviderBill, RunCost

    # every answer the server reported usage for is billed, an invalid_output one too
    cost = cost_summary(provider, model, digest.billed, prices, self_hosted=self_hosted)
    if not digest.bills.requests or not isinstance(cost, RunCost):
        return cost
    ours = cost_summary(provider, model, digest.bills, prices, self_hosted=self_hosted)
    theirs = digest.provider_usd
    mine = ours.total_usd if isinstance(ours, RunCost) else 0.0
    bill = ProviderBill(
        requests=digest.bills.requests,
        provider_usd=theirs,
        costcli_usd=mine,
        difference_pct=(mine - theirs) / theirs * 100 if theirs > 0 else None,
    )
    return cost.model_copy(update={"provider_billed": bill})


def build_result(setup: RunSetup, state: RunState, *, complete: bool) -> RunResult:
    targets = list(state.finished)
    live = state.current
    if live is not None and any(r.measured for _, r in live.runs):
        targets.append(target_result(setup, live, interrupted=True))
    if setup.rounds is not None:
        targets = setup.rounds.fold(targets, functools.partial(pooled_result, setup))
    load = setup.load.describe()
    if setup.sweep is not None:
        load["sweep"] = setup.sweep.describe()
    if setup.search is not None:
        load["search"] = setup.search.describe()
    workload = setup.workload
    meta = Meta(
        costcli_version=__version__,
        started_at=state.started_at,
        ended_at=now_iso(),
        workload=WorkloadInfo(
            name=workload.name,
            sha256=workload.sha256,
            requests_per_cycle=len(workload.items),
            seed=setup.load.seed,
            unique_prefix=workload.unique_prefix,
            max_tokens=workload.max_tokens,
            fixed_schedule=True if workload.schedule_ms is not None else None,
        ),
        load=load,
        host=host_info(),
        stopped=next((t.stopped for t in targets if t.stopped), None),
        shard=setup.shard.label if setup.shard.count > 1 else None,
        processes=setup.processes,
        journal=str(setup.journal.path) if setup.journal is not None else None,
        resumed=setup.resume.times if setup.resume is not None else None,
        repeat=setup.rounds.count if setup.rounds is not None else None,
    )
    return RunResult(complete=complete, meta=meta, targets=targets)


def run(setup: RunSetup, state: RunState, observer: ProgressObserver) -> None:
    """Measure every target; Ctrl-C propagates (KeyboardInterrupt) once `state` holds what
    was measured. Under `signals.interrupt_signals()` a signal cancels the run's task."""

    async def run_task() -> None:
        task = asyncio.current_task()
        assert task is not None
        with signals.cancelled_on_interrupt(task):
            await run_all(setup, state, observer)

    try:
        asyncio.run(run_task())
    except asyncio.CancelledError:  # the guard's first signal
        raise KeyboardInterrupt from None
