"""The server's own view of a load point: its Prometheus metrics, read every second.

llama.cpp's, vLLM's and SGLang's metric names are read into one set of figures (GAUGES
and COUNTERS, by what each server calls them); label sets are summed (vLLM labels each
engine), but a usage share takes the highest. A point's series are kept at most
MAX_SAMPLES long (older samples thinned to every other one), and its summary says what
the load did to the server: the most requests waiting and running, the highest KV-cache
usage, the prefix-cache hit share over the phase and the token rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

# our name -> each server's (llama.cpp, vLLM, SGLang); a share is 0..1 on every server
GAUGES = {
    "requests_running": (
        "llamacpp:requests_processing",
        "vllm:num_requests_running",
        "sglang:num_running_reqs",
    ),
    "requests_waiting": (
        "llamacpp:requests_deferred",
        "vllm:num_requests_waiting",
        "sglang:num_queue_reqs",
    ),
    "kv_cache_usage": (
        "llamacpp:kv_cache_usage_ratio",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "sglang:token_usage",
    ),
    "prefix_cache_hit_rate": ("sglang:cache_hit_rate",),
}
COUNTERS = {
    "prefix_cache_queries": (
        "vllm:prefix_cache_queries_total",
        "vllm:gpu_prefix_cache_queries_total",
    ),
    "prefix_cache_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "prompt_tokens": (
        "llamacpp:prompt_tokens_total",
        "vllm:prompt_tokens_total",
        "sglang:prompt_tokens_total",
    ),
    "generation_tokens": (
        "llamacpp:tokens_predicted_total",
        "vllm:generation_tokens_total",
        "sglang:generation_tokens_total",
    ),
}
OURS = {theirs: ours for ours, names in (GAUGES | COUNTERS).items() for theirs in names}
HIGHEST = frozenset({"kv_cache_usage", "prefix_cache_hit_rate"})  # shares: not summed
MAX_SAMPLES = 3600  # an hour of seconds; a longer point keeps every other sample, and so on


class ServerMetrics(BaseModel):
    """A load point's scrapes of the server's metrics endpoint and what they say."""

    model_config = ConfigDict(extra="forbid")

    url: str
    interval_s: float
    samples: int  # scrapes that answered
    failed: int  # scrapes that did not (the last reason in `error`)
    read: list[str]  # the server's metric names found (which server's names they are)
    series: dict[str, list[tuple[float, float]]]  # our name -> [seconds into the phase, value]
    requests_running_max: float | None = None
    requests_waiting_max: float | None = None
    kv_cache_usage_max: float | None = None
    prefix_cache_hit_share: float | None = None
    prompt_tokens_per_s: float | None = None
    generation_tokens_per_s: float | None = None
    error: str | None = None


def parse(text: str) -> tuple[dict[str, float], set[str]]:
    """Prometheus text -> our figures and the server's names they came from. Lines this
    reader cannot parse make the whole scrape a ValueError."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    found: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            ours = OURS.get(sample.name)
            if ours is None or sample.value != sample.value:  # NaN: not a reading
                continue
            found.add(sample.name)
            old = values.get(ours)
            if old is None:
                values[ours] = float(sample.value)
            elif ours in HIGHEST:
                values[ours] = max(old, float(sample.value))
            else:
                values[ours] = old + float(sample.value)
    return values, found


@dataclass
class Scrapes:
    """One load point's scrapes, as they arrive (bounded: MAX_SAMPLES a series)."""

    url: str
    interval_s: float = 1.0
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    stride: int = 1  # every how many scrapes a series keeps one (doubles when full)
    samples: int = 0
    failed: int = 0
    error: str | None = None
    read: set[str] = field(default_factory=set)
    first: dict[str, tuple[float, float]] = field(default_factory=dict)  # counters' first
    last: dict[str, tuple[float, float]] = field(default_factory=dict)  # every figure's last
    peaks: dict[str, float] = field(default_factory=dict)

    def add(self, at_s: float, values: dict[str, float], names: Iterable[str] = ()) -> None:
        self.read.update(names)
        for name, value in values.items():
            self.first.setdefault(name, (at_s, value))
            self.last[name] = (at_s, value)
            self.peaks[name] = max(value, self.peaks.get(name, value))
        if self.samples % self.stride == 0:
            for name, value in values.items():
                self.series.setdefault(name, []).append((round(at_s, 3), value))
        self.samples += 1
        if any(len(s) >= MAX_SAMPLES for s in self.series.values()):
            self.stride *= 2
            self.series = {k: s[::2] for k, s in self.series.items()}

    def miss(self, reason: str) -> None:
        self.failed += 1
        self.error = reason

    def waiting(self) -> list[float]:
        """The requests waiting, scrape by scrape (the newest last; thinned when long)."""
        return [v for _, v in self.series.get("requests_waiting", [])]

    def summary(self) -> ServerMetrics:
        return ServerMetrics(
            url=self.url,
            interval_s=self.interval_s,
            samples=self.samples,
            failed=self.failed,
            read=sorted(self.read),
            series=self.series,
            requests_running_max=self.peaks.get("requests_running"),
            requests_waiting_max=self.peaks.get("requests_waiting"),
            kv_cache_usage_max=self.peaks.get("kv_cache_usage"),
            prefix_cache_hit_share=self._hit_share(),
            prompt_tokens_per_s=self._rate("prompt_tokens"),
            generation_tokens_per_s=self._rate("generation_tokens"),
            error=self.error,
        )

    def _delta(self, name: str) -> tuple[float, float] | None:
        """A counter's growth over the point and the seconds it took."""
        if name not in self.first:
            return None
        (t0, v0), (t1, v1) = self.first[name], self.last[name]
        return v1 - v0, t1 - t0

    def _rate(self, name: str) -> float | None:
        delta = self._delta(name)
        if delta is None or delta[1] <= 0 or delta[0] < 0:  # one scrape, or a restart
            return None
        return delta[0] / delta[1]

    def _hit_share(self) -> float | None:
        hits, queries = self._delta("prefix_cache_hits"), self._delta("prefix_cache_queries")
        if hits is not None and queries is not None and queries[0] > 0:
            return min(1.0, max(0.0, hits[0] / queries[0]))
        gauge = self.series.get("prefix_cache_hit_rate")
        return sum(v for _, v in gauge) / len(gauge) if gauge else None
