"""RequestRecords -> Summary, exactly as DESIGN.md defines every figure: `summarize` for a
list, `Digest` for a run's records one at a time in bounded memory (the same figures).

Clock: perf_counter_ns, in the scheduler. Latencies are measured from the scheduled time
(no coordinated omission) and reported in milliseconds. Failed requests are counted by error class and
kept out of the latency percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
)

from costcli.adapters.base import ERROR_CLASSES
from costcli.results.columns import Column, Spill, ranked

NS_PER_MS = 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Written only where a server reported them (Anthropic's cache writes, a provider's own
# bill): a file of any other run reads, byte for byte, as before they were recorded.
ABSENT_WHEN_NONE = (
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "provider_cost_usd",
    "provider_billed",
    "service_tier",  # the tier a provider reports it served (OpenAI Responses)
    "price_provider",  # a target priced from another provider's entries (prices_from)
    "journal",  # where the run's records are, one a line (results/journal.py)
    "resumed",  # when each resume of the run began
    "fixed_schedule",  # a workload sent on its own times (a trace: load/replay.py)
    "ci95",  # a distribution's interval over repeated runs (--repeat: results/repeats.py)
    "repeats",  # a repeated target's summary of each run
    "repeat",  # how many times the run was repeated
    "search",  # a capacity search's steps (load/search.py)
    "server_metrics",  # the server's own metrics (--server-metrics: load/scrape.py)
)


class Unreported(_Model):
    """A model whose ABSENT_WHEN_NONE fields are left out of its JSON while None."""

    @model_serializer(mode="wrap")
    def _without_unreported(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in ABSENT_WHEN_NONE:
                if key in data and data[key] is None:
                    del data[key]
        return data


MEASURED_MAX = 1e12  # ms (31 years), tokens/s, $: beyond any request's figure
MEASURED = (
    "scheduled_ms", "ttft_ms", "ttfb_ms", "e2e_ms", "client_delay_ms", "tpot_ms",
    "decode_tokens_per_s", "itl_ms", "queue_ms", "prefill_ms", "decode_ms", "ttfo_ms",
    "provider_cost_usd",
)  # fmt: skip


class RequestRecord(Unreported):
    """One measured request, as the scheduler produced it and as `--records` writes it.

    The one record model: the scheduler freezes each finished request into it, `summarize`
    reads it, the results file stores it and `check` reads it back. Latencies are
    milliseconds from the request's scheduled time; `scheduled_ms` is that time as an
    offset from the start of the target's measured phase (absent in 0.1 files).
    """

    index: int
    ok: bool
    error: str | None
    error_message: str | None
    status: int | None
    retries: int
    scheduled_ms: float | None = None
    ttft_ms: float | None
    ttfb_ms: float | None
    e2e_ms: float
    client_delay_ms: float
    tpot_ms: float | None
    # absent in files written before it was recorded; None there, as for a one-token answer
    decode_tokens_per_s: float | None = None
    itl_ms: list[float]
    input_tokens: int | None
    output_tokens: int | None
    tokens_estimated: bool
    cached_input_tokens: int | None
    # part of input_tokens: written to the prompt cache (Anthropic), of which kept 1 hour;
    # absent in files written before they were recorded
    cache_write_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    reasoning_tokens: int | None
    finish_reason: str | None
    output_valid: bool | None
    queue_ms: float | None
    prefill_ms: float | None
    decode_ms: float | None
    tags: list[str]
    # absent in files written before they were recorded
    ttfo_ms: float | None = None  # first answer token or tool-call delta, reasoning excluded
    session: str | None = None
    turn: int | None = None  # 0-based turn index within its session
    tool_calls: int | None = None  # tool calls in the answer (None: none)
    correct: bool | None = None  # graded answers (`expected`); None: not graded
    provider_cost_usd: float | None = None  # the provider's own bill (xAI, OpenRouter)
    service_tier: str | None = None  # the service tier the provider reports it served

    @field_validator(*MEASURED, mode="after")
    @classmethod
    def _measured(cls, value: Any) -> Any:
        """A time or rate no request could measure (over MEASURED_MAX, or not finite) is a
        damaged file, refused where it is read rather than overflowing a summary."""
        for v in value if isinstance(value, list) else (value,):
            if v is not None and not abs(v) < MEASURED_MAX:
                raise ValueError(f"{v!r} is not a measured figure (at most {MEASURED_MAX:g})")
        return value


# --- the summary document (part of the results file) ---------------------------------


class CI95(_Model):
    """Each figure's 95% interval over the runs of a repeated target (`--repeat N`), as
    [low, high]: the Student-t interval of the figure's mean over the runs, a low end
    below 0 cut at 0 (results/repeats.py has the method)."""

    runs: int  # the runs the interval is over
    mean: tuple[float, float]
    p50: tuple[float, float]
    p90: tuple[float, float]
    p95: tuple[float, float]
    p99: tuple[float, float]


class Percentiles(Unreported):
    mean: float
    min: float
    max: float
    std: float
    p50: float
    p90: float
    p95: float
    p99: float
    count: int
    ci95: CI95 | None = None  # a repeated target's, over its runs; absent otherwise


class RequestCounts(_Model):
    total: int
    ok: int
    failed: int


class TokenTotals(_Model):
    total: int
    mean: float
    estimated: bool = False


class Throughput(_Model):
    requests_per_s: float
    output_tokens_per_s: float
    total_tokens_per_s: float


class SLO(_Model):
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None
    # `--slo ttft_p95=500`: the limits bound that percentile of each figure; without it,
    # ATTAINMENT of the requests must meet every limit at once
    percentile: Literal[50, 90, 95, 99] | None = None

    def describe(self) -> str:
        """'TTFT <= 1000 ms, TPOT <= 50 ms' or 'TTFT p95 <= 500 ms'."""
        limits = (("TTFT", self.ttft_ms), ("TPOT", self.tpot_ms), ("E2E", self.e2e_ms))
        q = f" p{self.percentile}" if self.percentile else ""
        return ", ".join(f"{name}{q} <= {v:g} ms" for name, v in limits if v is not None)


class Goodput(_Model):
    slo: SLO
    requests_per_s: float
    attainment: float  # share of all measured requests that met every SLO


class ServerTelemetry(_Model):
    queue_ms: Percentiles | None = None
    prefill_ms: Percentiles | None = None
    decode_ms: Percentiles | None = None


class OutputCheck(_Model):
    checked: int
    valid: int
    valid_share: float


class ToolCalls(_Model):
    requests: int  # requests whose answer called a tool
    calls: int
    valid: int  # of `requests`: every call named a known tool with valid arguments
    valid_share: float


class SessionCounts(_Model):
    total: int
    ok: int  # every turn that was sent succeeded


class TurnLatency(_Model):
    """Latency of the n-th turn of every session (0-based `turn`)."""

    turn: int
    requests: int
    ttft_ms: Percentiles | None
    ttfo_ms: Percentiles | None


class Quality(_Model):
    graded: int  # requests with an `expected` answer (a failed one is graded wrong)
    correct: int
    accuracy: float


class ProviderBill(_Model):
    """The provider's bill beside costcli's price for the requests that reported one."""

    requests: int
    provider_usd: float
    costcli_usd: float
    difference_pct: float | None  # (costcli - provider) / provider x 100; None: provider 0


class RunCost(Unreported):
    """What a measured run cost, from the usage the server reported (`summary.cost`)."""

    per_request_usd: float | None
    per_1k_requests_usd: float | None
    per_1m_output_tokens_usd: float | None
    total_usd: float
    price_as_of: str
    price_source: str
    stale_price: bool
    per_session_usd: float | None = None  # conversational workloads
    per_correct_answer_usd: float | None = None  # graded workloads; None with no correct one
    # the provider's own bill where it sends one (xAI, OpenRouter): its sum over the
    # requests that carried one, costcli's figure for those same requests, and how far apart
    provider_billed: ProviderBill | None = None


class Unpriced(_Model):
    """`summary.cost` of a target with no per-token price: never a zero."""

    unpriced: Literal[True] = True
    reason: str


def _cost_kind(value: Any) -> str:
    """Which model `summary.cost` is: one branch's errors, not both (an unpriced marker)."""
    if isinstance(value, dict):
        return "unpriced" if "unpriced" in value else "priced"
    return "unpriced" if isinstance(value, Unpriced) else "priced"


