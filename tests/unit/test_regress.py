"""The CI gate's core: metric names, budgets, limits, the bootstrap, verdicts and renderers.

The result files in tests/fixtures/ are real runs against the mock server (40 requests,
concurrency 4, --records); tests/fixtures/make_fixtures.py regenerates them.
"""

from __future__ import annotations

import json
import random
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app
from costcli.files.errors import BadInputError
from costcli.render.verdict import render_json, render_junit, render_markdown, render_table
from costcli.results.document import RunResult, read_result
from costcli.results.metrics import RequestCounts
from costcli.results.regress import (
    METRICS,
    Bootstrap,
    RunNames,
    bootstrap_change,
    check,
    find_metric,
    gate,
    parse_budget,
    parse_limit,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> RunResult:
    return read_result(FIXTURES / f"{name}.json")


def without_records(result: RunResult) -> RunResult:
    copy = result.model_copy(deep=True)
    for t in copy.targets:
        t.records = None
    return copy


# --- metric names, budgets, limits -------------------------------------------------------


def test_every_latency_metric_and_stat_is_named_and_higher_is_worse() -> None:
    for base in ("ttft", "ttfb", "itl", "tpot", "e2e"):
        for stat in ("p50", "p90", "p95", "p99", "mean", "max"):
            assert METRICS[f"{base}_{stat}_ms"].higher_is_worse
    assert METRICS["error_rate"].higher_is_worse
    assert METRICS["cost_per_1k_requests_usd"].higher_is_worse
    assert not METRICS["output_tokens_per_s"].higher_is_worse
    assert not METRICS["requests_per_s"].higher_is_worse
    assert not METRICS["decode_tokens_per_s_p50"].higher_is_worse


def test_metric_name_without_ms_suffix_is_accepted() -> None:
    assert find_metric("ttft_p95", "--budget").name == "ttft_p95_ms"


def test_unknown_metric_is_refused_with_examples() -> None:
    with pytest.raises(BadInputError, match="ttft_p999_ms: unknown metric; use one of ttft_p95_ms"):
        find_metric("ttft_p999_ms", "--budget")


def test_budget_relative_and_absolute() -> None:
    rel = parse_budget("ttft_p95_ms=+10%")
    assert (rel.metric.name, rel.amount, rel.relative, rel.text) == (
        "ttft_p95_ms",
        0.1,
        True,
        "+10%",
    )
    absolute = parse_budget("e2e_p99_ms=+50")
    assert (absolute.amount, absolute.relative, absolute.text) == (50.0, False, "+50 ms")
    tput = parse_budget("output_tokens_per_s=-5%")
    assert (tput.amount, tput.text) == (0.05, "-5%")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ttft_p95_ms", "use METRIC=\\+10%"),
        ("ttft_p95_ms=fast", "'fast' is not a number"),
        ("ttft_p95_ms=-10%", "gets worse when higher.*ttft_p95_ms=\\+10%"),
        ("output_tokens_per_s=+10%", "gets worse when lower.*output_tokens_per_s=-10%"),
    ],
)
def test_bad_budgets_are_refused_with_the_fix(spec: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_budget(spec)


def test_limits_parse_values_and_percentages() -> None:
    assert parse_limit("error_rate=0.01").value == 0.01
    assert parse_limit("error_rate=1%").value == 0.01
    assert parse_limit("cost_per_1k_requests_usd=2").text == "<= 2"
    assert parse_limit("output_tokens_per_s=100").text == ">= 100"
    with pytest.raises(BadInputError, match="'x' is not a number"):
        parse_limit("error_rate=x")


# --- the bootstrap ---------------------------------------------------------------------------


def samples(mean: float, n: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.gauss(mean, mean * 0.08)] for _ in range(n)]


def p95(values: list[float]) -> float:
    return METRICS["ttft_p95_ms"].statistic(values)  # type: ignore[misc]


def test_bootstrap_interval_of_two_draws_of_one_distribution_straddles_zero() -> None:
    iv = bootstrap_change(samples(125, 40, 1), samples(125, 40, 2), p95, relative=True)
    assert iv is not None
    assert iv.low < 0 < iv.high
    assert iv.low > -0.25
    assert iv.high < 0.25
    assert iv.resamples == 2000


