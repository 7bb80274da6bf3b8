"""Capacity search (load/search.py): the steps it asks, its early end, and how it is given."""

from __future__ import annotations

import pytest

from costcli.cli.options import parse_slo
from costcli.files.errors import BadInputError
from costcli.load.measure import Measurement
from costcli.load.schedule import LoadSettings
from costcli.load.search import (
    MIN_STEP_REQUESTS,
    Search,
    SearchSpec,
    StepWatch,
    parse_search,
    with_steps,
)
from costcli.plan import RunPlan
from costcli.results.metrics import SLO, RequestRecord, meets, summarize
from tests.builders import frozen

MS = 1_000_000


def drive(spec: SearchSpec, capacity: float, probe_rps: float = 9.7) -> list[float | None]:
    """The values a search tries against a server that meets the SLO up to `capacity`."""
    search = Search(spec)
    tried: list[float | None] = []
    while True:
        go, value = search.next_value()
        if not go:
            return tried
        tried.append(value)
        passed = value is None or value <= capacity
        search.add(value, passed, probe_rps if value is None else min(value, capacity))


def test_a_concurrency_search_doubles_then_bisects_to_the_slot_count() -> None:
    tried = drive(SearchSpec(kind="concurrency"), capacity=4)
    assert tried == [1, 2, 4, 8, 6, 5]
    search = Search(SearchSpec(kind="concurrency"))
    for v in tried:
        assert v is not None
        search.add(v, v <= 4, v)
    assert search.capacity() == 4


@pytest.mark.parametrize("capacity", [3, 7, 13, 100, 129])
def test_a_concurrency_search_finds_any_whole_capacity(capacity: int) -> None:
    tried = drive(SearchSpec(kind="concurrency", steps=30), capacity=capacity)
    best = max(v for v in tried if v is not None and v <= capacity)
    fails = [v for v in tried if v is not None and v > capacity]
    # the bracket ends one stream wide or within 10% of its low end
    assert min(fails) - best <= max(1, 0.1 * best)
    assert capacity - best <= 0.1 * best


def test_a_rate_search_probes_one_stream_and_ends_within_ten_percent() -> None:
    tried = drive(SearchSpec(kind="rate"), capacity=36.4)
    assert tried[0] is None  # the probe
    assert tried[1] == 9.7  # the rate one stream sustained
    rates = [v for v in tried if v is not None]
    best = max(v for v in rates if v <= 36.4)
    assert 36.4 * 0.9 <= best <= 36.4
    assert len(tried) <= 12


def test_a_first_step_that_fails_halves_and_a_failing_probe_ends_the_search() -> None:
    assert drive(SearchSpec(kind="concurrency", start=16), capacity=3)[:3] == [16, 8, 4]
    search = Search(SearchSpec(kind="rate"))
    assert search.next_value() == (True, None)
    search.add(None, False, 1.0)
    assert search.next_value() == (False, None)
    assert drive(SearchSpec(kind="concurrency"), capacity=0) == [1]


def test_a_limit_and_the_step_count_bound_the_search() -> None:
    assert drive(SearchSpec(kind="concurrency", limit=5), capacity=100) == [1, 2, 4, 5]
    assert len(drive(SearchSpec(kind="rate", start=1, steps=4), capacity=1000)) == 4


def test_each_step_is_long_enough_for_its_percentiles() -> None:
    spec = SearchSpec(kind="rate")
    base = LoadSettings(requests=16)
    assert spec.point(base, 2.0).settings.requests == MIN_STEP_REQUESTS
    assert spec.point(base, 100.0).settings.requests == 300  # three seconds of arrivals
    concurrency = SearchSpec(kind="concurrency").point(base, 32)
    assert concurrency.settings.requests == 256
    assert concurrency.settings.concurrency == 32
    assert concurrency.label == "concurrency=32"
    assert spec.point(LoadSettings(requests=500), 2.0).settings.requests == 500
    timed = spec.point(LoadSettings(duration_s=5), 2.0).settings
    assert timed.duration_s == 5
    assert timed.requests is None
    probe = spec.point(base, None)
    assert probe.settings.concurrency == 1
    assert probe.settings.rate is None
    assert spec.value_of(probe.label or "") is None
    assert spec.value_of("rate=36.4") == 36.4


def record(ttft: float, ok: bool = True) -> RequestRecord:
    """A request whose first token came `ttft` ms after it was sent (or a server error)."""
    rec = Measurement(index=0, scheduled_ns=0, sent_ns=0)
    if not ok:
        rec.end_ns, rec.error = MS, "server"
        return frozen(rec)
    rec.first_token_ns = int(ttft * MS)
    rec.chunk_ns = [rec.first_token_ns, rec.first_token_ns + 10 * MS]
    rec.end_ns = rec.first_token_ns + 10 * MS
    rec.output_tokens = 2
    return frozen(rec)


