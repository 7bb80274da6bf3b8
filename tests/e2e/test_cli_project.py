"""`costcli project` and `costcli prices` end to end through Typer's CliRunner."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import costcli.cli.prices as prices_cli
from costcli.cli import handled
from costcli.cli.prices import prices_app
from costcli.cli.project import project_command

PRICES = """
[[models]]
provider = "openai"
model = "gpt-4o-mini"
input_per_mtok = 0.15
cached_input_per_mtok = 0.075
output_per_mtok = 0.60
batch_discount = 0.5
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

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def make_app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(prices_app, name="prices")
    app.command("project")(handled(project_command))
    for info in prices_app.registered_commands:
        if info.callback is not None and not hasattr(info.callback, "__wrapped__"):
            info.callback = handled(info.callback)
    return app


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES, encoding="utf-8")
    return path


def test_project_json_prices_the_token_shape(cli: CliRunner, prices_file: Path) -> None:
    # 1000 in x 0.15 + 500 out x 0.60 = 0.00045 $/request; x 2,628,000 = 1182.60 $/month
    args = [
        "project",
        "--model",
        "openai:gpt-4o-mini",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "500",
        "--requests-per-month",
        "2628000",
        "--peak-factor",
        "2",
        "--prices",
        str(prices_file),
        "--format",
        "json",
    ]
    result = cli.invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["projections"][0]
    assert row["provider"] == "openai"
    assert row["model"] == "gpt-4o-mini"
    assert row["cost_per_request_usd"] == pytest.approx(0.00045)
    assert row["monthly_cost_usd"] == pytest.approx(1182.6)
    assert row["cost_per_1m_output_tokens_usd"] == pytest.approx(0.9)
    assert row["peak_rpm"] == pytest.approx(120)
    assert row["peak_tpm"] == pytest.approx(180_000)
    assert row["stale_price"] is False
    assert "tier_needed" in row


def test_project_from_a_results_file_with_a_self_hosted_target(
    cli: CliRunner, prices_file: Path, tmp_path: Path
) -> None:
    # a real results document (a mock-server run), reshaped into two targets
    doc = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    measured = doc["targets"][0]
    measured["summary"]["input_tokens"]["mean"] = 1000
    measured["summary"]["output_tokens"]["mean"] = 500
    api = {**measured, "provider": "openai", "model": "gpt-4o-mini", "self_hosted": False}
    box = {**measured, "provider": "mock", "model": "mock-model", "self_hosted": True}
    box["capacity_rps"] = 0.5
    doc["targets"] = [api, box]
    results = tmp_path / "results.json"
    results.write_text(json.dumps(doc))
    args = [
        "project",
        str(results),
        "--hardware",
        "box",
        "--requests-per-month",
        "2628000",
        "--peak-factor",
        "2",
        "--prices",
        str(prices_file),
        "--format",
        "json",
    ]
    result = cli.invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    api, hw = doc["projections"]
    assert api["monthly_cost_usd"] == pytest.approx(1182.6)
    # 4 replicas at 50%: 4 x 2 x 730 = 5840 + 1401.6 kWh x 0.10 = 5980.16
    assert hw["hardware"] == "box"
    assert hw["capacity_basis"] == "sweep"  # the results file's capacity_rps
    assert hw["replicas"] == 4
    assert hw["utilization"] == pytest.approx(0.5)
    assert hw["energy_kwh_per_month"] == pytest.approx(1401.6)
    assert hw["monthly_cost_usd"] == pytest.approx(5980.16)
    # one replica carries 0.25 req/s mean (657,000 a month) for at least 1460 $ in rent:
    # >= 0.0022 $/request against the API's 0.00045, so self-hosting never breaks even
    assert doc["break_even"] == [
        {
            "hardware": "box (mock:mock-model)",
            "api": "openai:gpt-4o-mini",
            "requests_per_month": None,
            "monthly_cost_usd": None,
        }
    ]


