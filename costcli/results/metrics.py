"""RequestRecords -> Summary, exactly as DESIGN.md defines every figure. Pure functions.

Clock: perf_counter_ns, in the scheduler. Latencies are measured from the scheduled time
(no coordinated omission) and reported in milliseconds. Failed requests are counted by error class and
kept out of the latency percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
)

from costcli.adapters.base import ERROR_CLASSES

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
    "fixed_schedule",  # a workload sent on its own times (a trace: load/replay.py)
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


# --- the summary document (part of the results file) ---------------------------------


class Percentiles(_Model):
    mean: float
    min: float
    max: float
    std: float
    p50: float
    p90: float
    p95: float
    p99: float
    count: int


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

    def describe(self) -> str:
        """'TTFT <= 1000 ms, TPOT <= 50 ms'."""
        limits = (("TTFT", self.ttft_ms), ("TPOT", self.tpot_ms), ("E2E", self.e2e_ms))
        return ", ".join(f"{name} <= {v:g} ms" for name, v in limits if v is not None)


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


def percentiles(values: Iterable[float]) -> Percentiles | None:
    data = sorted(values)
    n = len(data)
    if n == 0:
        return None
    mean = math.fsum(data) / n
    var = math.fsum((x - mean) ** 2 for x in data) / n
    return Percentiles(
        mean=mean,
        min=data[0],
        max=data[-1],
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


def window_s(records: Sequence[RequestRecord]) -> float:
    """From the first scheduled request to the last completion, in seconds."""
    if not records:
        return 0.0
    timed = [r for r in records if r.scheduled_ms is not None]
    if not timed:
        return 0.0
    start = min(r.scheduled_ms or 0.0 for r in timed)
    end = max((r.scheduled_ms or 0.0) + r.e2e_ms for r in timed)
    return max(0.0, (end - start) / 1000.0)


def summarize(records: Sequence[RequestRecord], slo: SLO | None = None) -> Summary:
    """The Summary of one target's measured (post-warmup) records."""
    ok = [r for r in records if r.ok]
    errors = {cls: 0 for cls in ERROR_CLASSES}
    for r in records:
        if r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
    duration = window_s(records)
    total_out = sum(r.output_tokens or 0 for r in ok)
    total_in = sum(r.input_tokens or 0 for r in ok)

    def rate(x: float) -> float:
        return x / duration if duration > 0 else 0.0

    checked = [r for r in records if r.output_valid is not None]
    valid = sum(1 for r in checked if r.output_valid)
    return Summary(
        requests=RequestCounts(total=len(records), ok=len(ok), failed=len(records) - len(ok)),
        error_rate=(len(records) - len(ok)) / len(records) if records else 0.0,
        errors=errors,
        duration_s=duration,
        **latency_figures(records, ok),
        **token_figures(ok),
        throughput=Throughput(
            requests_per_s=rate(len(ok)),
            output_tokens_per_s=rate(total_out),
            total_tokens_per_s=rate(total_out + total_in),
        ),
        goodput=goodput_of(records, slo, duration),
        server=server_figures(ok),
        output_check=OutputCheck(
            checked=len(checked), valid=valid, valid_share=valid / len(checked)
        )
        if checked
        else None,
        retries=sum(r.retries for r in records),
        **workload_figures(records, ok),
    )


def _pct(ok: Sequence[RequestRecord], attr: str) -> Percentiles | None:
    return percentiles(v for r in ok if (v := getattr(r, attr)) is not None)


def latency_figures(
    records: Sequence[RequestRecord], ok: Sequence[RequestRecord]
) -> dict[str, Any]:
    """Percentiles of every latency, over the successful requests (client delay: all)."""
    return {
        "ttft_ms": _pct(ok, "ttft_ms"),
        "ttfo_ms": _pct(ok, "ttfo_ms"),
        "ttfb_ms": _pct(ok, "ttfb_ms"),
        "itl_ms": percentiles(gap for r in ok for gap in r.itl_ms),
        "tpot_ms": _pct(ok, "tpot_ms"),
        "e2e_ms": _pct(ok, "e2e_ms"),
        "client_delay_ms": percentiles(r.client_delay_ms for r in records),
        "decode_tokens_per_s": _pct(ok, "decode_tokens_per_s"),
    }


def token_figures(ok: Sequence[RequestRecord]) -> dict[str, Any]:
    total_out = sum(r.output_tokens or 0 for r in ok)
    total_in = sum(r.input_tokens or 0 for r in ok)
    reasoning = [r.reasoning_tokens for r in ok if r.reasoning_tokens is not None]
    return {
        "input_tokens": TokenTotals(
            total=total_in,
            mean=total_in / len(ok) if ok else 0.0,
            estimated=any(r.input_tokens is None for r in ok),
        ),
        "output_tokens": TokenTotals(
            total=total_out,
            mean=total_out / len(ok) if ok else 0.0,
            estimated=any(r.tokens_estimated for r in ok),
        ),
        "reasoning_tokens": TokenTotals(
            total=sum(reasoning),
            mean=sum(reasoning) / len(ok),
            estimated=len(reasoning) < len(ok),
        )
        if reasoning
        else None,
    }


