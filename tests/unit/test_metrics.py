"""Metric arithmetic against values computed by hand (DESIGN.md, "Metric definitions")."""

from __future__ import annotations

import math

import pytest

from costcli.load.measure import Measurement
from costcli.results.metrics import SLO, RequestRecord, percentile, percentiles, summarize, window_s

MS = 1_000_000  # ns per ms


def rec(
    index: int,
    scheduled: float,
    chunks: list[float],
    end: float,
    out: int | None,
    inp: int | None = 10,
    sent: float | None = None,
    first_byte: float | None = None,
    error: str | None = None,
) -> RequestRecord:
    """A record from millisecond timestamps (the phase started at 0)."""
    return Measurement(
        index=index,
        scheduled_ns=int(scheduled * MS),
        sent_ns=int((scheduled if sent is None else sent) * MS),
        first_byte_ns=None if first_byte is None else int(first_byte * MS),
        first_token_ns=int(chunks[0] * MS) if chunks else None,
        end_ns=int(end * MS),
        chunk_ns=[int(c * MS) for c in chunks],
        input_tokens=inp,
        output_tokens=out,
        error=error,
    ).record(epoch_ns=0)


# A: scheduled 0, sent 1, first byte 10, text at 100/110/125/130, end 140, 5 tokens
A = rec(0, 0, [100, 110, 125, 130], 140, out=5, inp=20, sent=1, first_byte=10)
# B: scheduled 50, text at 250/270, end 290, 3 tokens
B = rec(1, 50, [250, 270], 290, out=3, inp=10, first_byte=60)
# C: rate limited, scheduled 100, ends 105
C = rec(2, 100, [], 105, out=None, inp=None, error="rate_limited")
# D: scheduled 20, one text chunk at 80, end 90, one token (no TPOT, no decode speed)
D = rec(3, 20, [80], 90, out=1, inp=5)
RECORDS = [A, B, C, D]


def test_one_record_gives_ttft_ttfb_itl_tpot_e2e_and_decode_speed() -> None:
    assert A.ttft_ms == 100.0  # 100 - 0
    assert A.ttfb_ms == 10.0
    assert A.itl_ms == [10.0, 15.0, 5.0]  # 110-100, 125-110, 130-125
    assert A.e2e_ms == 140.0
    assert A.client_delay_ms == 1.0
    assert A.tpot_ms == 10.0  # (140 - 100) / (5 - 1)
    assert A.decode_tokens_per_s == pytest.approx(100.0)  # 4 tokens / 0.040 s
    assert B.ttft_ms == 200.0  # measured from scheduled (50), not from 0
    assert B.tpot_ms == 20.0  # (240 - 200) / (3 - 1)
    assert B.decode_tokens_per_s == pytest.approx(50.0)  # 2 / 0.040 s


def test_a_one_token_answer_has_no_tpot_and_no_decode_speed() -> None:
    assert D.ttft_ms == 60.0
    assert D.itl_ms == []
    assert D.tpot_ms is None
    assert D.decode_tokens_per_s is None


def test_a_record_without_text_has_no_ttft() -> None:
    assert C.ttft_ms is None
    assert C.ttfb_ms is None
    assert C.tpot_ms is None
    assert not C.ok


def test_percentiles_interpolate_linearly_like_numpys_default() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    # numpy.percentile(range(1, 11), q): pos = (n-1) q/100
    assert percentile(values, 50) == pytest.approx(5.5)  # pos 4.5 -> 5 + .5
    assert percentile(values, 90) == pytest.approx(9.1)  # pos 8.1 -> 9 + .1
    assert percentile(values, 99) == pytest.approx(9.91)  # pos 8.91 -> 9 + .91
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile([42.0], 99) == 42.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_percentile_summary_of_three_values() -> None:
    p = percentiles([200.0, 60.0, 100.0])
    assert p is not None
    assert (p.min, p.max, p.count) == (60.0, 200.0, 3)
    assert p.mean == pytest.approx(120.0)
    assert p.p50 == pytest.approx(100.0)
    assert p.p90 == pytest.approx(180.0)  # pos 1.8 -> 100 + .8 * 100
    assert p.p95 == pytest.approx(190.0)
    assert p.p99 == pytest.approx(198.0)
    # population std: deviations -60, -20, 80 -> (3600 + 400 + 6400) / 3
    assert p.std == pytest.approx(math.sqrt(10400 / 3))
    assert percentiles([]) is None


def test_the_window_runs_from_first_scheduled_to_last_completion() -> None:
    assert window_s(RECORDS) == pytest.approx(0.290)  # scheduled 0 -> B ends at 290
    assert window_s([]) == 0.0


def test_summary_counts_and_keeps_failures_out_of_latencies() -> None:
    s = summarize(RECORDS)
    assert (s.requests.total, s.requests.ok, s.requests.failed) == (4, 3, 1)
    assert s.error_rate == 0.25
    assert s.errors["rate_limited"] == 1
    assert sum(s.errors.values()) == 1
    assert set(s.errors) >= {"server", "client", "timeout", "connection", "stream_aborted"}
    assert s.duration_s == pytest.approx(0.290)
    assert s.ttft_ms is not None
    assert s.ttft_ms.count == 3
    assert s.ttft_ms.p50 == pytest.approx(100.0)
    assert s.ttfb_ms is not None
    assert s.ttfb_ms.count == 2