class Summary(Unreported):
    requests: RequestCounts
    error_rate: float
    errors: dict[str, int]
    duration_s: float
    ttft_ms: Percentiles | None
    ttfo_ms: Percentiles | None = None
    ttfb_ms: Percentiles | None
    itl_ms: Percentiles | None
    tpot_ms: Percentiles | None
    e2e_ms: Percentiles | None
    client_delay_ms: Percentiles | None
    decode_tokens_per_s: Percentiles | None
    input_tokens: TokenTotals
    output_tokens: TokenTotals
    # part of output_tokens; None when no request reported any (servers without the field)
    reasoning_tokens: TokenTotals | None = None
    cached_input_tokens: TokenTotals | None = None  # part of input_tokens
    cache_hit_share: float | None = None  # cached / input tokens over the run
    cache_write_tokens: TokenTotals | None = None  # part of input_tokens (Anthropic)
    throughput: Throughput
    goodput: Goodput | None = None
    server: ServerTelemetry | None = None
    output_check: OutputCheck | None = None
    tool_calls: ToolCalls | None = None
    sessions: SessionCounts | None = None
    by_turn: list[TurnLatency] | None = None
    quality: Quality | None = None
    retries: int = 0
    cost: (
        Annotated[
            Annotated[RunCost, Tag("priced")] | Annotated[Unpriced, Tag("unpriced")],
            Discriminator(_cost_kind),
        ]
        | None
    ) = None