def test_bootstrap_interval_of_a_sixty_percent_shift_lies_past_ten_percent() -> None:
    iv = bootstrap_change(samples(125, 40, 1), samples(200, 40, 2), p95, relative=True)
    assert iv is not None
    assert 0.35 < iv.low < iv.high < 0.85


def test_bootstrap_is_seeded_and_absolute_changes_are_in_the_metric_unit() -> None:
    a, b = samples(100, 30, 3), samples(150, 30, 4)
    first = bootstrap_change(a, b, p95, relative=False, bootstrap=Bootstrap(seed=7))
    again = bootstrap_change(a, b, p95, relative=False, bootstrap=Bootstrap(seed=7))
    assert first == again
    assert first is not None
    assert 30 < first.low < first.high < 80


def test_bootstrap_resamples_less_for_huge_runs() -> None:
    big = [[1.0]] * 10_000
    iv = bootstrap_change(big, big, p95, relative=True, bootstrap=Bootstrap(resamples=2000))
    assert iv is not None
    assert iv.resamples == 400


# --- verdicts on real mock-server runs -----------------------------------------------------


def test_two_runs_of_the_same_server_pass_a_ten_percent_ttft_budget() -> None:
    verdict = check(fixture("same-server"), fixture("baseline"), [parse_budget("ttft_p95_ms=+10%")])
    (row,) = verdict.rows
    assert verdict.passed
    assert row.method == "bootstrap"
    assert row.interval is not None
    assert row.interval.low < 0.10  # the interval reaches back inside the budget
    assert row.interval.low < row.change < row.interval.high  # type: ignore[operator]


def test_a_sixty_percent_ttft_increase_fails_the_budget() -> None:
    verdict = check(fixture("slower-ttft"), fixture("baseline"), [parse_budget("ttft_p95_ms=+10%")])
    (row,) = verdict.rows
    assert not verdict.passed
    assert row.status == "fail"
    assert row.interval is not None
    assert row.interval.low > 0.25
    assert row.current > 180  # type: ignore[operator]  # configured 192 ms
    assert "lies past the budget +10%" in row.reason


def test_without_records_the_summaries_are_compared() -> None:
    slow = check(
        without_records(fixture("slower-ttft")),
        fixture("baseline"),
        [parse_budget("ttft_p50_ms=+10%")],
    )
    (row,) = slow.rows
    assert (row.method, row.status, row.interval) == ("summary", "fail", None)
    assert row.change == pytest.approx(row.current / row.baseline - 1)  # type: ignore[operator]
    assert any("without --records" in n for n in slow.notes)


def test_an_absolute_budget_is_judged_in_milliseconds() -> None:
    verdict = check(
        fixture("slower-ttft"),
        fixture("baseline"),
        [parse_budget("ttft_p50_ms=+100"), parse_budget("ttft_p50_ms=+20")],
    )
    loose, tight = verdict.rows
    assert loose.status == "pass"
    assert tight.status == "fail"
    assert 50 < tight.change < 100  # type: ignore[operator]  # 192 - 120 ms configured


def test_throughput_budget_fails_when_it_drops() -> None:
    verdict = check(
        without_records(fixture("slower-ttft")),
        without_records(fixture("baseline")),
        [parse_budget("output_tokens_per_s=-5%")],
    )
    (row,) = verdict.rows
    assert row.change is not None
    assert row.change < -0.05
    assert row.status == "fail"


def test_error_rate_limit_breach_and_unpriced_cost_limit_is_not_applicable() -> None:
    verdict = check(
        fixture("rate-limited"),
        limits=[parse_limit("error_rate=0.01"), parse_limit("cost_per_1k_requests_usd=2")],
    )
    errors, cost, nowhere = verdict.rows
    assert (errors.status, errors.current) == ("fail", 0.2)
    assert (cost.status, cost.reason) == ("n/a", "cost_per_1k_requests_usd: the target is unpriced")
    # a cost ceiling over a run with no priced target gates nothing: that fails too
    assert (nowhere.target, nowhere.metric, nowhere.status, nowhere.compared) == (
        "(every target)",
        "cost_per_1k_requests_usd",
        "fail",
        False,
    )
    assert len(verdict.failures) == 2


def test_cost_ceiling_on_priced_targets() -> None:
    verdict = check(fixture("providers"), limits=[parse_limit("cost_per_1k_requests_usd=0.01")])
    by_target = {r.target: r for r in verdict.rows}
    assert by_target["openai:gpt-4.1-mini"].status == "fail"  # $0.0195 per 1k requests
    assert by_target["groq:llama-3.1-8b-instant"].status == "pass"
    assert by_target["mock:mock-model"].status == "n/a"