def test_a_step_ends_once_its_misses_decide_it() -> None:
    watch = StepWatch(SLO(ttft_ms=100), planned=50)
    said = [watch(record(150)) for _ in range(6)]  # 10% of 50 may miss: the sixth decides
    assert said[:5] == [None] * 5
    assert said[5] is not None
    assert said[5].startswith("decided: 6 of its 50")


def test_a_percentile_slo_decides_each_figure_on_its_own_share() -> None:
    watch = StepWatch(SLO(ttft_ms=100, percentile=99), planned=100)
    assert watch(record(150)) is None  # 1 of 100 may pass p99
    assert watch(record(150)) is not None
    errors = StepWatch(SLO(ttft_ms=100), planned=100)
    assert errors(record(0, ok=False)) is None
    assert "failed" in (errors(record(0, ok=False)) or "")


def test_a_step_whose_ttft_grows_through_it_is_saturated() -> None:
    watch = StepWatch(SLO(ttft_ms=10_000), planned=None)
    said = [watch(record(30 + 5 * i)) for i in range(30)]
    assert said[-1] is not None
    assert said[-1].startswith("saturated: TTFT")
    steady = StepWatch(SLO(ttft_ms=10_000), planned=None)
    assert all(steady(record(30 + i % 3)) is None for i in range(60))


def test_a_growing_server_queue_is_saturation() -> None:
    queue = [0.0, 1.0, 3.0]
    watch = StepWatch(SLO(ttft_ms=10_000), planned=None, queue=lambda: queue)
    assert watch(record(30)) is None
    queue.append(6.0)
    assert "queue grew" in (watch(record(30)) or "")
    flat = StepWatch(SLO(ttft_ms=10_000), planned=None, queue=lambda: [4.0, 4.0, 4.0, 4.0])
    assert flat(record(30)) is None


def test_the_search_flag_and_its_refusals() -> None:
    assert parse_search("rate=4..80") == SearchSpec(kind="rate", start=4, limit=80)
    assert parse_search("concurrency").start is None
    assert with_steps(parse_search("concurrency"), 5) == SearchSpec(kind="concurrency", steps=5)
    for bad in ("latency", "concurrency=1.5", "rate=8..2", "rate=x"):
        with pytest.raises(BadInputError, match="--search"):
            parse_search(bad)
    with pytest.raises(BadInputError, match="--search-steps 5"):
        with_steps(None, 5)
    slo = SLO(ttft_ms=500)
    search = SearchSpec(kind="concurrency")
    for clash, why in (
        ({"slo": None}, "needs --slo"),
        ({"sweep": {"kind": "concurrency", "values": [1, 2]}}, "--search and --sweep"),
        ({"processes": 2, "concurrency": 2}, "cannot be split"),
        ({"repeat": 3}, "--search and --repeat"),
    ):
        with pytest.raises(BadInputError, match=why):
            RunPlan.parse(**{"targets": ["mock"], "search": search, "slo": slo, **clash})
    with pytest.raises(BadInputError, match="--server-metrics cannot be split"):
        RunPlan.parse(
            targets=["mock"], server_metrics="http://h:1/metrics", processes=2, concurrency=2
        )


def test_a_percentile_slo_bounds_each_figure_at_that_percentile() -> None:
    assert parse_slo(["ttft_p95=100,tpot_p95_ms=20"]) == SLO(ttft_ms=100, tpot_ms=20, percentile=95)
    assert SLO(ttft_ms=100, percentile=95).describe() == "TTFT p95 <= 100 ms"
    for bad, why in (
        (["ttft_p95=100", "tpot=20"], "one percentile"),
        (["ttft_p95=1,tpot_p99=2"], "one percentile"),
        (["ttft_p80=100"], "p50, p90, p95 or p99"),
    ):
        with pytest.raises(BadInputError, match=why):
            parse_slo(bad)
    # 94 fast requests and 6 slow: p90 is fast, p95 is slow; 94% meet a plain SLO
    records = [record(50) for _ in range(94)] + [record(500) for _ in range(6)]
    summary = summarize(records, SLO(ttft_ms=100))
    assert meets(summary, SLO(ttft_ms=100))  # attainment 94% >= 90%
    assert meets(summary, SLO(ttft_ms=100, percentile=90))
    assert not meets(summary, SLO(ttft_ms=100, percentile=95))