# --- arithmetic ----------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default 'linear' method)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


QUANTILES = (50, 90, 95, 99)


def _ranks(n: int) -> set[int]:
    """The ranks of the sorted values that min, max and QUANTILES read."""
    out = {0, n - 1}
    for q in QUANTILES:
        lo = math.floor((n - 1) * q / 100.0)
        out.update((lo, min(lo + 1, n - 1)))
    return out


def percentiles(values: Iterable[float]) -> Percentiles | None:
    """Mean, spread and percentiles of the values; of a `Column`, exactly and in bounded
    memory (its ranks found by `columns.ranked`, its sums by exact `math.fsum`)."""
    data: Sequence[float]
    column: Iterable[float]
    if isinstance(values, Column):
        n, column = values.count, values
        if n == 0:
            return None
        data = ranked(values, _ranks(n))
    else:
        data = sorted(values)
        column, n = data, len(data)
        if n == 0:
            return None
    mean = math.fsum(column) / n
    var = math.fsum((x - mean) ** 2 for x in column) / n
    return Percentiles(
        mean=mean,
        min=data[0],
        max=data[n - 1],
        std=math.sqrt(var),
        p50=percentile(data, 50),
        p90=percentile(data, 90),
        p95=percentile(data, 95),
        p99=percentile(data, 99),
        count=n,
    )


def meets_slo(record: RequestRecord, slo: SLO) -> bool:
    """Whether a request succeeded within every SLO given. A one-token answer has no TPOT."""
    if not record.ok:
        return False
    if slo.ttft_ms is not None and (record.ttft_ms is None or record.ttft_ms > slo.ttft_ms):
        return False
    if slo.e2e_ms is not None and record.e2e_ms > slo.e2e_ms:
        return False
    tpot = record.tpot_ms
    return slo.tpot_ms is None or tpot is None or tpot <= slo.tpot_ms


