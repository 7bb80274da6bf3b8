"""`costcli trace analyze`: a trace's figures, computed in one streaming pass.

Memory stays bounded whatever the file's size (a 5 GB trace streams): one line at a time;
token lengths as a histogram (one count per distinct length: exact percentiles, linear
interpolation between closest ranks as `results.metrics.percentile`); one counter per
second of the trace (peak rate) and per hour (profile); one bit per block id up to the
largest id seen (ids past 2**32 in a set).

- `duration_s`: last timestamp - first, in seconds; `mean_rate_rps`: requests / duration
  (null for a trace of one instant); `peak_rate_rps`: the most requests in one 1-second
  window of trace time ([n s, n+1 s)).
- `prefix_hit_share`: the share of input tokens in blocks whose id an earlier request
  named: what a perfect prefix cache (unbounded, never evicting) would serve. A block holds
  `block_tokens` tokens, a request's last block what is left of its input_length; tokens
  past its named blocks are its own. Counted in file order (a note says when lines are out
  of timestamp order).
- `hourly_profile`: 24 weights by hour of trace time (hour 0: the trace's first hour, the
  trace has no wall clock), each the mean requests in that hour of the day over the days
  spanned, scaled to a mean of 1; null when the trace spans under a day.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from costcli.workloads.trace_file import DEFAULT_BLOCK_TOKENS, TraceEntry, iter_trace

MS_PER_HOUR = 3_600_000
BITMAP_IDS = 1 << 32  # ids below this are kept one bit each


class TokenFigures(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    p50: float
    p99: float


class TraceFacts(BaseModel):
    """`costcli trace analyze --format json`: exactly these keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int
    duration_s: float
    mean_rate_rps: float | None
    peak_rate_rps: int
    input_tokens: TokenFigures
    output_tokens: TokenFigures
    prefix_hit_share: float
    hourly_profile: list[float] | None


def histogram_figures(counts: Counter[int]) -> TokenFigures:
    """Mean, p50 and p99 of the values a histogram counts (linear interpolation)."""
    values = sorted(counts)
    n = sum(counts.values())
    mean = math.fsum(v * c for v, c in counts.items()) / n

    def at_rank(rank: int) -> int:  # the value at 0-based rank in sorted order
        seen = 0
        for v in values:
            seen += counts[v]
            if rank < seen:
                return v
        return values[-1]

    def pct(q: float) -> float:
        pos = (n - 1) * q / 100.0
        lo = math.floor(pos)
        low, high = at_rank(lo), at_rank(min(lo + 1, n - 1))
        return low + (high - low) * (pos - lo)

    return TokenFigures(mean=mean, p50=pct(50), p99=pct(99))


class SeenBlocks:
    """Block ids seen so far: one bit each below BITMAP_IDS, a set above."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.large: set[int] = set()

    def __contains__(self, block: int) -> bool:
        if block >= BITMAP_IDS:
            return block in self.large
        byte = block >> 3
        return byte < len(self.bits) and bool(self.bits[byte] >> (block & 7) & 1)

    def add(self, block: int) -> None:
        if block >= BITMAP_IDS:
            self.large.add(block)
            return
        byte = block >> 3
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        self.bits[byte] |= 1 << (block & 7)


class TraceAnalysis:
    """The running figures of one pass over a trace."""

    def __init__(self, block_tokens: int) -> None:
        self.block_tokens = block_tokens
        self.inputs: Counter[int] = Counter()
        self.outputs: Counter[int] = Counter()
        self.per_second: Counter[int] = Counter()
        self.per_hour: Counter[int] = Counter()
        self.seen = SeenBlocks()
        self.hit_tokens = 0
        self.first_ms = math.inf
        self.last_ms = -math.inf
        self.out_of_order = 0

    def add(self, entry: TraceEntry) -> None:
        at = entry.timestamp_ms
        if at < self.last_ms:
            self.out_of_order += 1
        self.first_ms, self.last_ms = min(self.first_ms, at), max(self.last_ms, at)
        self.inputs[entry.input_length] += 1
        self.outputs[entry.output_length] += 1
        self.per_second[int(at // 1000)] += 1
        self.per_hour[int(at // MS_PER_HOUR)] += 1
        for k, block in enumerate(entry.hash_ids):
            if block in self.seen:
                self.hit_tokens += min(
                    self.block_tokens, entry.input_length - k * self.block_tokens
                )
        for block in entry.hash_ids:
            self.seen.add(block)

    def facts(self) -> TraceFacts:
        requests = sum(self.inputs.values())
        duration_s = (self.last_ms - self.first_ms) / 1000.0
        total_in = sum(v * c for v, c in self.inputs.items())
        return TraceFacts(
            requests=requests,
            duration_s=duration_s,
            mean_rate_rps=requests / duration_s if duration_s > 0 else None,
            peak_rate_rps=max(self.per_second.values()),
            input_tokens=histogram_figures(self.inputs),
            output_tokens=histogram_figures(self.outputs),
            prefix_hit_share=self.hit_tokens / total_in if total_in else 0.0,
            hourly_profile=self.hourly_profile(duration_s),
        )

    def hourly_profile(self, duration_s: float) -> list[float] | None:
        if duration_s < 86_400:
            return None
        totals, days = [0] * 24, [0] * 24
        first, last = int(self.first_ms // MS_PER_HOUR), int(self.last_ms // MS_PER_HOUR)
        for hour in range(first, last + 1):
            days[hour % 24] += 1
            totals[hour % 24] += self.per_hour.get(hour, 0)
        means = [t / d for t, d in zip(totals, days, strict=True)]
        scale = sum(means) / 24
        return [round(m / scale, 4) for m in means]

    def notes(self) -> list[str]:
        if not self.out_of_order:
            return []
        return [
            f"{self.out_of_order} lines are out of timestamp order: prefix_hit_share counts "
            "blocks in file order (a replay sorts the lines)"
        ]


def analyze_trace(
    path: Path, block_tokens: int = DEFAULT_BLOCK_TOKENS
) -> tuple[TraceFacts, list[str]]:
    """The trace's figures (one streaming pass) and notes on how they were taken."""
    analysis = TraceAnalysis(block_tokens)
    for entry in iter_trace(path, block_tokens):
        analysis.add(entry)
    return analysis.facts(), analysis.notes()
