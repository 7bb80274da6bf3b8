"""Repeated runs: the Student-t intervals over runs, the difference of two sets of runs,
how `check` gates a budget of a repeated run, the answer's sentences, and the plan's rules.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app
from costcli.files.errors import BadInputError
from costcli.plan import RunPlan
from costcli.render.console import render as render_console
from costcli.render.markdown import render as render_markdown
from costcli.render.repeats import repeat_lines
from costcli.results.document import RunResult, read_result
from costcli.results.metrics import Percentiles
from costcli.results.regress import check, gate, parse_budget
from costcli.results.repeats import ci95, difference, interval, t_critical, with_ci95

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


# --- the statistics ------------------------------------------------------------------------


def test_t_critical_values_match_the_table_and_the_normal_limit() -> None:
    assert t_critical(1) == pytest.approx(12.7062)
    assert t_critical(2) == pytest.approx(4.3027)
    assert t_critical(30) == pytest.approx(2.0423)
    assert t_critical(31) == pytest.approx(2.0395, abs=2e-4)  # Cornish-Fisher past the table
    assert t_critical(120) == pytest.approx(1.9799, abs=2e-4)
    assert t_critical(1e6) == pytest.approx(1.96, abs=1e-3)
    assert t_critical(2) > t_critical(2.5) > t_critical(3)  # Welch's fractional df


def test_three_runs_give_the_student_t_interval_of_their_mean() -> None:
    low, high = interval([10.0, 12.0, 14.0]) or (0, 0)
    margin = 4.3027 * 2.0 / math.sqrt(3)  # s = 2, t(0.975, 2) = 4.30
    assert (low, high) == pytest.approx((12 - margin, 12 + margin))
    assert interval([5.0]) is None  # one run has no spread


def test_a_low_end_below_zero_is_cut_at_zero() -> None:
    low, high = interval([0.1, 5.0, 0.2]) or (1, 1)
    assert low == 0.0
    assert high > 5


def _block(p50: float) -> Percentiles:
    return Percentiles(
        mean=p50, min=0, max=2 * p50, std=1, p50=p50, p90=p50, p95=p50 + 10, p99=p50, count=5
    )


def test_ci95_covers_every_figure_and_names_the_runs() -> None:
    found = ci95([_block(100), _block(110), _block(105)])
    assert found is not None
    assert found.runs == 3
    assert found.p50[0] < 105 < found.p50[1]
    assert found.p95[0] < 115 < found.p95[1]
    assert ci95([_block(100)]) is None


def test_welch_difference_of_two_sets_of_runs() -> None:
    a, b = [100.0, 102.0, 98.0], [130.0, 128.0, 132.0]
    found = difference(a, b)
    assert found is not None
    assert found.estimate == pytest.approx(30)
    se = math.sqrt(statistics.variance(a) / 3 + statistics.variance(b) / 3)
    # equal variances and sizes: Welch's df is 4
    assert (found.high - found.low) / 2 == pytest.approx(t_critical(4) * se)
    assert found.distinguishable
    assert found.verdict() == "distinguishable at 3 runs"
    same = difference(a, [101.0, 99.0, 103.0])
    assert same is not None
    assert not same.distinguishable
    assert same.verdict() == "not distinguishable at 3 runs"


def test_a_single_run_against_repeated_ones_borrows_their_spread() -> None:
    found = difference([100.0], [110.0, 130.0, 120.0])
    assert found is not None
    margin = t_critical(2) * 10.0 * math.sqrt(1 / 3 + 1)
    assert (found.low, found.high) == pytest.approx((20 - margin, 20 + margin))
    assert found.at() == "at 1 and 3 runs"
    assert difference([1.0], [2.0]) is None  # no spread anywhere: nothing to say


# --- check -----------------------------------------------------------------------------------


def _repeated(result: RunResult, p50s: list[float]) -> RunResult:
    """The result's target as if repeated: one summary a run, TTFT p50 as given; the
    pooled TTFT p50 is their mean."""
    t = result.targets[0]
    runs = [
        t.summary.model_copy(
            update={"ttft_ms": t.summary.ttft_ms.model_copy(update={"p50": v})}  # type: ignore[union-attr]
        )
        for v in p50s
    ]
    pooled = t.summary.model_copy(
        update={
            "ttft_ms": t.summary.ttft_ms.model_copy(update={"p50": statistics.mean(p50s)})  # type: ignore[union-attr]
        }
    )
    target = t.model_copy(
        update={"summary": with_ci95(pooled, runs), "repeats": runs, "records": None}
    )
    return result.model_copy(update={"targets": [target]})


@pytest.fixture
def base() -> RunResult:
    return read_result(FIXTURES / "baseline.json")


def test_a_regression_past_the_budget_within_the_noise_is_reported_not_failed(
    base: RunResult,
) -> None:
    baseline = _repeated(base, [100.0, 130.0, 90.0])
    current = _repeated(base, [140.0, 100.0, 120.0])  # +13% on the mean, runs all over
    verdict = check(current, baseline, [parse_budget("ttft_p50_ms=+10%")])
    row = verdict.rows[0]
    assert row.change == pytest.approx(120 / (320 / 3) - 1)
    assert row.method == "repeats"
    assert row.distinguishable is False
    assert row.status == "pass"
    assert "past the budget +10%, but not distinguishable at 3 runs" in row.reason
    assert "reported, not failed" in row.reason
    assert gate(verdict) == 0
    assert row.to_dict()["interval"]["runs"] == {"baseline": 3, "current": 3}
    assert any("repeated runs" in note for note in verdict.notes)


def test_a_distinguishable_regression_past_the_budget_fails(base: RunResult) -> None:
    baseline = _repeated(base, [100.0, 101.0, 99.0])
    current = _repeated(base, [130.0, 131.0, 129.0])
    row = check(current, baseline, [parse_budget("ttft_p50_ms=+10%")]).rows[0]
    assert row.status == "fail"
    assert row.distinguishable is True
    assert "distinguishable at 3 runs" in row.reason


def test_a_distinguishable_change_within_the_budget_passes(base: RunResult) -> None:
    baseline = _repeated(base, [100.0, 101.0, 99.0])
    current = _repeated(base, [105.0, 106.0, 104.0])
    row = check(current, baseline, [parse_budget("ttft_p50_ms=+10%")]).rows[0]
    assert row.status == "pass"
    assert "within the budget +10%; distinguishable at 3 runs" in row.reason


def test_a_repeated_run_against_a_single_baseline_is_judged_over_the_runs(
    base: RunResult,
) -> None:
    single = base.model_copy(deep=True)
    single.targets[0].records = None
    p50 = single.targets[0].summary.ttft_ms.p50  # type: ignore[union-attr]
    current = _repeated(base, [p50 * 1.5, p50 * 0.9, p50 * 1.2])
    row = check(current, single, [parse_budget("ttft_p50_ms=+10%")]).rows[0]
    assert row.method == "repeats"
    assert row.interval is not None
    assert row.interval.runs == (1, 3)
    assert "at 1 and 3 runs" in row.reason


def test_without_repeats_check_rows_carry_no_distinguishable_key(base: RunResult) -> None:
    row = check(base, base, [parse_budget("ttft_p50_ms=+10%")]).rows[0]
    assert row.method == "bootstrap"
    assert "distinguishable" not in row.to_dict()
    assert "runs" not in row.to_dict()["interval"]


# --- the answer ------------------------------------------------------------------------------


def test_the_answer_names_each_interval_and_whether_two_targets_differ(base: RunResult) -> None:
    a = _repeated(base, [100.0, 101.0, 99.0]).targets[0]
    b = _repeated(base, [130.0, 131.0, 129.0]).targets[0].model_copy(update={"model": "other"})
    c = _repeated(base, [100.0, 110.0, 95.0]).targets[0].model_copy(update={"model": "third"})
    result = base.model_copy(update={"targets": [a, b, c]})
    lines = repeat_lines(result)
    assert lines[0].startswith(f"{a.label}: 3 runs, the figures above pooled over them")
    assert "TTFT p50 [" in lines[0]
    versus = [line for line in lines if " vs " in line]
    assert len(versus) == 3
    assert f"{b.label} vs {a.label} at 3 runs" in versus[0]
    assert "TTFT p50 +30.0 ms" in versus[0]
    assert "TTFT p50 +30.0 ms [" in versus[0]
    assert versus[0].split(";")[0].endswith(" distinguishable")
    assert "TTFT p50 +1.7 ms" in versus[1]
    assert "not distinguishable" in versus[1]
    table = render_console(result, width=400)
    assert f"repeats · {b.label} vs {a.label} at 3 runs" in table
    assert f"- {b.label} vs {a.label} at 3 runs" in render_markdown(result)


def test_a_run_without_repeats_says_nothing_of_them(base: RunResult) -> None:
    assert repeat_lines(base) == []
    assert "repeats ·" not in render_console(base, width=200)


# --- the plan ------------------------------------------------------------------------------


def test_repeat_zero_or_negative_is_one_line_naming_the_option() -> None:
    for bad in (0, -2):
        with pytest.raises(BadInputError) as caught:
            RunPlan.parse(targets=["mock"], repeat=bad)
        assert str(caught.value.message).count("\n") == 0
        assert caught.value.message.startswith("--repeat: ")


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_the_cli_refuses_a_bad_repeat_in_one_line_with_exit_2(bad: str) -> None:
    done = CliRunner().invoke(app, ["run", "-t", "mock", "--repeat", bad, "-n", "2"])
    assert done.exit_code == 2
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1, done.output
    assert "--repeat" in lines[0]


@pytest.mark.parametrize(
    "split", [{"processes": 2, "concurrency": 2}, {"engine": "ray", "workers": 2, "concurrency": 2}]
)
def test_a_split_run_refuses_repeat_in_one_line(split: dict[str, object]) -> None:
    with pytest.raises(BadInputError) as caught:
        RunPlan.parse(targets=["mock"], repeat=3, **split)
    assert caught.value.message == (
        "--repeat cannot be split into shards yet (each round would need every part to "
        "start together); run it in one process"
    )