def window_s(records: Iterable[RequestRecord]) -> float:
    """From the first scheduled request to the last completion, in seconds."""
    return Digest().extend(records).duration_s()


def summarize(records: Iterable[RequestRecord], slo: SLO | None = None) -> Summary:
    """The Summary of one target's measured (post-warmup) records."""
    digest = Digest(slo).extend(records)
    try:
        return digest.summary()
    finally:
        digest.close()


# every latency of a successful request kept for its percentiles (client delay: of all)
LATENCIES = (
    "ttft_ms",
    "ttfo_ms",
    "ttfb_ms",
    "tpot_ms",
    "e2e_ms",
    "decode_tokens_per_s",
    "queue_ms",
    "prefill_ms",
    "decode_ms",
)
USAGE = 6  # input, output, cached, reasoning, cache write, of it 1h (then the tier)
Usage = tuple[int, int, int, int, int, int, str]


class UsageColumns:
    """Each billed request's usage in arrival order, as `pricing.cost.run_cost` reads it."""

    def __init__(self, spill: Spill) -> None:
        self.counts = [Column(spill, "q") for _ in range(USAGE)]
        self.tier = Column(spill, "b")
        self.tiers: list[str] = []  # the service tiers seen, by their code in `tier`
        self.requests = 0

    def add(self, record: RequestRecord) -> None:
        written = record.cache_write_tokens or 0
        values = (
            record.input_tokens or 0,
            record.output_tokens or 0,
            record.cached_input_tokens or 0,
            record.reasoning_tokens or 0,
            written,
            min(record.cache_write_1h_tokens or 0, written),
        )
        for column, value in zip(self.counts, values, strict=True):
            column.append(value)
        tier = record.service_tier or "default"
        if tier not in self.tiers:
            self.tiers.append(tier)
        self.tier.append(self.tiers.index(tier))
        self.requests += 1

    def __iter__(self) -> Iterator[Usage]:
        blocks = zip(*(c.blocks() for c in self.counts), self.tier.blocks(), strict=True)
        for *counts, tiers in blocks:
            for *usage, tier in zip(*counts, tiers, strict=True):
                yield (*usage, self.tiers[tier])


class TurnColumns:
    def __init__(self, spill: Spill) -> None:
        self.requests = 0
        self.ttft_ms = Column(spill)
        self.ttfo_ms = Column(spill)


