"""The plain request phase: N requests or a duration, closed loop (concurrency) or open
loop (constant, poisson or gamma arrivals, or the workload's own times: a trace).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from costcli.adapters.base import (
    Adapter,
)
from costcli.load import clock
from costcli.load.measure import Measurement, measure
from costcli.load.schedule import OPEN_LOOP_LEAD_NS, UNCAPPED, PointJob, arrivals
from costcli.workloads.spec import RequestSpec


class RequestPhase:
    def __init__(
        self,
        adapter: Adapter,
        job: PointJob,
        on_record: Callable[[Measurement], None],
        warmup: bool,
    ) -> None:
        self.adapter, self.settings, self.on_record = adapter, job.settings, on_record
        self.workload, self.shard = job.workload, job.shard
        settings = job.settings
        self.first = 0 if warmup else settings.warmup  # request numbers count from here
        total = settings.warmup if warmup else settings.requests
        # a resumed point skips the requests its journal holds (their records count)
        self.done = job.resumed.requests if job.resumed is not None and not warmup else None
        held = self.done.owned(job.shard, self.first) if self.done is not None else 0
        self.limit = None if total is None else max(0, job.shard.share(total) - held)
        duration_s = None if warmup else settings.duration_s
        self.duration_ns = int(duration_s * 1e9) if duration_s else None
        # a closed loop's time already spent before the resume (an open loop keeps its plan)
        self.spent_ns = int(job.resumed.end_ms * 1e6) if job.resumed and not warmup else 0
        self.sent = 0
        self.stop = False
        self.start_ns = 0
        self.capped = 0
        self.spend = job.spend or UNCAPPED  # --max-spend-usd: costcli/load/spend.py

    def _more(self, offset_ns: int) -> bool:
        if self.stop or (self.limit is not None and self.sent >= self.limit):
            return False
        return self.duration_ns is None or offset_ns < self.duration_ns

    def _spec(self, k: int) -> RequestSpec:
        self.sent += 1
        return self.workload.request(self.first + k)

    def _skipped(self, k: int) -> bool:
        return self.done is not None and self.first + k in self.done

    async def closed_loop(self) -> None:
        numbers = (k for k in itertools.count() if self.shard.owns(k) and not self._skipped(k))

        async def worker() -> None:
            while self._more(clock.perf_ns() - self.start_ns + self.spent_ns):
                spec = self._spec(next(numbers))
                if (held := self.spend.admit(spec)) is None:
                    self.stop = True  # it could pass the spend cap: none is sent after it
                    return
                done = await measure(self.adapter, spec, clock.perf_ns(), self.settings)
                self.spend.settle(held, done)
                self.on_record(done)

        workers = max(1, self.shard.workers(self.settings.concurrency))
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def open_loop(self) -> None:
        limit = self.settings.max_concurrency
        # a shard holds its part of the cap (the parts add up to it), as of the concurrency
        cap = asyncio.Semaphore(max(1, self.shard.workers(limit)) if limit else 1_000_000)
        tasks: set[asyncio.Task[None]] = set()

        async def one(spec: RequestSpec, at_ns: int, held: float) -> None:
            if cap.locked():
                self.capped += 1
            async with cap:  # the wait is the client's: it lands in client_delay
                done = await measure(self.adapter, spec, at_ns, self.settings)
            self.spend.settle(held, done)
            self.on_record(done)

        shift_ns = None  # a resumed schedule starts at its first request not yet measured
        for k, offset_ns in arrivals(self.settings, self.shard, self.workload.schedule_ms):
            if not self._more(offset_ns):
                break
            if self._skipped(k):
                continue
            if shift_ns is None:
                shift_ns = offset_ns if self.done is not None else 0
            due = self.start_ns + offset_ns - shift_ns
            spec = self._spec(k)  # built before the wait: a trace's prompt takes a while
            delay = (due - clock.perf_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            if (held := self.spend.admit(spec)) is None:  # asked as it is due: the
                self.stop = True  # requests settled meanwhile count; none is sent after it
                break
            task = asyncio.create_task(one(spec, due, held))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def run(self, start_ns: int | None = None) -> None:
        lead = OPEN_LOOP_LEAD_NS if self.settings.rate else 0
        self.start_ns = start_ns if start_ns is not None else clock.perf_ns() + lead
        if not self.settings.rate and self.start_ns > clock.perf_ns():
            await asyncio.sleep((self.start_ns - clock.perf_ns()) / 1e9)
        if self.settings.rate:
            await self.open_loop()
        else:
            await self.closed_loop()