def goodput_of(
    records: Sequence[RequestRecord], slo: SLO | None, duration: float
) -> Goodput | None:
    if slo is None or all(v is None for v in (slo.ttft_ms, slo.tpot_ms, slo.e2e_ms)):
        return None
    good = sum(1 for r in records if meets_slo(r, slo))
    return Goodput(
        slo=slo,
        requests_per_s=good / duration if duration > 0 else 0.0,
        attainment=good / len(records) if records else 0.0,
    )


def server_figures(ok: Sequence[RequestRecord]) -> ServerTelemetry | None:
    server = ServerTelemetry(
        queue_ms=_pct(ok, "queue_ms"),
        prefill_ms=_pct(ok, "prefill_ms"),
        decode_ms=_pct(ok, "decode_ms"),
    )
    has_server = any(v is not None for v in (server.queue_ms, server.prefill_ms, server.decode_ms))
    return server if has_server else None


# --- what the workload shape adds: caching, tool calls, sessions, graded answers ------


def workload_figures(
    records: Sequence[RequestRecord], ok: Sequence[RequestRecord]
) -> dict[str, Any]:
    """The summary fields that only some workloads have; each None where none applies."""
    return {
        **cache_figures(ok),
        "tool_calls": tool_call_figures(records),
        "sessions": session_figures(records),
        "by_turn": turn_figures(ok),
        "quality": quality_figures(records),
    }


def cache_figures(ok: Sequence[RequestRecord]) -> dict[str, Any]:
    written = [r.cache_write_tokens for r in ok if r.cache_write_tokens is not None]
    writes = (
        TokenTotals(
            total=sum(written), mean=sum(written) / len(ok), estimated=len(written) < len(ok)
        )
        if written
        else None
    )
    cached = [r.cached_input_tokens for r in ok if r.cached_input_tokens is not None]
    if not cached:
        return {"cached_input_tokens": None, "cache_hit_share": None, "cache_write_tokens": writes}
    total_in = sum(r.input_tokens or 0 for r in ok if r.cached_input_tokens is not None)
    total = sum(cached)
    return {
        "cached_input_tokens": TokenTotals(
            total=total, mean=total / len(ok), estimated=len(cached) < len(ok)
        ),
        "cache_hit_share": total / total_in if total_in else 0.0,
        "cache_write_tokens": writes,
    }


def tool_call_figures(records: Sequence[RequestRecord]) -> ToolCalls | None:
    calling = [r for r in records if r.tool_calls]
    if not calling:
        return None
    valid = sum(1 for r in calling if r.output_valid is not False)
    return ToolCalls(
        requests=len(calling),
        calls=sum(r.tool_calls or 0 for r in calling),
        valid=valid,
        valid_share=valid / len(calling),
    )


def session_figures(records: Sequence[RequestRecord]) -> SessionCounts | None:
    ok: dict[str, bool] = {}
    for r in records:
        if r.session is not None:
            ok[r.session] = ok.get(r.session, True) and r.ok
    if not ok:
        return None
    return SessionCounts(total=len(ok), ok=sum(ok.values()))


def turn_figures(ok: Sequence[RequestRecord]) -> list[TurnLatency] | None:
    turns = sorted({r.turn for r in ok if r.turn is not None})
    if not turns:
        return None
    out = []
    for n in turns:
        rows = [r for r in ok if r.turn == n]
        out.append(
            TurnLatency(
                turn=n,
                requests=len(rows),
                ttft_ms=percentiles(r.ttft_ms for r in rows if r.ttft_ms is not None),
                ttfo_ms=percentiles(r.ttfo_ms for r in rows if r.ttfo_ms is not None),
            )
        )
    return out


def quality_figures(records: Sequence[RequestRecord]) -> Quality | None:
    graded = [r for r in records if r.correct is not None]
    if not graded:
        return None
    correct = sum(1 for r in graded if r.correct)
    return Quality(graded=len(graded), correct=correct, accuracy=correct / len(graded))


ATTAINMENT = 0.9  # the share of requests that must meet the SLO
MAX_ERROR_RATE = 0.01


def meets(summary: Summary, slo: SLO | None) -> bool:
    """A run (or a load point) meets the SLO when at least ATTAINMENT of its requests met
    every SLO and its error rate is at most MAX_ERROR_RATE; without an SLO, only the error
    rate counts."""
    if summary.requests.ok == 0 or summary.error_rate > MAX_ERROR_RATE:
        return False
    if summary.goodput is None or slo is None:
        return True
    return summary.goodput.attainment >= ATTAINMENT
