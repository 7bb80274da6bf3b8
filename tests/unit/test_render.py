"""Renderers are pure: a hand-built RunResult in, the right columns and figures out."""

from __future__ import annotations

import csv
import io
import json

import pytest

from costcli.adapters.catalog import Target
from costcli.load.measure import Measurement
from costcli.load.schedule import LoadSettings
from costcli.render import FORMATS, renderer
from costcli.render.rows import COLUMNS, WORKLOAD_COLUMNS, fmt
from costcli.results.document import RunResult
from costcli.workloads.sources import load_workload
from tests.builders import result_of

MS = 1_000_000


def record(
    index: int, ttft: float, itl: float, tokens: int, error: str | None = None
) -> Measurement:
    """Scheduled at 0; text every `itl` ms from `ttft`; ends with the last chunk."""
    r = Measurement(index, 0, sent_ns=0, first_byte_ns=MS)
    if error:
        r.error, r.end_ns = error, 2 * MS
        return r
    r.chunk_ns = [int((ttft + i * itl) * MS) for i in range(tokens)]
    r.first_token_ns, r.end_ns = r.chunk_ns[0], r.chunk_ns[-1]
    r.input_tokens, r.output_tokens = 10, tokens
    return r


def result() -> RunResult:
    fast = Target("fast", "m1", "openai", "http://a/v1", None)
    slow = Target("slow", "m2", "groq", "http://b/v1", None)
    # fast: TTFT 100 and 200 ms, ITL 10 ms, 11 tokens -> E2E 200 and 300, TPOT 10
    fast_run = [record(0, 100, 10, 11), record(1, 200, 10, 11)]
    # slow: one ok (TTFT 400, ITL 20, 6 tokens -> E2E 500) and one server error
    slow_run = [record(0, 400, 20, 6), record(1, 0, 0, 0, error="server")]
    return result_of([(fast, fast_run), (slow, slow_run)], workload=load_workload("chat-short"))


def test_csv_has_one_row_per_target_with_raw_figures() -> None:
    rows = list(csv.DictReader(io.StringIO(renderer("csv")(result()))))
    assert list(rows[0]) == [key for key, _ in COLUMNS] + ["stale_price"] + [
        key for key, _ in WORKLOAD_COLUMNS
    ]
    fast, slow = rows
    assert fast["target"] == "fast:m1"
    assert fast["requests"] == "2/2"
    assert float(fast["error_rate"]) == 0.0
    assert float(fast["ttft_p50_ms"]) == pytest.approx(150.0)  # 100 and 200
    assert float(fast["ttft_p95_ms"]) == pytest.approx(195.0)  # pos 0.95
    assert float(fast["itl_p50_ms"]) == pytest.approx(10.0)
    assert float(fast["tpot_p50_ms"]) == pytest.approx(10.0)  # (200-100)/(11-1)
    assert float(fast["e2e_p50_ms"]) == pytest.approx(250.0)
    assert float(fast["decode_tps_p50"]) == pytest.approx(100.0)  # 10 tokens / 0.1 s
    # window 0 -> 300 ms: 22 output tokens, 2 requests
    assert float(fast["output_tokens_per_s"]) == pytest.approx(22 / 0.3)
    assert float(fast["requests_per_s"]) == pytest.approx(2 / 0.3)
    assert fast["cost_per_1k_requests_usd"] == "unpriced"
    assert slow["requests"] == "1/2"
    assert float(slow["error_rate"]) == 0.5
    assert float(slow["ttft_p50_ms"]) == pytest.approx(400.0)
    assert float(slow["itl_p99_ms"]) == pytest.approx(20.0)


