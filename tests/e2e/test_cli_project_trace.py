"""`costcli project --trace FILE`: a month of a trace's traffic, each figure the trace's
where no flag gives it, and every row saying so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app

REAL = Path(__file__).parent.parent / "fixtures" / "mooncake" / "conversation_trace_head300.jsonl"
ROWS_OPTS = ["--model", "openai:gpt-5-mini", "--hardware", "cpu-2vcpu-vm", "--capacity-rps", "0.5"]


def project(*args: str) -> dict:
    done = CliRunner().invoke(app, ["project", *args, *ROWS_OPTS, "-f", "json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def trace_figures() -> tuple[float, float, float, float]:
    rows = [json.loads(line) for line in REAL.read_text(encoding="utf-8").splitlines()]
    times = [r["timestamp"] for r in rows]
    rate = len(rows) / ((max(times) - min(times)) / 1000)
    seen: set[int] = set()
    hit = 0
    for r in rows:
        hit += sum(
            min(512, r["input_length"] - 512 * k) for k, b in enumerate(r["hash_ids"]) if b in seen
        )
        seen.update(r["hash_ids"])
    total_in = sum(r["input_length"] for r in rows)
    out = sum(r["output_length"] for r in rows) / len(rows)
    return rate, total_in / len(rows), out, hit / total_in


def test_a_trace_alone_is_priced_at_its_own_rate_shape_and_prefix_hit() -> None:
    rate, tokens_in, tokens_out, hit = trace_figures()
    report = project("--trace", str(REAL))
    s = report["scenario"]
    assert s["requests_per_month"] == pytest.approx(rate * 730 * 3600)
    assert s["input_tokens"] == pytest.approx(tokens_in)
    assert s["output_tokens"] == pytest.approx(tokens_out)
    assert s["cache_hit"] == pytest.approx(hit)
    assert s["hourly_profile"] is None  # 102 s of traffic
    assert {p["token_basis"] for p in report["projections"]} == {"trace"}
    assert {p["cache_hit_basis"] for p in report["projections"]} == {"trace"}
    assert len(report["projections"]) == 2
    assert str(REAL) in s["basis_note"]


def test_a_volume_flag_scales_the_trace_and_flags_win_over_its_figures() -> None:
    _, tokens_in, _, _ = trace_figures()
    report = project("--trace", str(REAL), "--requests-per-month", "2000000", "--cache-hit", "0.5")
    s = report["scenario"]
    assert s["requests_per_month"] == 2_000_000
    assert s["input_tokens"] == pytest.approx(tokens_in)
    assert s["cache_hit"] == 0.5
    assert s["cache_hit_basis"] == "given"
    assert "scaled to the requests per month given" in s["basis_note"]


def test_a_trace_spanning_days_gives_the_replicas_its_hourly_profile(tmp_path: Path) -> None:
    path = tmp_path / "days.jsonl"
    hour = 3_600_000
    lines = []
    for h in range(48):  # busy 12:00-17:59 (trace time), quiet otherwise
        for i in range(6 if 12 <= h % 24 < 18 else 1):
            lines.append(
                json.dumps({"timestamp": h * hour + i, "input_length": 100, "output_length": 10})
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    volume = ["--requests-per-month", "5000000"]  # ~1.9 req/s: replicas vary by the hour
    flat = project("--trace", str(path), *volume, "--hourly-profile", ",".join(["1"] * 24))
    shaped = project("--trace", str(path), *volume)
    profile = shaped["scenario"]["hourly_profile"]
    assert len(profile) == 24
    assert profile[12] == pytest.approx(6 * profile[0], rel=1e-3)
    assert "its hourly profile for self-hosted replicas" in shaped["scenario"]["basis_note"]
    boxes = [p for p in shaped["projections"] if p["kind"] == "self_hosted"]
    flat_boxes = [p for p in flat["projections"] if p["kind"] == "self_hosted"]
    assert boxes[0]["monthly_cost_usd"] != flat_boxes[0]["monthly_cost_usd"]


def test_a_trace_of_one_instant_needs_a_volume_and_a_missing_one_is_named(
    tmp_path: Path,
) -> None:
    instant = tmp_path / "instant.jsonl"
    instant.write_text(
        '{"timestamp": 5, "input_length": 9, "output_length": 2}\n', encoding="utf-8"
    )
    done = CliRunner().invoke(app, ["project", "--trace", str(instant), *ROWS_OPTS])
    assert done.exit_code == 2
    assert "the trace has no rate; pass --requests-per-month" in done.output
    done = CliRunner().invoke(app, ["project", "--trace", str(tmp_path / "missing.jsonl")])
    assert done.exit_code == 2
    assert "missing.jsonl: no such file" in done.output
