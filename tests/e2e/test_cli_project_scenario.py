"""`costcli project`: --providers rate limits, the shared peak default, the capacity basis."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from costcli.cli.project import DEFAULT_PEAK_FACTOR, project_command
from costcli.cli.run import projection_after_run
from costcli.plan import RunPlan
from costcli.render.numbers import usd
from costcli.results.document import read_result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ONE_RPS_MONTH = 2_628_000  # 1 req/s for a 730-hour month

PRICES = """
[[models]]
provider = "acme"
model = "fast-1"
input_per_mtok = 0.10
output_per_mtok = 0.40
source = "https://example.com/pricing"
as_of = 2026-11-26

[[hardware]]
name = "box"
hourly_usd = 2.0
watts = 700
idle_watts = 100
pue = 1.2
electricity_usd_per_kwh = 0.10
source = "https://example.com/rent"
as_of = 2026-11-26
"""

ACME = """
name = "acme"
adapter = "openai"
base_url = "http://127.0.0.1:9/v1"
default_model = "fast-1"

[[rate_limits]]
tier = "tier-1"
model = "fast-1"
rpm = 100
source = "https://example.com/limits"
as_of = 2026-11-26

[[rate_limits]]
tier = "tier-2"
model = "fast-1"
rpm = 1000
source = "https://example.com/limits"
as_of = 2026-11-26
"""


def make_app() -> typer.Typer:
    app = typer.Typer()
    app.command("project")(project_command)
    app.command("noop")(lambda: None)  # two commands: `project` stays a subcommand
    return app


@pytest.fixture(autouse=True)
def _no_user_providers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COSTCLI_PROVIDERS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES, encoding="utf-8")
    return path


@pytest.fixture
def acme_file(tmp_path: Path) -> Path:
    (tmp_path / "extra").mkdir()  # not ./providers, which is on the search path
    path = tmp_path / "extra" / "acme.toml"
    path.write_text(ACME, encoding="utf-8")
    return path


def invoke(*args: str) -> typer.testing.Result:
    result = CliRunner().invoke(make_app(), ["project", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result


def api_row(*args: str) -> dict:
    doc = json.loads(invoke(*args, "--format", "json").stdout)
    (row,) = doc["projections"]
    return row


def results_file(tmp_path: Path, **fields: object) -> Path:
    """The baseline mock run (22.38 req/s sustained) as one self-hosted target on `box`."""
    doc = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    doc["targets"][0].update({"self_hosted": True, "hardware": "box", **fields})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_providers_flag_supplies_the_rate_limits_that_pick_the_tier(
    prices_file: Path, acme_file: Path
) -> None:
    shape = ["--model", "acme:fast-1", "--input-tokens", "1000", "--output-tokens", "500"]
    volume = ["--requests-per-month", str(ONE_RPS_MONTH), "--prices", str(prices_file)]
    # no provider file for acme: no tier data
    assert api_row(*shape, *volume, "--peak-factor", "2")["tier_needed"] is None
    # 1 req/s mean x 2 = 120 RPM at peak: over tier-1's 100, within tier-2's 1000
    row = api_row(*shape, *volume, "--peak-factor", "2", "--providers", str(acme_file))
    assert row["peak_rpm"] == pytest.approx(120)
    assert row["tier_needed"] == "tier-2"
    # x 1 = 60 RPM: tier-1 carries it; the folder form of --providers works too
    row = api_row(*shape, *volume, "--peak-factor", "1", "--providers", str(acme_file.parent))
    assert row["tier_needed"] == "tier-1"


def test_peak_factor_defaults_to_3(prices_file: Path) -> None:
    args = ["--model", "acme:fast-1", "--input-tokens", "1000", "--output-tokens", "500"]
    doc = json.loads(
        invoke(
            *args,
            "--requests-per-month",
            str(ONE_RPS_MONTH),
            "--prices",
            str(prices_file),
            "-f",
            "json",
        ).stdout
    )
    assert DEFAULT_PEAK_FACTOR == 3.0
    assert doc["scenario"]["peak_factor"] == 3.0
    assert doc["projections"][0]["peak_rpm"] == pytest.approx(180)


def test_help_states_the_peak_default() -> None:
    result = CliRunner().invoke(make_app(), ["project", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "default 3: peak load = mean x 3" in result.output
    assert "--providers" in result.output


def test_capacity_from_the_runs_own_rate_is_flagged_in_table_and_json(
    prices_file: Path, tmp_path: Path
) -> None:
    results = results_file(tmp_path)
    common = [str(results), "--requests-per-month", "1000000", "--prices", str(prices_file)]
    table = invoke(*common).stdout
    note = (
        "mock:mock-model on box: capacity taken from this run's 22.38 req/s, a floor; "
        "`costcli run --sweep` measures it"
    )
    assert note in table
    # the note sits under the table, not above it
    assert table.index(note) > table.index("price as of")
    doc = json.loads(invoke(*common, "-f", "json").stdout)
    (row,) = doc["projections"]
    assert row["capacity_basis"] == "measured rate"
    assert row["capacity_rps"] == pytest.approx(22.38432736965066)
    assert note in doc["notes"]


def test_a_sweeps_capacity_or_the_flag_carries_no_floor_note(
    prices_file: Path, tmp_path: Path
) -> None:
    results = results_file(tmp_path, capacity_rps=5.0, capacity_load="concurrency=4")
    common = [str(results), "--requests-per-month", "1000000", "--prices", str(prices_file)]
    assert "a floor" not in invoke(*common).stdout
    (row,) = json.loads(invoke(*common, "-f", "json").stdout)["projections"]
    assert (row["capacity_basis"], row["capacity_rps"]) == ("sweep", 5.0)
    (row,) = json.loads(invoke(*common, "--capacity-rps", "2", "-f", "json").stdout)["projections"]
    assert (row["capacity_basis"], row["capacity_rps"]) == ("flag", 2.0)
    # no results file: --hardware with --capacity-rps
    alone = ["--hardware", "box", "--capacity-rps", "2", "--input-tokens", "10"]
    alone += ["--output-tokens", "10", "--requests-per-month", "1000", "--prices", str(prices_file)]
    (row,) = json.loads(invoke(*alone, "-f", "json").stdout)["projections"]
    assert row["capacity_basis"] == "flag"


def test_run_and_project_price_the_same_run_the_same(
    prices_file: Path, acme_file: Path, tmp_path: Path
) -> None:
    # 40 req/s mean x 3 at peak = 120 req/s over 22.38 per replica: 6 boxes
    volume = 40 * ONE_RPS_MONTH
    results = results_file(tmp_path)
    common = [str(results), "--requests-per-month", str(volume), "--prices", str(prices_file)]
    doc = json.loads(invoke(*common, "--model", "acme:fast-1", "-f", "json").stdout)
    api, box = doc["projections"]
    assert box["replicas"] == math.ceil(40 * 3 / 22.38432736965066) == 6
    plan = RunPlan(targets=["mock"], providers=[acme_file], prices=prices_file)
    text = projection_after_run(read_result(results), plan, None, volume)
    assert "peak load = mean x 3," in text
    assert (
        "mock:mock-model on box: capacity taken from this run's 22.38 req/s, a floor; "
        "`costcli run --sweep` measures it"
    ) in text
    assert "6 x" in text  # the fits column: 6 replicas
    assert usd(box["monthly_cost_usd"]) in text
    assert usd(api["monthly_cost_usd"]) in text
    # 40 x 60 x 3 = 7200 RPM: over both of acme's tiers, from the catalogue passed in
    assert "over known tiers" in text


def test_default_projection_text_names_the_sweeps_capacity(
    prices_file: Path, tmp_path: Path
) -> None:
    results = results_file(tmp_path, capacity_rps=5.0, capacity_load="concurrency=4")
    plan = RunPlan(targets=["mock"], prices=prices_file)
    text = projection_after_run(read_result(results), plan, None, None)
    assert "mock:mock-model on box: one replica carries 5.00 req/s (sweep at concurrency=4)" in text
    assert "a floor" not in text