def test_summary_itl_is_one_distribution_over_every_gap() -> None:
    itl = summarize(RECORDS).itl_ms
    assert itl is not None
    # gaps: A 10, 15, 5; B 20 -> sorted 5, 10, 15, 20
    assert itl.count == 4
    assert itl.mean == pytest.approx(12.5)
    assert itl.p50 == pytest.approx(12.5)  # pos 1.5
    assert itl.p90 == pytest.approx(18.5)  # pos 2.7 -> 15 + .7 * 5
    assert itl.p99 == pytest.approx(19.85)  # pos 2.97


def test_summary_tpot_e2e_decode_and_client_delay() -> None:
    s = summarize(RECORDS)
    assert s.tpot_ms is not None
    assert s.tpot_ms.count == 2
    assert s.tpot_ms.p50 == pytest.approx(15.0)  # mean of 10 and 20
    assert s.tpot_ms.p90 == pytest.approx(19.0)
    assert s.e2e_ms is not None
    assert s.e2e_ms.p50 == pytest.approx(140.0)  # 70, 140, 240
    assert s.e2e_ms.p95 == pytest.approx(230.0)  # pos 1.9 -> 140 + .9 * 100
    assert s.decode_tokens_per_s is not None
    assert s.decode_tokens_per_s.mean == pytest.approx(75.0)  # 100 and 50
    assert s.client_delay_ms is not None
    assert s.client_delay_ms.count == 4  # every request, failed ones too
    assert s.client_delay_ms.max == pytest.approx(1.0)
    assert s.client_delay_ms.mean == pytest.approx(0.25)


def test_summary_tokens_and_throughput_over_the_window() -> None:
    s = summarize(RECORDS)
    assert s.output_tokens.total == 9  # 5 + 3 + 1
    assert s.output_tokens.mean == pytest.approx(3.0)
    assert s.input_tokens.total == 35  # 20 + 10 + 5
    assert s.throughput.requests_per_s == pytest.approx(3 / 0.290)
    assert s.throughput.output_tokens_per_s == pytest.approx(9 / 0.290)
    assert s.throughput.total_tokens_per_s == pytest.approx(44 / 0.290)
    assert s.goodput is None
    assert s.server is None


def test_goodput_counts_requests_meeting_every_slo() -> None:
    s = summarize(RECORDS, SLO(ttft_ms=150))
    assert s.goodput is not None
    # A (100) and D (60) meet it; B (200) does not; C failed
    assert s.goodput.requests_per_s == pytest.approx(2 / 0.290)
    assert s.goodput.attainment == 0.5
    # tpot 15: A (10) meets it, B (20) does not, D has no TPOT and is not held to it
    both = summarize(RECORDS, SLO(ttft_ms=250, tpot_ms=15))
    assert both.goodput is not None
    assert both.goodput.attainment == 0.5
    e2e = summarize(RECORDS, SLO(e2e_ms=100))  # only D (70)
    assert e2e.goodput is not None
    assert e2e.goodput.requests_per_s == pytest.approx(1 / 0.290)
    assert summarize(RECORDS, SLO()).goodput is None


def test_server_telemetry_is_summarised_where_reported() -> None:
    a = rec(0, 0, [100, 110], 120, out=2)
    a.queue_ms, a.prefill_ms, a.decode_ms = 5.0, 95.0, 20.0
    b = rec(1, 0, [100, 110], 120, out=2)
    b.queue_ms, b.prefill_ms, b.decode_ms = 15.0, 85.0, 10.0
    server = summarize([a, b]).server
    assert server is not None
    assert server.queue_ms is not None
    assert server.queue_ms.p50 == pytest.approx(10.0)
    assert server.prefill_ms is not None
    assert server.prefill_ms.mean == pytest.approx(90.0)
    assert server.decode_ms is not None
    assert server.decode_ms.max == 20.0


def test_estimated_tokens_and_output_checks_are_flagged() -> None:
    a = rec(0, 0, [10, 20], 30, out=2)
    a.tokens_estimated, a.output_valid = True, True
    b = rec(1, 0, [10, 20], 30, out=2, error="invalid_output")
    b.output_valid = False
    s = summarize([a, b])
    assert s.output_tokens.estimated is True
    assert s.output_check is not None
    assert (s.output_check.checked, s.output_check.valid) == (2, 1)
    assert s.output_check.valid_share == 0.5
    assert s.errors["invalid_output"] == 1


def test_an_empty_run_summarises_to_zeros() -> None:
    s = summarize([])
    assert s.requests.total == 0
    assert s.error_rate == 0.0
    assert s.ttft_ms is None
    assert s.throughput.requests_per_s == 0.0


def test_record_json_carries_the_derived_figures() -> None:
    data = A.model_dump()
    assert data["ttft_ms"] == 100.0
    assert data["itl_ms"] == [10.0, 15.0, 5.0]
    assert data["tpot_ms"] == 10.0
    assert data["ok"] is True
    assert data["error"] is None
