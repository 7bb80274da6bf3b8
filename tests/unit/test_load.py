"""The scheduler with a fake in-process adapter: loops, arrivals, warmup, retries, stops."""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from costcli.adapters.base import (
    ConnectError,
    Finish,
    FirstByte,
    ProviderError,
    RateLimitedError,
    ServerError,
    StreamEvent,
    TextDelta,
    Usage,
)
from costcli.load import clock as load_clock
from costcli.load.phase import MIN_REQUESTS_FOR_ERROR_STOP, TargetRun
from costcli.load.schedule import LoadSettings, PointJob, interarrival_s
from costcli.load.target import run_target
from costcli.results.metrics import RequestRecord
from costcli.workloads.spec import RequestSpec, Workload

perf_ns = time.perf_counter_ns


class FakeAdapter:
    """Streams `tokens` text chunks `itl_s` apart after `ttft_s`; scripted failures."""

    name = "fake"

    def __init__(
        self,
        ttft_s: float = 0.0,
        itl_s: float = 0.0,
        tokens: int = 3,
        fail: Mapping[int, Sequence[ProviderError]] | None = None,
        usage: bool = True,
        stall_s: dict[int, float] | None = None,
        text: str = "x",
    ) -> None:
        self.ttft_s, self.itl_s, self.tokens, self.usage, self.text = (
            ttft_s,
            itl_s,
            tokens,
            usage,
            text,
        )
        self.fail = {
            i: list(e) for i, e in (fail or {}).items()
        }  # request index -> errors raised by its first attempts
        self.stall_s = stall_s or {}  # request index -> seconds the whole client blocks
        self.calls: list[tuple[int, int]] = []  # (request index, perf_ns at the call)
        self.in_flight = self.max_in_flight = 0

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {}

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        self.calls.append((spec.index, perf_ns()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if spec.index in self.stall_s:
                time.sleep(self.stall_s.pop(spec.index))  # a stalled client, not a slow server
            errors = self.fail.get(spec.index)
            if errors:
                raise errors.pop(0)
            yield FirstByte(perf_ns())
            await asyncio.sleep(self.ttft_s)
            for i in range(self.tokens):
                if i:
                    await asyncio.sleep(self.itl_s)
                yield TextDelta(perf_ns(), self.text if self.tokens == 1 else "x")
            if self.usage:
                yield Usage(perf_ns(), input_tokens=7, output_tokens=self.tokens)
            yield Finish(perf_ns(), "stop")
        finally:
            self.in_flight -= 1


class Recorder:
    def __init__(self) -> None:
        self.started: list[tuple[str, int | None]] = []
        self.done: list[RequestRecord] = []
        self.finished: list[str] = []

    def target_started(self, label: str, total: int | None) -> None:
        self.started.append((label, total))

    def request_done(self, label: str, record: RequestRecord) -> None:
        self.done.append(record)

    def target_finished(self, label: str) -> None:
        self.finished.append(label)


def workload(n: int = 4, **spec: Any) -> Workload:
    items = tuple(RequestSpec(i, ({"role": "user", "content": f"q{i}"},), **spec) for i in range(n))
    return Workload("fake", "fake workload", items)


def run(
    adapter: FakeAdapter, settings: LoadSettings, wl: Workload | None = None
) -> tuple[TargetRun, Recorder]:
    observer = Recorder()
    result = asyncio.run(
        run_target(adapter, PointJob(wl or workload(), settings, "fake:m"), observer, TargetRun())
    )
    return result, observer


# --- closed loop -------------------------------------------------------------------------


def test_closed_loop_keeps_exactly_concurrency_requests_in_flight() -> None:
    adapter = FakeAdapter(ttft_s=0.01, itl_s=0.002)
    result, observer = run(adapter, LoadSettings(concurrency=3, requests=9))
    assert len(result.records) == 9
    assert adapter.max_in_flight == 3
    assert sorted(r.index for r in result.records) == list(range(9))
    assert all(r.ok and r.output_tokens == 3 and not r.tokens_estimated for r in result.records)
    assert observer.started == [("fake:m", 9)]
    assert observer.finished == ["fake:m"]
    assert len(observer.done) == 9


def test_closed_loop_records_carry_every_timestamp_in_order() -> None:
    result, _ = run(FakeAdapter(ttft_s=0.005, itl_s=0.001, tokens=4), LoadSettings(requests=2))
    for r in result.records:
        assert r.ttfb_ms is not None
        assert r.ttft_ms is not None
        assert 0 <= r.client_delay_ms <= r.ttfb_ms <= r.ttft_ms <= r.e2e_ms
        assert len(r.itl_ms) == 3  # 4 text chunks
        assert all(gap >= 0 for gap in r.itl_ms)
        assert r.finish_reason == "stop"
        assert r.input_tokens == 7


def test_warmup_requests_are_sent_first_and_not_counted() -> None:
    adapter = FakeAdapter()
    result, observer = run(adapter, LoadSettings(warmup=3, requests=5), workload(4))
    assert [i for i, _ in adapter.calls] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [r.index for r in result.records] == [3, 4, 5, 6, 7]
    assert len(observer.done) == 5


def test_without_usage_tokens_are_counted_from_text_chunks_and_marked_estimated() -> None:
    result, _ = run(FakeAdapter(tokens=4, usage=False), LoadSettings(requests=1))
    (r,) = result.records
    assert r.output_tokens == 4
    assert r.tokens_estimated is True


class SteppingClock:
    """The load engine's clock, moved only by `SteppingAdapter`: time passes by the script."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


class SteppingAdapter(FakeAdapter):
    """Every request takes exactly `step_ns` on the stepping clock, and nothing else does."""

    def __init__(self, clock: SteppingClock, step_ns: int) -> None:
        super().__init__()
        self.clock, self.step_ns = clock, step_ns

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        self.calls.append((spec.index, self.clock.now))
        yield FirstByte(self.clock.now)
        await asyncio.sleep(0)
        self.clock.now += self.step_ns
        yield TextDelta(self.clock.now, "x")
        yield Usage(self.clock.now, input_tokens=7, output_tokens=1)
        yield Finish(self.clock.now, "stop")


def test_duration_stops_sending_once_it_has_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SteppingClock()
    monkeypatch.setattr(load_clock, "perf_ns", clock)
    adapter = SteppingAdapter(clock, step_ns=10_000_000)
    result, _ = run(adapter, LoadSettings(duration_s=0.1))
    # 10 ms requests, one worker: sent at 0, 10, ..., 90 ms; at 100 ms the duration has passed
    assert adapter.calls == [(i, i * 10_000_000) for i in range(10)]
    assert [r.index for r in result.records] == list(range(10))


# --- open loop ---------------------------------------------------------------------------


def scheduled_gaps_ns(records: list[RequestRecord]) -> list[int]:
    times = [r.scheduled_ms or 0.0 for r in sorted(records, key=lambda r: r.index)]
    return [round((b - a) * 1_000_000) for a, b in itertools.pairwise(times)]


def test_constant_arrivals_are_scheduled_exactly_one_over_rate_apart() -> None:
    result, _ = run(FakeAdapter(), LoadSettings(rate=200.0, requests=8))
    assert scheduled_gaps_ns(result.records) == [5_000_000] * 7


@pytest.mark.parametrize("arrival", ["poisson", "gamma"])
def test_random_arrivals_follow_the_seeded_sequence(arrival: str) -> None:
    settings = LoadSettings(rate=400.0, requests=8, arrival=arrival, burstiness=0.5, seed=11)
    result, _ = run(FakeAdapter(), settings)
    rng = random.Random(11)
    if arrival == "poisson":
        expected = [int(rng.expovariate(400.0) * 1e9) for _ in range(7)]
    else:  # gamma with shape k and scale 1/(rate k): mean 1/rate
        expected = [int(rng.gammavariate(0.5, 1 / (400.0 * 0.5)) * 1e9) for _ in range(7)]
    assert scheduled_gaps_ns(result.records) == expected


@pytest.mark.parametrize(
    ("arrival", "burstiness", "cv"),
    [("constant", 1.0, 0.0), ("poisson", 1.0, 1.0), ("gamma", 0.25, 2.0), ("gamma", 4.0, 0.5)],
)
def test_arrival_gaps_have_mean_one_over_rate_and_the_expected_spread(
    arrival: str, burstiness: float, cv: float
) -> None:
    gap = interarrival_s(LoadSettings(rate=5.0, arrival=arrival, burstiness=burstiness, seed=3))
    gaps = [gap() for _ in range(20_000)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(0.2, rel=0.05)
    # gamma(k): coefficient of variation 1/sqrt(k); exponential: 1; constant: 0
    assert statistics.pstdev(gaps) / mean == pytest.approx(cv, abs=0.1)


def test_a_stalled_client_cannot_hide_its_delay_from_latencies() -> None:
    # request 0 blocks the whole event loop for 80 ms; requests 1..3 were due meanwhile
    adapter = FakeAdapter(stall_s={0: 0.08})
    result, _ = run(adapter, LoadSettings(rate=100.0, requests=6))
    late = [r for r in result.records if r.client_delay_ms > 20]
    assert late, "some requests should have been sent well after their scheduled time"
    for r in result.records:
        assert r.ttft_ms is not None
        # latency runs from the scheduled time, so it includes the client's own delay
        assert r.ttft_ms >= r.client_delay_ms
        assert r.e2e_ms >= r.ttft_ms
    assert scheduled_gaps_ns(result.records) == [10_000_000] * 5  # the plan did not slip


def test_open_loop_max_concurrency_queues_and_reports_the_wait_as_client_delay() -> None:
    adapter = FakeAdapter(ttft_s=0.03)
    result, _ = run(adapter, LoadSettings(rate=1000.0, requests=4, max_concurrency=1))
    assert adapter.max_in_flight == 1
    last = max(result.records, key=lambda r: r.index)
    # three 30 ms requests ran before it: it waited at least ~90 ms to be sent
    assert last.client_delay_ms >= 85
    assert last.e2e_ms >= last.client_delay_ms + 29
    assert result.capped == 3  # the cap bound three times: reported (runner.client_health)


# --- failures ------------------------------------------------------------------------------


def test_a_rate_limit_is_a_result_by_default() -> None:
    adapter = FakeAdapter(fail={0: [RateLimitedError("slow down", retry_after_s=0.01)]})
    result, _ = run(adapter, LoadSettings(requests=2))
    by_index = {r.index: r for r in result.records}
    assert by_index[0].error == "rate_limited"
    assert by_index[0].status == 429
    assert by_index[0].retries == 0
    assert by_index[1].ok
    assert len(adapter.calls) == 2


def test_retries_honour_retry_after_and_the_wait_counts_in_latency() -> None:
    errors = [
        RateLimitedError("slow", retry_after_s=0.05),
        RateLimitedError("slow", retry_after_s=0.05),
    ]
    adapter = FakeAdapter(fail={0: errors})
    result, _ = run(adapter, LoadSettings(requests=1, max_retries=2))
    (r,) = result.records
    assert r.ok
    assert r.error is None
    assert r.retries == 2
    assert r.output_tokens == 3
    (_, t0), (_, t1), (_, t2) = adapter.calls
    assert t1 - t0 >= 0.049e9
    assert t2 - t1 >= 0.049e9
    assert r.e2e_ms >= 99  # from the scheduled time, across both waits


def test_retries_run_out_and_the_request_stays_rate_limited() -> None:
    errors = [RateLimitedError("slow", retry_after_s=0.0) for _ in range(3)]
    result, _ = run(FakeAdapter(fail={0: errors}), LoadSettings(requests=1, max_retries=1))
    (r,) = result.records
    assert r.error == "rate_limited"
    assert r.retries == 1


def test_other_provider_errors_are_not_retried() -> None:
    adapter = FakeAdapter(fail={0: [ServerError("boom", status=503)]})
    result, _ = run(adapter, LoadSettings(requests=1, max_retries=3))
    (r,) = result.records
    assert (r.error, r.status, r.retries) == ("server", 503, 0)
    assert len(adapter.calls) == 1


def test_a_request_over_its_timeout_is_classed_timeout() -> None:
    result, _ = run(FakeAdapter(ttft_s=10.0), LoadSettings(requests=1, timeout_s=0.05))
    (r,) = result.records
    assert r.error == "timeout"
    assert r.ttft_ms is None


def test_past_max_error_rate_the_run_stops_and_says_why() -> None:
    fail = {i: [ConnectError("refused")] for i in range(100)}
    result, _ = run(FakeAdapter(fail=fail), LoadSettings(requests=100, max_error_rate=0.5))
    assert result.stopped == "max_error_rate"
    assert len(result.records) == MIN_REQUESTS_FOR_ERROR_STOP
    assert all(r.error == "connection" for r in result.records)


def test_below_max_error_rate_the_run_goes_on() -> None:
    fail = {i: [ServerError("boom")] for i in range(0, 12, 4)}  # 3 of 12 = 25%
    result, _ = run(FakeAdapter(fail=fail), LoadSettings(requests=12, max_error_rate=0.3))
    assert result.stopped is None
    assert len(result.records) == 12
    assert sum(not r.ok for r in result.records) == 3


def test_an_answer_that_breaks_the_schema_is_invalid_output() -> None:
    schema = {"type": "object", "required": ["age"]}
    rf = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
    wl = workload(1, response_format=rf)
    bad, _ = run(FakeAdapter(tokens=1, text='{"name": "x"}'), LoadSettings(requests=1), wl)
    assert bad.records[0].error == "invalid_output"
    assert bad.records[0].output_valid is False
    good, _ = run(FakeAdapter(tokens=1, text='{"age": 3}'), LoadSettings(requests=1), wl)
    assert good.records[0].ok
    assert good.records[0].output_valid is True


def test_a_request_that_succeeds_on_retry_keeps_no_status_from_the_429() -> None:
    adapter = FakeAdapter(fail={0: [RateLimitedError("slow", retry_after_s=0.0)]})
    result, _ = run(adapter, LoadSettings(requests=1, max_retries=1))
    (r,) = result.records
    assert r.ok
    assert r.status is None