def test_project_table_marks_api_rows_as_priced_from_token_shape(
    cli: CliRunner, prices_file: Path
) -> None:
    args = [
        "project",
        "--model",
        "openai:gpt-4o-mini",
        "--hardware",
        "box",
        "--capacity-rps",
        "10",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "500",
        "--requests-per-day",
        "1000",
        "--months",
        "3",
        "--growth",
        "10%",
        "--prices",
        str(prices_file),
    ]
    result = cli.invoke(make_app(), args, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "openai:gpt-4o-mini *" in result.stdout
    assert "* API rows not measured on that model (token basis in the notes)" in result.stdout
    assert "month by month" in result.stdout
    assert "box becomes cheaper than openai:gpt-4o-mini at" in result.stdout


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_project_text_formats(cli: CliRunner, prices_file: Path, fmt: str) -> None:
    args = [
        "project",
        "--model",
        "openai:gpt-4o-mini",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "500",
        "--requests-per-month",
        "1000",
        "--prices",
        str(prices_file),
        "--format",
        fmt,
    ]
    result = cli.invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    assert "0.45" in result.stdout  # 1000 x 0.00045 $ a month


def test_unknown_model_exits_2_with_the_closest_names(cli: CliRunner, prices_file: Path) -> None:
    args = [
        "project",
        "--model",
        "openai:gpt-4o-mni",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
        "--requests-per-month",
        "1",
        "--prices",
        str(prices_file),
    ]
    result = cli.invoke(make_app(), args)
    assert result.exit_code == 2
    assert "closest: openai:gpt-4o-mini" in result.output


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("input_per_mtok = 0.15", "input_per_mtok = -1", "models.0.input_per_mtok"),
        ("output_per_mtok = 0.60\n", "", "models.0.output_per_mtok"),
        ("batch_discount = 0.5", "batch_discount = 0.5\ncolour = 1", "models.0.colour"),
        (
            "as_of = 2026-11-26\n\n[[hardware]]",
            'as_of = "2026-13-40"\n\n[[hardware]]',
            "models.0.as_of",
        ),
        ("hourly_usd = 2.0", "hourly_usd = -2.0", "hardware.0.hourly_usd"),
    ],
    ids=["negative", "missing price", "unknown key", "bad date", "negative rent"],
)
def test_bad_prices_file_exits_2_naming_file_and_key(
    cli: CliRunner, tmp_path: Path, old: str, new: str, key: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(PRICES.replace(old, new, 1), encoding="utf-8")
    result = cli.invoke(make_app(), ["prices", "list", "--prices", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.output
    assert key in result.output


def test_duplicate_entry_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    block = PRICES.split("[[hardware]]", maxsplit=1)[0]
    path = tmp_path / "dup.toml"
    path.write_text(block + block, encoding="utf-8")
    result = cli.invoke(make_app(), ["prices", "check", "--prices", str(path)])
    assert result.exit_code == 2
    assert "models.1" in result.output


def test_prices_list_json_has_every_field(cli: CliRunner, prices_file: Path) -> None:
    result = cli.invoke(
        make_app(), ["prices", "list", "--format", "json", "--prices", str(prices_file)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"models", "hardware"}
    model = doc["models"][0]
    assert model["cached_input_per_mtok"] == 0.075
    assert {"reasoning_per_mtok", "per_request_usd", "deprecated", "tiers", "as_of"} <= set(model)
    assert doc["hardware"][0]["idle_watts"] == 100


def test_prices_show_a_model_and_a_box(cli: CliRunner, prices_file: Path) -> None:
    result = cli.invoke(
        make_app(), ["prices", "show", "openai:gpt-4o-mini", "--prices", str(prices_file)]
    )
    assert json.loads(result.stdout)["output_per_mtok"] == 0.6
    result = cli.invoke(make_app(), ["prices", "show", "box", "--prices", str(prices_file)])
    assert json.loads(result.stdout)["hourly_usd"] == 2.0


class _FixedDate(date):
    @classmethod
    def today(cls) -> _FixedDate:
        return cls(2026, 11, 26)


class _RefreshDay(date):
    @classmethod
    def today(cls) -> _RefreshDay:
        return cls(2026, 12, 3)  # the day the bundled catalogue was last read


def test_prices_check_passes_on_the_bundled_file(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(prices_cli, "date", _RefreshDay)
    monkeypatch.delenv("COSTCLI_PRICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no ./prices.toml: the bundled copy is used
    result = cli.invoke(make_app(), ["prices", "check"])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_prices_check_fails_on_a_stale_file(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(prices_cli, "date", _FixedDate)
    path = tmp_path / "old.toml"
    path.write_text(PRICES.replace("as_of = 2026-11-26", "as_of = 2025-01-01", 1))
    result = cli.invoke(make_app(), ["prices", "check", "--prices", str(path)])
    assert result.exit_code == 1
    assert "openai:gpt-4o-mini: price is 694 days old" in result.output


def test_import_litellm_writes_a_loadable_prices_file(cli: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "map.json"
    src.write_text(
        json.dumps(
            {
                "gpt-x": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": 4e-07,
                    "output_cost_per_token": 1.6e-06,
                    "cache_read_input_token_cost": 1e-07,
                },
                "claude": {
                    "litellm_provider": "anthropic",
                    "mode": "chat",
                    "input_cost_per_token": 3e-06,
                    "output_cost_per_token": 1.5e-05,
                },
            }
        )
    )
    out = tmp_path / "prices.toml"
    args = [
        "prices",
        "import-litellm",
        str(src),
        "--provider",
        "openai",
        "-o",
        str(out),
        "--as-of",
        "2026-11-26",
    ]
    result = cli.invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    shown = cli.invoke(make_app(), ["prices", "show", "openai:gpt-x", "--prices", str(out)])
    doc = json.loads(shown.stdout)
    assert (doc["input_per_mtok"], doc["cached_input_per_mtok"], doc["output_per_mtok"]) == (
        0.4,
        0.1,
        1.6,
    )
    missing = cli.invoke(make_app(), ["prices", "show", "anthropic:claude", "--prices", str(out)])
    assert missing.exit_code == 2


def test_a_run_whose_only_target_is_unpriced_says_what_is_missing_and_what_would_price_it(
    cli: CliRunner, prices_file: Path, tmp_path: Path
) -> None:
    # a real results document of a mock-server run: mock:mock-model, made not self-hosted
    from costcli.cli import app

    doc = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    doc["targets"][0].update(self_hosted=False, hardware=None)
    results = tmp_path / "results.json"
    results.write_text(json.dumps(doc), encoding="utf-8")
    done = cli.invoke(
        app,
        ["project", str(results), "--prices", str(prices_file),
         "--requests-per-month", "1e6"],
    )  # fmt: skip
    assert done.exit_code == 2
    (line,) = done.output.strip().splitlines()
    assert line.startswith("costcli: error: nothing to project: mock:mock-model has no price in ")
    assert f"{prices_file} and no hardware profile (not self-hosted)" in line
    assert "--model PROVIDER:MODEL" in line
    assert "--hardware NAME --capacity-rps R" in line
    assert "pass a results file" not in line  # one was passed
    assert "Traceback" not in done.output
