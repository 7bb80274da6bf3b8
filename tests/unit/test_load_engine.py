"""The load engine's pure parts: retry-after parsing and waits, pools sized from the load,
the client's own schedule health."""

from __future__ import annotations

import email.utils

import pytest

from costcli.adapters.base import MAX_RETRY_AFTER_S
from costcli.adapters.openai import chunk_shape_problem, parse_retry_after
from costcli.load.measure import Measurement, retry_wait_s
from costcli.load.runner import LATE_MS, client_health, connection_budget, transport_for
from costcli.load.schedule import LoadSettings, Shard
from costcli.results.metrics import Digest
from tests.builders import frozen

NOW = 1_000_000.0


def record(client_delay_ms: float):  # type: ignore[no-untyped-def]
    sent = int(client_delay_ms * 1e6)
    return frozen(Measurement(index=0, scheduled_ns=0, sent_ns=sent, end_ns=sent + 1))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.25", 0.25),
        ("-5", 0.0),
        ("99999", MAX_RETRY_AFTER_S),
        ("inf", MAX_RETRY_AFTER_S),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
        (email.utils.formatdate(NOW + 7, usegmt=True), 7.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        (email.utils.formatdate(NOW + 10**6, usegmt=True), MAX_RETRY_AFTER_S),
    ],
)
def test_retry_after_is_seconds_or_an_http_date_never_negative_never_past_the_maximum(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_the_scheduler_caps_any_adapters_retry_after_and_backs_off_without_one() -> None:
    assert retry_wait_s(float("inf"), 0) == MAX_RETRY_AFTER_S
    assert retry_wait_s(-1.0, 0) == 0.0
    assert retry_wait_s(None, 2) == 4.0
    assert retry_wait_s(float("nan"), 0) == 1.0


@pytest.mark.parametrize(
    "chunk",
    [None, [1, 2], 42, "x", {"choices": [None]}, {"choices": {}}, {"choices": [{"delta": "x"}]},
     {"choices": [{"delta": {}, "finish_reason": 7}]}, {"usage": {"completion_tokens": True}},
     {"usage": {"prompt_tokens": -1}}, {"usage": []},
     {"usage": {"completion_tokens_details": {"reasoning_tokens": "1"}}}],
)  # fmt: skip
def test_a_chunk_of_the_wrong_shape_is_named(chunk: object) -> None:
    assert chunk_shape_problem(chunk)


def test_a_chunk_of_the_documented_shape_passes() -> None:
    chunk = {
        "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 0, "prompt_tokens_details": None},
    }
    assert chunk_shape_problem(chunk) is None
    assert chunk_shape_problem({"error": {"message": "x"}}) is None  # its own error class


def test_a_closed_loop_pool_is_its_concurrency_split_by_shard() -> None:
    settings = LoadSettings(concurrency=64)
    assert transport_for(settings).concurrency == 64
    assert transport_for(settings).max_streams == 64
    parts = [transport_for(settings, Shard(index=i, count=3)).concurrency for i in (1, 2, 3)]
    assert sum(parts) == 64


def test_an_open_loop_pool_follows_the_rate_and_is_not_capped_at_64() -> None:
    options = transport_for(LoadSettings(rate=200.0, duration_s=10))
    assert options.concurrency == 400  # 200/s x 2 s expected latency, opened up front
    assert options.max_streams == connection_budget() >= options.concurrency
    capped = transport_for(LoadSettings(rate=200.0, duration_s=10, max_concurrency=50))
    assert (capped.concurrency, capped.max_streams) == (50, 50)


def test_a_client_that_fell_behind_says_so_with_the_figure() -> None:
    on_time = [record(client_delay_ms=1.0) for _ in range(99)]
    health = client_health(Digest().extend([*on_time, record(client_delay_ms=50.0)]), 0, None)
    assert health is not None
    assert health.schedule_kept
    late = [record(client_delay_ms=LATE_MS + 5) for _ in range(10)]
    health = client_health(Digest().extend(on_time + late), 3, 8)
    assert health is not None
    assert not health.schedule_kept
    assert health.late_requests == 10
    assert health.warning is not None
    assert "10 of 109 requests" in health.warning
    assert "--max-concurrency 8 bound: 3 requests" in health.warning


def test_a_run_whose_client_fell_behind_says_so_in_the_table_markdown_and_json() -> None:
    from costcli.adapters.catalog import Target
    from costcli.render import renderer
    from tests.builders import result_of

    late = [
        Measurement(index=i, scheduled_ns=0, sent_ns=int(30e6), end_ns=int(40e6)) for i in range(20)
    ]
    result = result_of([(Target("p", "m", "openai", "http://127.0.0.1:1/v1", None), late)])
    (target,) = result.targets
    assert target.client is not None
    assert target.client.schedule_kept is False
    assert target.client.late_requests == 20
    assert "could not keep its schedule: 20 of 20" in renderer("markdown")(result)
    assert "could not keep its schedule" in renderer("table")(result)
    assert '"schedule_kept": false' in renderer("json")(result)
