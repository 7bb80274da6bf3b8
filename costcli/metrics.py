"""RequestRecords -> Summary, exactly as DESIGN.md defines every figure. Pure functions.

Clock: perf_counter_ns. Latencies are measured from `scheduled_ns` (no coordinated
omission) and reported in milliseconds. Failed requests are counted by error class and
kept out of the latency percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from costcli.adapters.base import ERROR_CLASSES

NS_PER_MS = 1_000_000


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request. Times are perf_counter_ns; None where it never came."""

    index: int
    scheduled_ns: int
    sent_ns: int = 0
    first_byte_ns: int | None = None
    first_token_ns: int | None = None
    end_ns: int = 0
    chunk_ns: list[int] = field(default_factory=list)  # arrival of each text-bearing chunk
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    error_message: str | None = None
    status: int | None = None
    retries: int = 0
    output_valid: bool | None = None
    queue_ms: float | None = None
    prefill_ms: float | None = None
    decode_ms: float | None = None
    tags: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft_ms(self) -> float | None:
        if self.first_token_ns is None:
            return None
        return (self.first_token_ns - self.scheduled_ns) / NS_PER_MS

    @property
    def ttfb_ms(self) -> float | None:
        if self.first_byte_ns is None:
            return None
        return (self.first_byte_ns - self.scheduled_ns) / NS_PER_MS

    @property
    def e2e_ms(self) -> float:
        return (self.end_ns - self.scheduled_ns) / NS_PER_MS

    @property
    def client_delay_ms(self) -> float:
        return (self.sent_ns - self.scheduled_ns) / NS_PER_MS

    @property
    def itl_ms(self) -> list[float]:
        c = self.chunk_ns
        return [(c[i] - c[i - 1]) / NS_PER_MS for i in range(1, len(c))]

    @property
    def tpot_ms(self) -> float | None:
        """(E2E - TTFT) / (output_tokens - 1)."""
        ttft = self.ttft_ms
        if ttft is None or not self.output_tokens or self.output_tokens < 2:
            return None
        return (self.e2e_ms - ttft) / (self.output_tokens - 1)

    @property
    def decode_tokens_per_s(self) -> float | None:
        """(output_tokens - 1) / (E2E - TTFT)."""
        ttft = self.ttft_ms
        if ttft is None or not self.output_tokens or self.output_tokens < 2:
            return None
        span_ms = self.e2e_ms - ttft
        return (self.output_tokens - 1) / (span_ms / 1000.0) if span_ms > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "ok": self.ok,
            "error": self.error,
            "error_message": self.error_message,
            "status": self.status,
            "retries": self.retries,
            "ttft_ms": self.ttft_ms,
            "ttfb_ms": self.ttfb_ms,
            "e2e_ms": self.e2e_ms,
            "client_delay_ms": self.client_delay_ms,
            "tpot_ms": self.tpot_ms,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "itl_ms": [round(x, 4) for x in self.itl_ms],
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_estimated": self.tokens_estimated,
            "cached_input_tokens": self.cached_input_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "finish_reason": self.finish_reason,
            "output_valid": self.output_valid,
            "queue_ms": self.queue_ms,
            "prefill_ms": self.prefill_ms,
            "decode_ms": self.decode_ms,
            "tags": list(self.tags),
        }


# --- the summary document (part of the results file) ---------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class Summary(_Model):
    requests: RequestCounts
    error_rate: float
    errors: dict[str, int]
    duration_s: float
    ttft_ms: Percentiles | None
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
    throughput: Throughput
    goodput: Goodput | None = None
    server: ServerTelemetry | None = None
    output_check: OutputCheck | None = None
    retries: int = 0
    cost: dict[str, Any] | None = None


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
    start = min(r.scheduled_ns for r in records)
    end = max(r.end_ns for r in records)
    return max(0.0, (end - start) / 1e9)


def summarize(records: Sequence[RequestRecord], slo: SLO | None = None) -> Summary:
    """The Summary of one target's measured (post-warmup) records."""
    ok = [r for r in records if r.ok]
    errors = {cls: 0 for cls in ERROR_CLASSES}
    for r in records:
        if r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
    duration = window_s(records)
    out_tokens = [r.output_tokens or 0 for r in ok]
    in_tokens = [r.input_tokens or 0 for r in ok]
    total_out, total_in = sum(out_tokens), sum(in_tokens)
    reasoning = [r.reasoning_tokens for r in ok if r.reasoning_tokens is not None]

    def rate(x: float) -> float:
        return x / duration if duration > 0 else 0.0

    def pct(attr: str) -> Percentiles | None:
        return percentiles(v for r in ok if (v := getattr(r, attr)) is not None)

    itl = percentiles(gap for r in ok for gap in r.itl_ms)
    goodput = None
    if slo is not None and any(v is not None for v in (slo.ttft_ms, slo.tpot_ms, slo.e2e_ms)):
        good = sum(1 for r in records if meets_slo(r, slo))
        goodput = Goodput(
            slo=slo,
            requests_per_s=rate(good),
            attainment=good / len(records) if records else 0.0,
        )
    server = ServerTelemetry(
        queue_ms=pct("queue_ms"), prefill_ms=pct("prefill_ms"), decode_ms=pct("decode_ms")
    )
    has_server = any(v is not None for v in (server.queue_ms, server.prefill_ms, server.decode_ms))
    checked = [r for r in records if r.output_valid is not None]
    valid = sum(1 for r in checked if r.output_valid)
    return Summary(
        requests=RequestCounts(total=len(records), ok=len(ok), failed=len(records) - len(ok)),
        error_rate=(len(records) - len(ok)) / len(records) if records else 0.0,
        errors=errors,
        duration_s=duration,
        ttft_ms=pct("ttft_ms"),
        ttfb_ms=pct("ttfb_ms"),
        itl_ms=itl,
        tpot_ms=pct("tpot_ms"),
        e2e_ms=pct("e2e_ms"),
        client_delay_ms=percentiles(r.client_delay_ms for r in records),
        decode_tokens_per_s=pct("decode_tokens_per_s"),
        input_tokens=TokenTotals(
            total=total_in,
            mean=total_in / len(ok) if ok else 0.0,
            estimated=any(r.input_tokens is None for r in ok),
        ),
        output_tokens=TokenTotals(
            total=total_out,
            mean=total_out / len(ok) if ok else 0.0,
            estimated=any(r.tokens_estimated for r in ok),
        ),
        reasoning_tokens=TokenTotals(
            total=sum(reasoning),
            mean=sum(reasoning) / len(ok),
            estimated=len(reasoning) < len(ok),
        )
        if reasoning
        else None,
        throughput=Throughput(
            requests_per_s=rate(len(ok)),
            output_tokens_per_s=rate(total_out),
            total_tokens_per_s=rate(total_out + total_in),
        ),
        goodput=goodput,
        server=server if has_server else None,
        output_check=OutputCheck(
            checked=len(checked), valid=valid, valid_share=valid / len(checked)
        )
        if checked
        else None,
        retries=sum(r.retries for r in records),
    )