def test_different_workloads_are_refused_with_the_reason() -> None:
    with pytest.raises(
        BadInputError, match=r"workload 'json-extract' .* differs from the baseline"
    ):
        check(fixture("other-workload"), fixture("baseline"), [parse_budget("ttft_p95_ms=+10%")])


def test_budget_without_baseline_and_nothing_to_check_are_bad_input() -> None:
    with pytest.raises(BadInputError, match="pass --baseline"):
        check(fixture("baseline"), None, [parse_budget("ttft_p95_ms=+10%")])
    with pytest.raises(BadInputError, match="nothing to check"):
        check(fixture("baseline"))


def test_targets_new_in_this_run_are_not_applicable_while_one_in_common_is_compared() -> None:
    verdict = check(fixture("providers"), fixture("baseline"), [parse_budget("ttft_p95_ms=+10%")])
    statuses = {r.target: (r.status, r.compared) for r in verdict.rows}
    assert statuses["openai:gpt-4.1-mini"] == ("n/a", False)
    assert statuses["mock:mock-model"][0] in ("pass", "fail")
    assert statuses["mock:mock-model"][1] is True
    doc = verdict.to_dict()
    assert doc["compared"] == ["mock:mock-model ttft_p95_ms budget +10%"]
    assert {c["check"] for c in doc["not_compared"]} == {
        "openai:gpt-4.1-mini ttft_p95_ms budget +10%",
        "groq:llama-3.1-8b-instant ttft_p95_ms budget +10%",
    }


def renamed(result: RunResult, provider: str) -> RunResult:
    copy = result.model_copy(deep=True)
    for t in copy.targets:
        t.provider = provider
    return copy


def test_no_target_in_common_with_the_baseline_fails_and_is_bad_input_with_strict() -> None:
    current = renamed(fixture("same-server"), "renamed")
    verdict = check(current, fixture("baseline"), [parse_budget("ttft_p95_ms=+10%")])
    assert not verdict.passed
    assert verdict.compared == ()
    reasons = [(r.target, r.status, r.reason) for r in verdict.rows]
    assert reasons == [
        (
            "renamed:mock-model",
            "n/a",
            "baseline has no target renamed:mock-model (new in this run): not compared",
        ),
        (
            "mock:mock-model",
            "fail",
            "baseline target mock:mock-model is not in results: not compared",
        ),
    ]
    assert gate(verdict) == 1
    with pytest.raises(BadInputError, match=r"--strict: 1 check\(s\) could not be evaluated"):
        gate(verdict, strict=True)
    same = check(fixture("same-server"), fixture("baseline"), [parse_budget("ttft_p95_ms=+10%")])
    assert gate(same, strict=True) == (0 if same.passed else 1)


def all_failed(result: RunResult) -> RunResult:
    """`result` as if every request had failed: no latency figures, no successful request."""
    copy = result.model_copy(deep=True)
    for t in copy.targets:
        total = t.summary.requests.total
        t.summary = t.summary.model_copy(
            update={
                "requests": RequestCounts(total=total, ok=0, failed=total),
                "error_rate": 1.0,
                "ttft_ms": None,
                "ttfb_ms": None,
                "itl_ms": None,
                "tpot_ms": None,
                "e2e_ms": None,
                "decode_tokens_per_s": None,
            }
        )
        t.records = None
    return copy


def test_a_limit_on_a_metric_with_no_value_fails_but_unpriced_cost_stays_not_applicable() -> None:
    verdict = check(
        all_failed(fixture("baseline")),
        limits=[parse_limit("ttft_p95_ms=500"), parse_limit("cost_per_1k_requests_usd=2")],
    )
    ttft, cost, nowhere = verdict.rows
    assert (ttft.status, ttft.current, ttft.reason) == (
        "fail",
        None,
        "no value: no successful request",
    )
    assert (cost.status, cost.reason) == ("n/a", "cost_per_1k_requests_usd: the target is unpriced")
    assert not verdict.passed
    # the cost limit had no priced target to judge: it fails as a whole, not per target
    assert verdict.failures == (ttft, nowhere)
    assert (nowhere.target, nowhere.metric) == ("(every target)", "cost_per_1k_requests_usd")


