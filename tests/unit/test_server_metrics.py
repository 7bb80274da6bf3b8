"""The server's own metrics (results/server_metrics.py, load/scrape.py): three servers'
names read as one set of figures, and what a point's scrapes sum up to."""

from __future__ import annotations

import pytest

from costcli.load.scrape import wanted_lines
from costcli.results.server_metrics import MAX_SAMPLES, Scrapes, parse

LLAMACPP = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 33065
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 7801
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 3
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 2
# TYPE llamacpp:n_decode_total counter
llamacpp:n_decode_total 900
"""

# vLLM (v1): one label set an engine; histograms are most of the text
VLLM = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 5.0
vllm:num_requests_running{engine="1",model_name="m"} 3.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 7.0
vllm:num_requests_waiting{engine="1",model_name="m"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.75
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 400.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="m"} 0.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 12.0
vllm:time_to_first_token_seconds_count{model_name="m"} 12.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 1.5
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{model_name="m"} 5000.0
"""

SGLANG = """\
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m"} 4.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m"} 9.0
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="m"} 0.5
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{model_name="m"} NaN
"""


def test_each_servers_names_read_as_one_set_of_figures() -> None:
    llama, names = parse(wanted_lines(LLAMACPP))
    assert llama == {
        "prompt_tokens": 33065,
        "generation_tokens": 7801,
        "requests_running": 3,
        "requests_waiting": 2,
    }
    assert "llamacpp:n_decode_total" not in names  # not a figure costcli reads
    vllm, _ = parse(wanted_lines(VLLM))
    # engines summed; a usage share is the highest engine's, not a sum
    assert vllm["requests_running"] == 8
    assert vllm["requests_waiting"] == 8
    assert vllm["kv_cache_usage"] == 0.75
    assert vllm["prefix_cache_queries"] == 1000
    assert vllm["prefix_cache_hits"] == 400
    assert vllm["generation_tokens"] == 5000
    sglang, _ = parse(wanted_lines(SGLANG))
    assert sglang == {"requests_running": 4, "requests_waiting": 9, "kv_cache_usage": 0.5}


def test_only_the_lines_read_are_parsed() -> None:
    kept = wanted_lines(VLLM).splitlines()
    assert not any("time_to_first_token" in line or line.startswith("#") for line in kept)
    assert len(kept) == 9


def test_text_that_is_not_prometheus_is_a_failed_scrape() -> None:
    with pytest.raises(ValueError, match=r"number|float|value"):
        parse("llamacpp:requests_processing not-a-number\n")


def test_a_points_scrapes_give_peaks_rates_and_the_prefix_hit_share() -> None:
    scrapes = Scrapes("http://h/metrics")
    for second in range(11):
        scrapes.add(
            float(second),
            {
                "requests_waiting": float(min(second, 10 - second)),  # peaks at 5
                "requests_running": 4.0,
                "kv_cache_usage": second / 20,
                "generation_tokens": 1000.0 + 300 * second,
                "prefix_cache_queries": 100.0 * second,
                "prefix_cache_hits": 25.0 * second,
            },
        )
    scrapes.miss("HTTP 503")
    view = scrapes.summary()
    assert view.samples == 11
    assert view.failed == 1
    assert view.error == "HTTP 503"
    assert view.requests_waiting_max == 5
    assert view.requests_running_max == 4
    assert view.kv_cache_usage_max == 0.5
    assert view.generation_tokens_per_s == pytest.approx(300)
    assert view.prompt_tokens_per_s is None  # not reported
    assert view.prefix_cache_hit_share == pytest.approx(0.25)
    assert [v for _, v in view.series["requests_waiting"]][:6] == [0, 1, 2, 3, 4, 5]


def test_a_counter_that_went_back_is_a_restart_not_a_rate() -> None:
    scrapes = Scrapes("u")
    scrapes.add(0.0, {"generation_tokens": 500.0})
    scrapes.add(1.0, {"generation_tokens": 20.0})
    assert scrapes.summary().generation_tokens_per_s is None


def test_a_long_point_keeps_its_series_bounded() -> None:
    scrapes = Scrapes("u")
    for second in range(3 * MAX_SAMPLES):
        scrapes.add(float(second), {"requests_waiting": float(second)})
    series = scrapes.summary().series["requests_waiting"]
    assert len(series) < MAX_SAMPLES
    times = [t for t, _ in series]
    assert times == sorted(times)
    assert times[0] == 0
    assert times[-1] >= 3 * MAX_SAMPLES - 4
    assert scrapes.summary().requests_waiting_max == 3 * MAX_SAMPLES - 1  # peaks kept exact
