"""`run`, `project` and the HTML report price the same results the same: one path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app
from costcli.cli.run import projection_after_run
from costcli.plan import RunPlan
from costcli.results.document import read_result
from costcli.results.metrics import SLO

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RESULTS = FIXTURES / "providers.json"  # a run with API targets and a self-hosted box
VOLUME = "3000000"


def project(*args: str) -> str:
    out = CliRunner().invoke(
        app, ["project", str(RESULTS), "--all-models", "--requests-per-month", VOLUME, *args]
    )
    assert out.exit_code == 0, out.output
    return out.stdout


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("│", "┃"))]


def test_run_and_project_print_the_same_rows_and_break_even() -> None:
    after_run = projection_after_run(read_result(RESULTS), RunPlan(), None, float(VOLUME))
    assert after_run.startswith("Projection at 3,000,000 requests/month")
    projected = project()
    assert table_rows(after_run) == table_rows(projected)
    assert len(table_rows(after_run)) > 10
    # the run's answer names the lowest break-evens that project lists, at the same volumes
    crossings = sorted(
        (int(line.rsplit(" at ", 1)[1].split()[0].replace(",", "")), line)
        for line in projected.splitlines()
        if " becomes cheaper than " in line and " never " not in line
    )
    assert len(crossings) > 3
    for volume, line in crossings[:3]:
        hardware, rest = line.split(" becomes cheaper than ")
        api = rest.rsplit(" at ", 1)[0]
        assert f"{hardware} becomes cheaper than {api} from {volume:,} requests/month." in after_run
    assert f"It becomes cheaper than {len(crossings) - 3} more APIs from" in after_run
    assert "the SLO" not in after_run  # the fixture's run set none: nothing judged by one


def test_the_html_report_charts_the_projections_break_even(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    doc = json.loads(project("-f", "json"))
    evens = [b for b in doc["break_even"] if b["requests_per_month"]]
    assert evens, "the fixture should have a break-even to chart"
    (tmp_path / "p.json").write_text(json.dumps(doc), encoding="utf-8")
    page = tmp_path / "r.html"
    out = CliRunner().invoke(
        app,
        ["report", str(RESULTS), "--html", str(page), "--projection", str(tmp_path / "p.json")],
    )
    assert out.exit_code == 0, out.output
    html = page.read_text(encoding="utf-8")
    for b in evens:
        # the same volume as the table's break-even line, on the chart's marker
        assert f"from {b['requests_per_month']:,.0f} requests\\u002fmonth" in html
    for curve in doc["curves"]:
        row = next(p for p in doc["projections"] if p["label"] == curve["label"])
        at = curve["requests_per_month"].index(row["requests_per_month"])
        # the chart's curve is the table's projector: the row's cost sits on it
        assert curve["monthly_cost_usd"][at] == pytest.approx(row["monthly_cost_usd"])


def test_a_sweep_that_met_no_slo_is_said_so_not_called_a_floor(tmp_path: Path) -> None:
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    (box,) = [t for t in doc["targets"] if t["self_hosted"]]
    box["sweep"] = [{"load": "concurrency=1", "summary": box["summary"], "meets_slo": False}]
    box["capacity_rps"] = box["capacity_load"] = None
    swept = tmp_path / "swept.json"
    swept.write_text(json.dumps(doc), encoding="utf-8")
    text = projection_after_run(read_result(swept), RunPlan(), None, float(VOLUME))
    assert "no load point of the sweep met the SLO; priced at the last point's" in text
    assert "a floor" not in text


def test_a_projection_that_cannot_be_made_is_a_line_not_a_failed_run(tmp_path: Path) -> None:
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    (box,) = [t for t in doc["targets"] if t["self_hosted"]]
    box["hardware"] = "no-such-box"
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(doc), encoding="utf-8")
    text = projection_after_run(read_result(odd), RunPlan(), None, float(VOLUME))
    assert text.startswith("no projection after this run: ")
    assert "no-such-box" in text


def test_a_run_of_only_unpriced_targets_does_not_say_nothing_met_its_slo() -> None:
    """The mock is not in prices.toml: no row is a measured option, so none was judged on
    the SLO, and the answer must not claim the measured target missed it."""
    result = read_result(FIXTURES / "baseline.json")
    plan = RunPlan(slo=SLO(ttft_ms=500.0))
    text = projection_after_run(result, plan, None, float(VOLUME))
    assert "Nothing measured in this run met the SLO" not in text
    assert "Nothing this run measured is priced" in text