def test_a_goodput_limit_on_a_run_without_slo_fails_naming_the_flag() -> None:
    run = fixture("baseline")
    assert run.targets[0].summary.goodput is None
    (row,) = check(run, limits=[parse_limit("goodput_requests_per_s=1")]).rows
    assert (row.status, row.reason) == ("fail", "no value: the run set no --slo")


def test_a_budget_fails_when_the_current_run_lost_the_metric() -> None:
    verdict = check(
        all_failed(fixture("same-server")), fixture("baseline"), [parse_budget("ttft_p95_ms=+10%")]
    )
    (row,) = verdict.rows
    assert row.status == "fail"
    assert row.baseline is not None
    assert row.reason == "no value in the current run: no successful request"
    # the baseline missing it stays not applicable: there is nothing to compare against
    # the baseline missing it cannot be judged either: a budget that gates nothing fails
    (back,) = check(
        fixture("baseline"), all_failed(fixture("same-server")), [parse_budget("ttft_p95_ms=+10%")]
    ).rows
    assert (back.status, back.compared) == ("fail", False)
    assert back.reason == "ttft_p95_ms is not in the baseline: not compared"


def test_a_results_file_without_targets_is_bad_input() -> None:
    empty = fixture("baseline").model_copy(update={"targets": []})
    with pytest.raises(BadInputError, match=r"r\.json: no targets"):
        check(empty, limits=[parse_limit("error_rate=0.5")], names=RunNames(current="r.json"))
    with pytest.raises(BadInputError, match=r"base\.json: no targets"):
        check(
            fixture("baseline"),
            empty,
            [parse_budget("ttft_p95_ms=+10%")],
            names=RunNames(baseline="base.json"),
        )


def with_decode_rate(result: RunResult, rate: float) -> RunResult:
    copy = result.model_copy(deep=True)
    for t in copy.targets:
        for r in t.records or ():
            r.decode_tokens_per_s = rate if r.ok else None
    return copy


def test_the_decode_rate_budget_bootstraps_the_recorded_per_request_rate() -> None:
    base = fixture("baseline")
    # same timings in both runs; only the recorded decode rate differs
    verdict = check(
        with_decode_rate(base, 50.0),
        with_decode_rate(base, 100.0),
        [parse_budget("decode_tokens_per_s_p50=-10%")],
    )
    (row,) = verdict.rows
    assert row.method == "bootstrap"
    assert row.interval is not None
    assert row.interval.low == pytest.approx(-0.5)
    assert row.interval.high == pytest.approx(-0.5)
    assert row.status == "fail"


def test_records_without_a_decode_rate_fall_back_to_the_summaries() -> None:
    base = fixture("baseline")
    assert base.targets[0].records
    assert all(r.decode_tokens_per_s is None for r in base.targets[0].records)
    (row,) = check(
        fixture("same-server"), base, [parse_budget("decode_tokens_per_s_p50=-10%")]
    ).rows
    assert row.method == "summary"


# --- renderers -------------------------------------------------------------------------------


def slow_verdict():  # type: ignore[no-untyped-def]
    return check(
        fixture("slower-ttft"),
        fixture("baseline"),
        [parse_budget("ttft_p95_ms=+10%"), parse_budget("e2e_p50_ms=+200%")],
        [parse_limit("error_rate=0.01"), parse_limit("cost_per_1k_requests_usd=1")],
    )


def test_junit_has_one_testcase_per_metric_and_target_and_a_failure_per_breach() -> None:
    root = ET.fromstring(render_junit(slow_verdict()))
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "ttft_p95_ms budget +10%",
        "e2e_p50_ms budget +200%",
        "error_rate limit <= 0.01",
        "cost_per_1k_requests_usd limit <= 1",
        "cost_per_1k_requests_usd limit <= 1",
    ]
    assert [c.get("classname") for c in cases][-2:] == [
        "costcli.mock:mock-model",
        "costcli.(every target)",
    ]
    assert [len(c.findall("failure")) for c in cases] == [1, 0, 0, 0, 1]
    assert len(cases[3].findall("skipped")) == 1
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("5", "2")