class Digest:
    """One load point's records folded in one at a time: every Summary figure, exact, in
    memory that does not grow with the run. Counts and sums are kept as numbers; the values
    percentiles need go to `Column`s, which spill to one temporary file past a few thousand
    values; the usage each billed request reported is kept in order for its price."""

    def __init__(self, slo: SLO | None = None) -> None:
        self.slo = slo if slo is not None and slo.describe() else None
        self.spill = Spill()
        self.total = self.ok = self.retries = self.good = 0
        self.errors = dict.fromkeys(ERROR_CLASSES, 0)
        self.checked = self.valid = 0
        self.start, self.end, self.timed = math.inf, -math.inf, 0
        self.latency = {name: Column(self.spill) for name in LATENCIES}
        self.itl_ms = Column(self.spill)
        self.client_delay_ms = Column(self.spill)
        self.input_total = self.output_total = 0
        self.input_unreported = self.output_estimated = False
        self.reasoning = [0, 0]  # total, requests that reported it
        self.cache_writes = [0, 0]
        self.cached = [0, 0, 0]  # cached tokens, requests, their input tokens
        self.calling = self.calls = self.calls_valid = 0
        self.sessions: dict[str, bool] = {}
        self.turns: dict[int, TurnColumns] = {}
        self.graded = self.correct = 0
        self.billed = UsageColumns(self.spill)  # every answer with reported usage
        self.bills = UsageColumns(self.spill)  # of those, the ones the provider billed
        self.provider_usd = 0.0

    def extend(self, records: Iterable[RequestRecord]) -> Digest:
        for record in records:
            self.add(record)
        return self

    def add(self, r: RequestRecord) -> None:
        self.total += 1
        self.retries += r.retries
        self.client_delay_ms.append(r.client_delay_ms)
        if r.error:
            self.errors[r.error] = self.errors.get(r.error, 0) + 1
        if r.scheduled_ms is not None:
            self.timed += 1
            self.start = min(self.start, r.scheduled_ms)
            self.end = max(self.end, r.scheduled_ms + r.e2e_ms)
        if r.output_valid is not None:
            self.checked += 1
            self.valid += r.output_valid
        if self.slo is not None and meets_slo(r, self.slo):
            self.good += 1
        self._outcomes(r)
        if r.output_tokens is not None and not r.tokens_estimated:
            # every answer the server reported usage for is billed, an invalid one too
            self.billed.add(r)
            if r.provider_cost_usd is not None:
                self.bills.add(r)
                self.provider_usd += r.provider_cost_usd
        if r.ok:
            self._succeeded(r)

    def _outcomes(self, r: RequestRecord) -> None:
        if r.tool_calls:
            self.calling += 1
            self.calls += r.tool_calls
            self.calls_valid += r.output_valid is not False
        if r.session is not None:
            self.sessions[r.session] = self.sessions.get(r.session, True) and r.ok
        if r.correct is not None:
            self.graded += 1
            self.correct += r.correct

    def _succeeded(self, r: RequestRecord) -> None:
        self.ok += 1
        for name, column in self.latency.items():
            value = getattr(r, name)
            if value is not None:
                column.append(value)
        self.itl_ms.extend(r.itl_ms)
        self.input_total += r.input_tokens or 0
        self.output_total += r.output_tokens or 0
        self.input_unreported |= r.input_tokens is None
        self.output_estimated |= r.tokens_estimated
        if r.reasoning_tokens is not None:
            self.reasoning[0] += r.reasoning_tokens
            self.reasoning[1] += 1
        if r.cache_write_tokens is not None:
            self.cache_writes[0] += r.cache_write_tokens
            self.cache_writes[1] += 1
        if r.cached_input_tokens is not None:
            self.cached[0] += r.cached_input_tokens
            self.cached[1] += 1
            self.cached[2] += r.input_tokens or 0
        if r.turn is not None:
            turn = self.turns.get(r.turn) or self.turns.setdefault(r.turn, TurnColumns(self.spill))
            turn.requests += 1
            if r.ttft_ms is not None:
                turn.ttft_ms.append(r.ttft_ms)
            if r.ttfo_ms is not None:
                turn.ttfo_ms.append(r.ttfo_ms)

    @property
    def failed(self) -> int:
        return self.total - self.ok

    def error_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    def duration_s(self) -> float:
        return max(0.0, (self.end - self.start) / 1000.0) if self.timed else 0.0

    def close(self) -> None:
        """Let the spilled values go (the figures already drawn stay valid)."""
        self.spill.close()

    def summary(self) -> Summary:
        """The Summary of the records folded in so far (its `cost` is the runner's)."""
        duration = self.duration_s()

        def rate(x: float) -> float:
            return x / duration if duration > 0 else 0.0

        ok, total = self.ok, self.total
        lat = {name: percentiles(column) for name, column in self.latency.items()}
        server = ServerTelemetry(
            queue_ms=lat.pop("queue_ms"),
            prefill_ms=lat.pop("prefill_ms"),
            decode_ms=lat.pop("decode_ms"),
        )
        has_server = any(
            v is not None for v in (server.queue_ms, server.prefill_ms, server.decode_ms)
        )
        return Summary(
            requests=RequestCounts(total=total, ok=ok, failed=total - ok),
            error_rate=(total - ok) / total if total else 0.0,
            errors=dict(self.errors),
            duration_s=duration,
            **lat,
            itl_ms=percentiles(self.itl_ms),
            client_delay_ms=percentiles(self.client_delay_ms),
            **self._tokens(),
            throughput=Throughput(
                requests_per_s=rate(ok),
                output_tokens_per_s=rate(self.output_total),
                total_tokens_per_s=rate(self.output_total + self.input_total),
            ),
            goodput=Goodput(
                slo=self.slo,
                requests_per_s=rate(self.good),
                attainment=self.good / total if total else 0.0,
            )
            if self.slo is not None
            else None,
            server=server if has_server else None,
            output_check=OutputCheck(
                checked=self.checked, valid=self.valid, valid_share=self.valid / self.checked
            )
            if self.checked
            else None,
            retries=self.retries,
            **self._cache(),
            **self._workload(),
        )

    def _tokens(self) -> dict[str, Any]:
        ok = self.ok
        reasoning, reported = self.reasoning
        return {
            "input_tokens": TokenTotals(
                total=self.input_total,
                mean=self.input_total / ok if ok else 0.0,
                estimated=self.input_unreported,
            ),
            "output_tokens": TokenTotals(
                total=self.output_total,
                mean=self.output_total / ok if ok else 0.0,
                estimated=self.output_estimated,
            ),
            "reasoning_tokens": TokenTotals(
                total=reasoning, mean=reasoning / ok, estimated=reported < ok
            )
            if reported
            else None,
        }

    def _cache(self) -> dict[str, Any]:
        ok = self.ok
        written, writers = self.cache_writes
        writes = (
            TokenTotals(total=written, mean=written / ok, estimated=writers < ok)
            if writers
            else None
        )
        cached, reporting, their_input = self.cached
        if not reporting:
            return {
                "cached_input_tokens": None,
                "cache_hit_share": None,
                "cache_write_tokens": writes,
            }
        return {
            "cached_input_tokens": TokenTotals(
                total=cached, mean=cached / ok, estimated=reporting < ok
            ),
            "cache_hit_share": cached / their_input if their_input else 0.0,
            "cache_write_tokens": writes,
        }

    def _workload(self) -> dict[str, Any]:
        """The summary fields that only some workloads have; each None where none applies."""
        return {
            "tool_calls": ToolCalls(
                requests=self.calling,
                calls=self.calls,
                valid=self.calls_valid,
                valid_share=self.calls_valid / self.calling,
            )
            if self.calling
            else None,
            "sessions": SessionCounts(total=len(self.sessions), ok=sum(self.sessions.values()))
            if self.sessions
            else None,
            "by_turn": [
                TurnLatency(
                    turn=n,
                    requests=t.requests,
                    ttft_ms=percentiles(t.ttft_ms),
                    ttfo_ms=percentiles(t.ttfo_ms),
                )
                for n, t in sorted(self.turns.items())
            ]
            or None,
            "quality": Quality(
                graded=self.graded, correct=self.correct, accuracy=self.correct / self.graded
            )
            if self.graded
            else None,
        }


ATTAINMENT = 0.9  # the share of requests that must meet the SLO
MAX_ERROR_RATE = 0.01


def meets(summary: Summary, slo: SLO | None) -> bool:
    """A run (or a load point) meets the SLO when at least ATTAINMENT of its requests met
    every SLO and its error rate is at most MAX_ERROR_RATE; without an SLO, only the error
    rate counts."""
    if summary.requests.ok == 0 or summary.error_rate > MAX_ERROR_RATE:
        return False
    if slo is not None and slo.percentile is not None:
        q = f"p{slo.percentile}"
        return all(
            getattr(figure, q) <= limit if figure is not None else optional
            for figure, limit, optional in (
                (summary.ttft_ms, slo.ttft_ms, False),
                (summary.tpot_ms, slo.tpot_ms, True),  # one-token answers have no TPOT
                (summary.e2e_ms, slo.e2e_ms, False),
            )
            if limit is not None
        )
    if summary.goodput is None or slo is None:
        return True
    return summary.goodput.attainment >= ATTAINMENT