def test_markdown_is_a_table_with_rounded_figures_and_an_error_line() -> None:
    text = renderer("markdown")(result())
    lines = text.splitlines()
    header = next(li for li in lines if li.startswith("| target"))
    assert header == "| " + " | ".join(title for _, title in COLUMNS) + " |"
    fast = next(li for li in lines if li.startswith("| fast:m1"))
    cells = [c.strip() for c in fast.strip("|").split("|")]
    assert cells[:5] == ["fast:m1", "2/2", "0%", "150", "195"]
    assert cells[5] == "10.0"  # ITL p50
    assert "Errors: slow:m2: server 1" in text
    assert "chat-short" in lines[0]


def test_json_is_the_results_document() -> None:
    doc = json.loads(renderer("json")(result()))
    assert [t["provider"] for t in doc["targets"]] == ["fast", "slow"]
    assert doc["targets"][0]["summary"]["ttft_ms"]["p50"] == pytest.approx(150.0)
    assert doc["targets"][1]["summary"]["errors"]["server"] == 1


def test_the_console_table_names_every_target_and_needs_no_terminal() -> None:
    text = renderer("table")(result())
    assert "fast:m1" in text
    assert "slow:m2" in text
    assert "TTFT" in text
    assert "ITL" in text
    assert "errors · slow:m2: server 1" in text
    assert "\x1b[" not in text  # no escape codes in a string rendering
    assert set(FORMATS) == {"table", "json", "csv", "markdown"}


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (1234.56, "1,235"), (12.345, "12.3"), (0.25, "0.25"), (0.0, "0"), ("x", "x")],
)
def test_figures_are_formatted_for_people(value: object, text: str) -> None:
    assert fmt(value) == text


def test_a_stale_price_is_flagged_in_every_tabular_output() -> None:
    from costcli.pricing.prices import parse_prices

    old = {
        "input_per_mtok": 1.0,
        "output_per_mtok": 2.0,
        "source": "https://x",
        "as_of": "2020-01-01",
    }
    prices = parse_prices({"models": [{"provider": "fast", "model": "m1", **old}]}, "prices.toml")
    fast = Target("fast", "m1", "openai", "http://a/v1", None)
    stale = result_of(
        [(fast, [record(0, 100, 10, 11)])], load=LoadSettings(requests=1), prices=prices
    )
    note = "fast:m1: priced at rates as of 2020-01-01, older than 90 days: stale"
    assert note in renderer("table")(stale)
    assert note in renderer("markdown")(stale)
    (row,) = list(csv.DictReader(io.StringIO(renderer("csv")(stale))))
    assert row["stale_price"] == "True"
    assert (
        json.loads(renderer("json")(stale))["targets"][0]["summary"]["cost"]["stale_price"] is True
    )


def test_workload_figures_show_only_where_measured_and_by_turn() -> None:
    """TTFO, cache, sessions and accuracy columns appear for the targets that have them;
    the plain run's table is unchanged; latency by turn is listed under the table."""
    target = Target("chat", "m1", "openai", "http://a/v1", None)
    turns = []
    for turn in range(2):
        m = record(turn, 100 + 50 * turn, 10, 5)
        m.first_output_ns = int((300 + 50 * turn) * MS)  # after reasoning
        m.session, m.turn, m.correct = "s1", turn, turn == 0
        m.input_tokens, m.cached_input_tokens = 10, 5 * turn
        turns.append(m)
    rich = result_of([(target, turns)], workload=load_workload("conversation"))
    table = renderer("table")(rich)
    for title in ("TTFO p50", "cache hit", "sessions ok/n", "accuracy"):
        assert title in table
    assert "chat:m1 turn 1: 1 requests, TTFT p50 100 ms, TTFO p50 300 ms" in table
    assert "chat:m1 turn 2: 1 requests, TTFT p50 150 ms, TTFO p50 350 ms" in table
    markdown = renderer("markdown")(rich)
    assert "| 25.0% |" in markdown  # 5 cached of 20 input tokens
    assert "| 1/1 | 50.0% |" in markdown  # one session, one of two answers right
    plain = renderer("table")(result())
    for title in ("TTFO", "cache hit", "sessions", "accuracy", "tool calls"):
        assert title not in plain