def test_markdown_json_and_table_carry_the_verdict() -> None:
    verdict = slow_verdict()
    md = render_markdown(verdict)
    assert md.startswith("### ❌ costcli check: FAILED 2 of 5 checks")
    assert md.count("\n| ") == 6  # header + 5 rows
    assert "> 3 of 5 checks compared; not compared: mock:mock-model cost_per_1k" in md
    doc = json.loads(render_json(verdict))
    assert doc["passed"] is False
    assert doc["failures"] == 2
    assert len(doc["compared"]) == 3
    assert [c["check"] for c in doc["not_compared"]] == [
        "mock:mock-model cost_per_1k_requests_usd limit <= 1",
        "(every target) cost_per_1k_requests_usd limit <= 1",
    ]
    assert doc["checks"][0]["interval"]["resamples"] == 2000
    table = render_table(verdict)
    assert "FAIL" in table
    assert "ttft_p95_ms" in table


# --- the CLI, in process ---------------------------------------------------------------------


def test_check_cli_exit_codes_and_step_summary(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    runner = CliRunner()
    base = str(FIXTURES / "baseline.json")
    ok = runner.invoke(
        app,
        [
            "check",
            str(FIXTURES / "same-server.json"),
            "--baseline",
            base,
            "--budget",
            "ttft_p95_ms=+10%",
        ],
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app,
        [
            "check",
            str(FIXTURES / "slower-ttft.json"),
            "--baseline",
            base,
            "--budget",
            "ttft_p95_ms=+10%",
        ],
    )
    assert bad.exit_code == 1
    text = summary.read_text(encoding="utf-8")
    assert text.count("### ") == 2
    assert "✅ costcli check: passed" in text
    assert "❌ FAIL" in text
    usage = runner.invoke(app, ["check", base, "--budget", "nope=+1%", "--baseline", base])
    assert usage.exit_code == 2
    assert "unknown metric" in usage.output


def one_line_refusal(result, *needles: str) -> None:  # type: ignore[no-untyped-def]
    """Exit 2, one line naming each needle, no traceback, and no verdict printed first."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "passed" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for needle in needles:
        assert needle in result.output


def test_check_refuses_an_unwritable_step_summary_before_judging(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(blocker / "x"))
    good = str(FIXTURES / "baseline.json")
    result = CliRunner().invoke(app, ["check", good, "--limit", "error_rate=0.5"])
    one_line_refusal(result, "GITHUB_STEP_SUMMARY=", str(blocker / "x"), "unset it")


def test_a_step_summary_append_that_fails_after_all_is_one_line_exit_2(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    from costcli.cli import check as check_cli

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(blocker / "x"))
    monkeypatch.setattr(check_cli, "_check_summary_file", lambda path: None)
    result = CliRunner().invoke(
        app, ["check", str(FIXTURES / "baseline.json"), "--limit", "error_rate=0.5"]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "GITHUB_STEP_SUMMARY=" in result.output
    assert "cannot be appended to" in result.output


def test_check_refuses_an_unwritable_junit_path_before_judging(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "x.xml"
    result = CliRunner().invoke(
        app,
        [
            "check",
            str(FIXTURES / "baseline.json"),
            "--limit",
            "error_rate=0.5",
            "--junit",
            str(target),
        ],
    )
    one_line_refusal(result, "--junit", str(target), "pick another path")
    folder = CliRunner().invoke(
        app,
        [
            "check",
            str(FIXTURES / "baseline.json"),
            "--limit",
            "error_rate=0.5",
            "--junit",
            str(tmp_path),
        ],
    )
    one_line_refusal(folder, "--junit", "not a writable file path")


def test_a_junit_write_that_fails_after_all_is_one_line_exit_2(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    import costcli.results.document

    def refuse(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(costcli.results.document, "write_atomic", refuse)
    target = tmp_path / "j.xml"
    result = CliRunner().invoke(
        app,
        [
            "check",
            str(FIXTURES / "baseline.json"),
            "--limit",
            "error_rate=0.5",
            "--junit",
            str(target),
        ],
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"--junit {target}: cannot be written (No space left on device)" in result.output


def test_report_refuses_an_unwritable_html_path_before_rendering(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "x.html"
    result = CliRunner().invoke(
        app, ["report", str(FIXTURES / "baseline.json"), "--html", str(target)]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert f"--html {target}: cannot create the folder {blocker} (a file is in the way)" in (
        result.output
    )


def test_check_of_a_file_without_targets_exits_2(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    doc["targets"] = []
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path), "--limit", "error_rate=0.5"])
    assert result.exit_code == 2, result.output
    assert f"{path}: no targets" in result.output


def test_check_of_malformed_records_exits_2_naming_the_key(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    doc["targets"][0]["records"][3]["ttft_ms"] = "fast"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "check",
            str(path),
            "--baseline",
            str(FIXTURES / "baseline.json"),
            "--budget",
            "ttft_p95_ms=+10%",
        ],
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "key 'targets.0.records.3.ttft_ms'" in result.output


def test_html_without_plotly_exits_2_naming_the_extra(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)
    result = CliRunner().invoke(
        app, ["report", str(FIXTURES / "baseline.json"), "--html", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert "install `costcli[report]`" in result.output
    assert not (tmp_path / "r.html").exists()


# --- the HTML report's projection curves (pure) ---------------------------------------------


def test_the_html_cdf_is_drawn_from_the_successful_records() -> None:
    from costcli.render.html import cdf_points

    target = fixture("rate-limited").targets[0]
    assert target.records is not None
    ok = sorted(r.ttft_ms for r in target.records if r.ok and r.ttft_ms is not None)
    assert 0 < len(ok) < len(target.records)  # every 5th request was refused
    xs, ys, from_records = cdf_points(target, "ttft_ms")
    assert from_records
    assert xs == ok
    assert ys[-1] == 1.0


def test_projection_curves_are_the_tables_own_projections_at_each_volume() -> None:
    from costcli.pricing.projection import read_projection
    from costcli.render.html import projection_curves

    doc = read_projection(FIXTURES / "projection.json")
    doc["curves"].append({"label": "broken", "kind": "api"})  # no points: skipped
    curves = {c["label"]: c for c in projection_curves(doc)}
    rows = {p["label"]: p for p in doc["projections"]}
    assert (
        set(curves)
        == set(rows)
        == {
            "openai:gpt-4.1-mini",
            "groq:llama-3.1-8b-instant",
            "cpu-2vcpu-vm (mock:mock-model)",
        }
    )
    openai = curves["openai:gpt-4.1-mini"]
    # linear in volume: $38.94 at the scenario's 2M requests/month
    per_request = rows["openai:gpt-4.1-mini"]["cost_per_request_usd"]
    for x, y in zip(openai["x"], openai["y"], strict=True):
        assert y == pytest.approx(x * per_request)
    box = curves["cpu-2vcpu-vm (mock:mock-model)"]
    # capacity 4 req/s per replica, peak factor 2: one more replica per 2 req/s mean load
    month = 730 * 3600
    one_box = rows["cpu-2vcpu-vm (mock:mock-model)"]["monthly_cost_usd"]  # 1 replica at 2M
    below = [y for x, y in zip(box["x"], box["y"], strict=True) if x <= 2.0 * month]
    assert max(below) == pytest.approx(one_box, rel=0.02)  # energy grows a little with load
    above = [y for x, y in zip(box["x"], box["y"], strict=True) if 2.01 * month < x < 4 * month]
    assert min(above) > 1.9 * one_box
    (even,) = [b for b in doc["break_even"] if b["requests_per_month"]]
    # the break-even marker sits on the API's curve at that volume
    assert even["monthly_cost_usd"] == pytest.approx(even["requests_per_month"] * per_request)


def test_check_cli_with_no_target_in_common_exits_1_and_2_with_strict(tmp_path: Path) -> None:
    renamed_file = tmp_path / "renamed.json"
    doc = json.loads((FIXTURES / "same-server.json").read_text(encoding="utf-8"))
    for t in doc["targets"]:
        t["provider"] = "renamed"
    renamed_file.write_text(json.dumps(doc), encoding="utf-8")
    args = ["check", str(renamed_file), "--baseline", str(FIXTURES / "baseline.json")]
    args += ["--budget", "ttft_p95_ms=+10%", "--format", "json"]
    runner = CliRunner()
    loose = runner.invoke(app, args)
    assert loose.exit_code == 1, loose.output
    verdict = json.loads(loose.stdout)
    assert (verdict["passed"], verdict["compared"]) == (False, [])
    assert len(verdict["not_compared"]) == 2
    strict = runner.invoke(app, [*args, "--strict"])
    assert strict.exit_code == 2
    (line,) = strict.stderr.strip().splitlines()
    assert line.startswith("costcli: error: --strict: 1 check(s) could not be evaluated")
