"""The schedule of a load point: its settings, the seeded arrivals and the shards.

Every request gets a planned time: in a closed loop, the moment its worker became free;
in an open loop, its planned arrival, however late the client actually sends it (seeded
gaps, or a workload's own times: a trace, load/replay.py). A shard is part i of N of that
schedule, at the whole run's planned times.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from costcli.workloads.spec import RequestSpec, Workload

ARRIVALS = ("constant", "poisson", "gamma")
DEFAULT_REQUESTS = 16  # measured requests when neither a count nor a duration is given
OPEN_LOOP_LEAD_NS = 2_000_000  # the first planned arrival, after the phase is set up


class LoadSettings(BaseModel):
    """How one load point is driven. Part of the serialisable RunPlan (costcli/api.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(1, ge=1)
    rate: float | None = Field(None, gt=0, allow_inf_nan=False)  # None: closed loop
    arrival: Literal["constant", "poisson", "gamma"] = "constant"
    burstiness: float = Field(1.0, gt=0, allow_inf_nan=False)  # gamma shape; 1.0 = poisson
    requests: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    warmup: int = Field(0, ge=0)
    timeout_s: float = Field(120.0, gt=0, allow_inf_nan=False)
    max_retries: int = Field(0, ge=0)
    max_error_rate: float | None = Field(None, ge=0, le=1)
    max_concurrency: int | None = Field(None, ge=1)  # cap on in-flight requests (open loop)
    seed: int = 0
    sessions: int | None = Field(None, ge=1)  # conversations to run (conversational workloads)

    @model_validator(mode="before")
    @classmethod
    def _some_stop(cls, data: Any) -> Any:
        """Neither a request count nor a duration: DEFAULT_REQUESTS measured requests."""
        unbounded = isinstance(data, dict) and data.get("requests") is None
        if unbounded and data.get("duration_s") is None and data.get("sessions") is None:
            return {**data, "requests": DEFAULT_REQUESTS}
        return data

    def describe(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class Shard(BaseModel):
    """Part `index` of `count` (1-based) of a run's seeded schedule: the requests whose
    number k (0-based, warm-up and measured counted apart) has k % count == index - 1, at
    the same planned times as in the whole run, and its share of the concurrency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=1)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _in_range(self) -> Shard:
        if self.index > self.count:
            raise ValueError(f"shard {self.index}/{self.count}: the index is past the count")
        return self

    def owns(self, k: int) -> bool:
        return k % self.count == self.index - 1

    def share(self, n: int) -> int:
        """How many of the requests 0..n-1 are this shard's."""
        return len(range(self.index - 1, n, self.count))

    def workers(self, concurrency: int) -> int:
        """This shard's part of a closed loop's concurrency (the parts add up to it)."""
        return self.share(concurrency)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(index=1, count=1)


def interarrival_s(settings: LoadSettings) -> Callable[[], float]:
    """Gaps between planned sends in an open loop; gamma(shape=burstiness) keeps the mean."""
    rate = settings.rate or 1.0
    rng = random.Random(settings.seed)
    if settings.arrival == "constant":
        return lambda: 1.0 / rate
    if settings.arrival == "poisson":
        return lambda: rng.expovariate(rate)
    shape = settings.burstiness
    return lambda: rng.gammavariate(shape, 1.0 / (rate * shape))


def arrivals(
    settings: LoadSettings, shard: Shard = WHOLE, fixed_ms: Sequence[float] | None = None
) -> Iterator[tuple[int, int]]:
    """The open loop's seeded schedule: (request number, planned offset in ns) for the
    shard's requests. Every shard walks the whole schedule, so its times are the run's.
    `fixed_ms`: a workload's own schedule (a trace), each request once at its time."""
    if fixed_ms is not None:
        for k, at_ms in enumerate(fixed_ms):
            if shard.owns(k):
                yield k, round(at_ms * 1e6)
        return
    gap = interarrival_s(settings)
    offset_ns, k = 0, 0
    while True:
        if shard.owns(k):
            yield k, offset_ns
        offset_ns += int(gap() * 1e9)
        k += 1


class Done:
    """Request indices already measured, as a bitmap (a bit a request, never a set)."""

    __slots__ = ("_bits", "count")

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, index: int) -> None:
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + len(self._bits) // 2))
        if not self._bits[byte] >> bit & 1:
            self._bits[byte] |= 1 << bit
            self.count += 1

    def discard(self, index: int) -> None:
        if index in self:
            byte, bit = divmod(index, 8)
            self._bits[byte] &= ~(1 << bit) & 0xFF
            self.count -= 1

    def __contains__(self, index: int) -> bool:
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)

    def owned(self, shard: Shard, first: int) -> int:
        """How many of them belong to `shard` (request numbers count from `first`)."""
        if shard.count == 1:
            return self.count
        return sum(
            1 for i in range(first, len(self._bits) * 8) if i in self and shard.owns(i - first)
        )


@dataclass
class PointDone:
    """What the journal holds of one target's load point."""

    requests: Done = field(default_factory=Done)
    sessions: set[str] = field(default_factory=set)  # conversations finished
    restart: set[str] = field(default_factory=set)  # conversations cut: sent again whole
    # a conversation an earlier resume sent again: its records before that line do not count
    restarted_at: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None
    finished: bool = False  # it ran to its end (a `done` line): not run again
    ended: str | None = None  # a search step's early end, as its `done` line says
    end_ms: float = 0.0  # the last completion, as the point's records count time


StartGate = Callable[[], Awaitable[int | None]]


class SpendGuard(Protocol):
    """What a phase asks before it sends each request and tells after it ends, under
    --max-spend-usd (costcli/load/spend.py: `SpendMeter`)."""

    @property
    def refused(self) -> bool: ...  # a request was held back: the phase stopped for the cap

    def admit(self, spec: RequestSpec) -> float | None: ...  # its hold; None: do not send

    def settle(self, held: float, usage: Any) -> None: ...  # its hold released, usage priced


class Uncapped:
    """No --max-spend-usd: every request may be sent."""

    refused = False

    def admit(self, spec: RequestSpec) -> float | None:
        return 0.0

    def settle(self, held: float, usage: Any) -> None:
        pass


UNCAPPED: SpendGuard = Uncapped()


@dataclass(frozen=True)
class PointJob:
    """One load point of one target, as `run_target` runs it: a plain, serialisable unit
    (with `shard`) that a worker process or a remote launcher can be handed.

    `start_gate`, where given, is awaited once everything is set up and returns the
    phase's start (perf_counter_ns; None: now): the parent of `--processes` uses it to
    start every worker's schedule at the same instant."""

    workload: Workload
    settings: LoadSettings
    label: str
    shard: Shard = WHOLE
    start_gate: StartGate | None = None
    resumed: PointDone | None = None  # what a journal being resumed holds of this point
    spend: SpendGuard | None = None  # --max-spend-usd: asked before each request is sent
