"""Conversations: the turns of a session in order, each carrying the target's own answers.

A conversational workload (`Workload.sessions`: JSONL lines sharing a `session`, ShareGPT
entries, the `conversation` built-in) is driven by `SessionPhase` instead of the plain
request phase. Sessions run concurrently up to `--concurrency` (closed loop), or start at
the open loop's arrival times (`--rate`); the turns of one session run one after another.
Turn n's request is the earlier turns' messages, each followed by the answer the target
gave to it, then turn n's own messages. A turn waits `think_time_s` after the previous
answer, and its latency is measured from the end of that wait. A failed turn ends its
session: the next turn would have no real history to carry.

`--requests` caps the requests, `--sessions N` the conversations started, `--duration` the
time in which new turns start; without any of them every conversation runs once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from costcli.adapters.base import Adapter
from costcli.load import clock
from costcli.load.measure import Measurement, measure
from costcli.load.phase import ProgressObserver, TargetRun, measured_phase, recorder
from costcli.load.schedule import UNCAPPED, LoadSettings, PointJob, SpendGuard, interarrival_s
from costcli.workloads.spec import RequestSpec, Workload


class SessionPhase:
    """One phase (warmup or measured) of a conversational workload."""

    def __init__(
        self,
        adapter: Adapter,
        workload: Workload,
        settings: LoadSettings,
        on_record: Callable[[Measurement], None],
        limits: tuple[int | None, int | None],  # (requests, sessions)
    ) -> None:
        self.adapter, self.workload, self.settings = adapter, workload, settings
        self.on_record = on_record
        self.limit, self.max_sessions = limits
        if self.limit is None and self.max_sessions is None and settings.duration_s is None:
            self.max_sessions = len(workload.sessions)
        self.duration_ns = int(settings.duration_s * 1e9) if settings.duration_s else None
        self.stop = False
        self.start_ns = 0
        self.sent = 0
        self.started = 0  # sessions begun
        self.first_session = 0  # where this phase starts in the workload's sessions
        self.next_index = 0  # request indices: unique across the phase
        self.done_sessions: set[str] = set()  # a resume's finished conversations: skipped
        self.spend: SpendGuard = UNCAPPED  # --max-spend-usd: costcli/load/spend.py

    # --- limits ---------------------------------------------------------------------------

    def may_send(self) -> bool:
        if self.stop or (self.limit is not None and self.sent >= self.limit):
            return False
        return self.duration_ns is None or clock.perf_ns() - self.start_ns < self.duration_ns

    def next_session(self) -> tuple[int, tuple[RequestSpec, ...]] | None:
        if not self.may_send():
            return None
        if self.max_sessions is not None and self.started >= self.max_sessions:
            return None
        k = self.first_session + self.started
        self.started += 1
        turns = self.workload.turns(k, self.next_index)
        self.next_index += len(turns)
        return k, turns

    def planned_requests(self) -> int | None:
        """How many requests the phase will send, where its limits say (for progress)."""
        if self.max_sessions is None:
            return self.limit
        sessions = self.workload.sessions
        first = self.first_session
        turns = sum(len(sessions[(first + k) % len(sessions)]) for k in range(self.max_sessions))
        return turns if self.limit is None else min(turns, self.limit)

    # --- one conversation ------------------------------------------------------------------

    def session_name(self, k: int, turn: RequestSpec) -> str | None:
        """The session's name; a second pass over the workload's sessions gets `~1`..."""
        cycle = k // len(self.workload.sessions)
        return turn.session if not cycle or turn.session is None else f"{turn.session}~{cycle}"

    async def converse(self, k: int, turns: tuple[RequestSpec, ...], first_at: int) -> None:
        history: list[dict[str, Any]] = []
        for n, turn in enumerate(turns):
            if n and not self.may_send():
                return
            if n and turn.think_time_s:
                await asyncio.sleep(turn.think_time_s)
                if not self.may_send():  # other sessions sent while this one thought
                    return
            self.sent += n > 0  # the first turn was counted when its session started
            spec = replace(
                turn,
                messages=(*history, *turn.messages),
                session=self.session_name(k, turn),
                turn=n,
            )
            if (held := self.spend.admit(spec)) is None:
                self.stop = True  # it could pass the spend cap: no turn is sent after it
                return
            rec = await measure(
                self.adapter, spec, first_at if n == 0 else clock.perf_ns(), self.settings
            )
            self.spend.settle(held, rec)
            self.on_record(rec)
            if rec.error is not None and rec.error != "invalid_output":
                return
            history += [*turn.messages, {"role": "assistant", "content": rec.answer or ""}]

    def begin(self) -> tuple[int, tuple[RequestSpec, ...]] | None:
        """The next session to start, its first request counted; a conversation a resumed
        journal finished is passed over (its requests were counted at the start)."""
        while (chosen := self.next_session()) is not None:
            k, turns = chosen
            if self.session_name(k, turns[0]) not in self.done_sessions:
                self.sent += 1
                return chosen
        return None

    # --- the loops -----------------------------------------------------------------------

    async def closed_loop(self) -> None:
        async def worker() -> None:
            while (chosen := self.begin()) is not None:
                await self.converse(*chosen, clock.perf_ns())

        self.start_ns = clock.perf_ns()
        await asyncio.gather(*(worker() for _ in range(max(1, self.settings.concurrency))))

    async def open_loop(self) -> None:
        gap = interarrival_s(self.settings)
        cap = asyncio.Semaphore(self.settings.max_concurrency or 1_000_000)
        tasks: set[asyncio.Task[None]] = set()

        async def one(k: int, turns: tuple[RequestSpec, ...], at_ns: int) -> None:
            async with cap:
                await self.converse(k, turns, at_ns)

        self.start_ns = due = clock.perf_ns() + 2_000_000
        while (chosen := self.begin()) is not None:
            delay = (due - clock.perf_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(*chosen, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            due += int(gap() * 1e9)
        if tasks:
            await asyncio.gather(*tasks)

    async def run(self) -> None:
        if self.settings.rate:
            await self.open_loop()
        else:
            await self.closed_loop()


async def run_conversations(
    adapter: Adapter, job: PointJob, observer: ProgressObserver, run: TargetRun
) -> TargetRun:
    """Warm up on `warmup` requests of whole sessions, then measure the sessions after them
    (a resume: the ones its journal does not hold finished). Every turn, warm-up ones too,
    is asked of `job.spend` before it is sent (--max-spend-usd)."""
    workload, settings, resumed = job.workload, job.settings, job.resumed
    spend = job.spend or UNCAPPED
    warm = SessionPhase(adapter, workload, settings, lambda r: None, (settings.warmup, None))
    warm.spend = spend
    if settings.warmup:
        await warm.run()
    progress = (job.label, observer)
    phase = SessionPhase(
        adapter, workload, settings, lambda r: None, (settings.requests, settings.sessions)
    )
    phase.first_session, phase.spend = warm.started, spend
    if resumed is not None:
        phase.done_sessions = resumed.sessions
        phase.sent = resumed.requests.count
    phase.on_record = recorder(run, settings, progress, phase)
    observer.target_started(job.label, phase.planned_requests())
    run.epoch_ns = clock.perf_ns()
    await measured_phase(phase, run, settings, progress)
    return run
