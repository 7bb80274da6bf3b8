"""--sweep: parsing the load points and choosing the capacity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from costcli.adapters.base import AdapterBase, Finish, FirstByte, StreamEvent, TextDelta, Usage
from costcli.adapters.catalog import Target
from costcli.files.errors import BadInputError
from costcli.load import clock, runner
from costcli.load.measure import Measurement
from costcli.load.phase import SilentObserver, TargetRun
from costcli.load.schedule import LoadSettings
from costcli.load.sweep import LoadPoint, capacity_index, parse_sweep
from costcli.results.metrics import SLO, RequestRecord, meets, summarize
from tests.builders import frozen, setup_for

MS = 1_000_000


def records(ttfts_ms: list[float], failed: int = 0) -> list[RequestRecord]:
    out = []
    for i, ttft in enumerate(ttfts_ms):
        start = i * 1000 * MS
        rec = Measurement(index=i, scheduled_ns=start, sent_ns=start)
        rec.first_token_ns = start + int(ttft * MS)
        rec.chunk_ns = [rec.first_token_ns, rec.first_token_ns + 10 * MS]
        rec.end_ns = rec.first_token_ns + 10 * MS
        rec.output_tokens = 2
        out.append(frozen(rec))
    for j in range(failed):
        rec = Measurement(index=100 + j, scheduled_ns=0, sent_ns=0, end_ns=MS)
        rec.error = "server"
        out.append(frozen(rec))
    return out


def test_load_points_are_parsed_sorted_and_deduplicated() -> None:
    spec = parse_sweep("concurrency=8,1,4,4")
    assert spec.kind == "concurrency"
    assert spec.values == (1.0, 4.0, 8.0)
    assert spec.settings_at(LoadSettings(rate=3.0), 4).concurrency == 4
    assert spec.settings_at(LoadSettings(rate=3.0), 4).rate is None  # closed loop
    rate = parse_sweep("rate=2,0.5")
    assert rate.values == (0.5, 2.0)
    assert rate.settings_at(LoadSettings(), 2.0).rate == 2.0
    assert rate.label(0.5) == "rate=0.5"


@pytest.mark.parametrize(
    "text", ["workers=1,2", "concurrency", "concurrency=a,b", "rate=0,1", "concurrency=1.5"]
)
def test_a_bad_sweep_is_refused_with_the_form_to_use(text: str) -> None:
    with pytest.raises(BadInputError, match="--sweep"):
        parse_sweep(text)


def test_a_point_meets_the_slo_when_nine_in_ten_requests_do_and_errors_stay_under_1pct() -> None:
    slo = SLO(ttft_ms=100)
    nine_of_ten = summarize(records([50] * 9 + [150]), slo)
    assert nine_of_ten.goodput is not None
    assert nine_of_ten.goodput.attainment == 0.9
    assert meets(nine_of_ten, slo)
    eight_of_ten = summarize(records([50] * 8 + [150] * 2), slo)
    assert not meets(eight_of_ten, slo)
    # 1 failure in 100 is within the 1% error budget; 2 are not
    assert meets(summarize(records([50] * 99, failed=1), slo), slo)
    assert not meets(summarize(records([50] * 98, failed=2), slo), slo)
    # without an SLO only errors count
    assert meets(summarize(records([5000] * 3)), None)


def test_the_capacity_is_the_highest_load_that_meets_the_slo() -> None:
    slo = SLO(ttft_ms=100)
    good, bad = summarize(records([50] * 10), slo), summarize(records([500] * 10), slo)
    verdicts = [meets(good, slo), meets(good, slo), meets(bad, slo)]
    assert verdicts == [True, True, False]
    assert capacity_index(verdicts) == 1  # concurrency=2 of 1, 2, 4
    assert capacity_index(verdicts[2:]) is None


class Crowded(AdapterBase):
    """A server whose TTFT grows with the requests in flight: 20 ms per concurrent request.

    It answers at once and stamps its events on the load engine's clock plus that TTFT, so
    the latencies are the script's, not this machine's speed (see `TickClock`)."""

    name = "crowded"

    def __init__(self, target: object, transport: object) -> None:
        self.in_flight = 0

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def describe(self) -> dict[str, object]:
        return {}

    async def stream(self, spec: object) -> AsyncIterator[StreamEvent]:
        self.in_flight += 1
        try:
            await asyncio.sleep(0)  # let the other workers send theirs
            t = clock.perf_ns() + 20 * MS * self.in_flight
            yield FirstByte(t)
            for _ in range(3):
                yield TextDelta(t, "x ")
            yield Usage(t, input_tokens=5, output_tokens=3)
            yield Finish(t, "stop")
        finally:
            self.in_flight -= 1


class TickClock:
    """A clock that moves 1 us per reading: every latency is the scripted one, to the us."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        self.now += 1000
        return self.now


def test_the_targets_summary_and_records_come_from_the_capacity_point_not_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner.registry, "create", Crowded)
    monkeypatch.setattr(clock, "perf_ns", TickClock())
    target = Target("crowded", "m", "crowded", None, None)
    setup = setup_for(
        [target],
        load=LoadSettings(requests=6),
        sweep=parse_sweep("concurrency=1,4"),
        slo=SLO(ttft_ms=50),
        with_records=True,
    )
    state = runner.RunState()
    runner.run(setup, state, SilentObserver())
    result = runner.build_result(setup, state, complete=True)
    (t,) = result.targets
    one, four = t.sweep or []
    assert (one.meets_slo, four.meets_slo) == (True, False)  # 20 ms vs up to 80 ms
    assert one.summary.ttft_ms is not None
    assert one.summary.ttft_ms.max < 21
    assert t.capacity_load == "concurrency=1"
    assert t.summary.ttft_ms == one.summary.ttft_ms
    assert t.records is not None
    assert len(t.records) == 6
    assert max(r.ttft_ms or 0 for r in t.records) < 50  # the records are concurrency=1's


def test_an_interrupted_sweep_keeps_the_targets_it_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner.registry, "create", Crowded)
    target = Target("crowded", "m", "crowded", None, None)
    setup = setup_for([target], load=LoadSettings(requests=2), sweep=parse_sweep("concurrency=1"))
    state = runner.RunState()
    runner.run(setup, state, SilentObserver())
    # Ctrl-C while the second target ran: execute() builds the result from the state
    second = TargetRun()
    second.add(records([30.0])[0])
    state.current = runner.TargetProgress(Target("other", "m", "crowded", None, None))
    state.current.runs.append((LoadPoint(setup.load, "concurrency=1"), second))
    partial = runner.build_result(setup, state, complete=False)
    assert [(t.provider, t.stopped) for t in partial.targets] == [
        ("crowded", None),
        ("other", "interrupted"),
    ]
    assert partial.complete is False
