"""`costcli project` options of issue 13 and `prices import-litellm` errors, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.e2e.test_cli_project import make_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

PRICES = """
[[models]]
provider = "openai"
model = "sol"
input_per_mtok = 2.0
cached_input_per_mtok = 0.1
output_per_mtok = 10.0
reasoning = true
cache_min_input_tokens = 1024
flex_input_per_mtok = 1.0
flex_output_per_mtok = 5.0
priority_input_per_mtok = 4.0
priority_output_per_mtok = 20.0
source = "https://example.com/pricing"
as_of = 2026-11-26

[[models]]
provider = "openai"
model = "old"
input_per_mtok = 0.1
output_per_mtok = 0.4
source = "https://example.com/pricing"
as_of = 2026-11-26
deprecated = 2026-10-23
replacement = "sol"

[[hardware]]
name = "box"
hourly_usd = 1.0
spot_hourly_usd = 0.4
watts = 100
idle_watts = 40
source = "https://example.com/rent"
as_of = 2026-11-26
"""
PROFILE = ",".join(["1"] * 12 + ["3"] * 12)


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return path


def project(prices_file: Path, *args: str) -> tuple[int, str]:
    base = ["project", "--prices", str(prices_file), "--requests-per-month", "1000000"]
    result = CliRunner().invoke(make_app(), [*base, *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def rows(output: str) -> dict[str, dict[str, object]]:
    return {p["label"]: p for p in json.loads(output)["projections"]}


def test_a_retired_model_exits_2_naming_the_date_and_the_replacement(prices_file: Path) -> None:
    code, out = project(
        prices_file, "--model", "openai:old", "--input-tokens", "10", "--output-tokens", "1"
    )
    assert code == 2
    assert "openai:old shut down on 2026-10-23; its replacement is sol" in out
    assert "Traceback" not in out


def test_reasoning_service_tier_and_the_reasoning_flag_reach_the_row(prices_file: Path) -> None:
    shape = ["--input-tokens", "1000", "--output-tokens", "100", "-f", "json"]
    code, out = project(prices_file, "--model", "openai:sol", *shape)
    assert code == 0, out
    row = rows(out)["openai:sol"]
    # 1000 x 2 + 100 x 10 = 3000 per 1M requests; no reasoning figure for a reasoning model
    assert row["monthly_cost_usd"] == pytest.approx(3000)
    assert row["reasoning_unpriced"] is True
    assert row["token_basis"] == "given"
    code, out = project(
        prices_file, "--model", "openai:sol", *shape, "--reasoning-tokens", "200",
        "--service-tier", "flex",
    )  # fmt: skip
    row = rows(out)["openai:sol"]
    # flex: 1000 x 1 + (100 + 200) x 5 = 2500
    assert row["monthly_cost_usd"] == pytest.approx(2500)
    assert (row["service_tier"], row["reasoning_unpriced"]) == ("flex", False)


def test_hourly_profile_min_replicas_and_spot_pricing(prices_file: Path) -> None:
    # 2 req/s mean = 5,256,000 a month; quiet hours 1 req/s, busy 3 req/s; capacity 1.5
    code, out = project(
        prices_file, "--hardware", "box", "--capacity-rps", "1.5", "--input-tokens", "10",
        "--output-tokens", "10", "--hourly-profile", PROFILE, "--pricing", "spot",
        "--requests-per-month", "5256000", "-f", "json",
    )  # fmt: skip
    assert code == 0, out
    row = rows(out)["box"]
    assert row["replicas_by_hour"] == [1] * 12 + [2] * 12
    # 36 replica-hours a day x 730/24 x $0.40 spot (no power bill on this box)
    assert row["monthly_cost_usd"] == pytest.approx(36 * 730 / 24 * 0.4)
    assert row["pricing"] == "spot"


def test_a_bad_hourly_profile_or_missing_rate_is_one_line_exit_2(prices_file: Path) -> None:
    code, out = project(
        prices_file, "--model", "openai:sol", "--input-tokens", "1", "--output-tokens", "1",
        "--hourly-profile", "1,2,3",
    )  # fmt: skip
    assert code == 2
    assert "--hourly-profile 1,2,3: give 24 comma-separated weights" in out
    code, out = project(
        prices_file, "--hardware", "box", "--capacity-rps", "1", "--input-tokens", "1",
        "--output-tokens", "1", "--pricing", "reserved",
    )  # fmt: skip
    assert code == 2
    assert "hardware 'box' has no reserved_hourly_usd" in out


def test_api_rows_from_a_local_run_are_never_silently_measured(prices_file: Path) -> None:
    code, out = project(
        prices_file, str(FIXTURES / "baseline.json"), "--model", "openai:sol", "--hardware",
        "box", "--capacity-rps", "1", "-f", "json",
    )  # fmt: skip
    assert code == 0, out
    got = rows(out)
    assert got["box (mock:mock-model)"]["token_basis"] == "measured"
    basis = got["openai:sol"]["token_basis"]
    # tokenizer:cl100k_base with the tokenizer extra installed, an estimate without it
    assert basis in ("tokenizer:cl100k_base", "estimate")
    assert got["openai:sol"]["basis_note"]


def test_import_litellm_malformed_entry_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "litellm-1.110.2-excerpt.json").read_text())
    data["gpt-5-nano"]["output_cost_per_token"] = "free"
    src, out = tmp_path / "map.json", tmp_path / "prices.toml"
    src.write_text(json.dumps(data))
    args = ["prices", "import-litellm", str(src), "-o", str(out), "--as-of", "2026-12-01"]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"costcli: error: {src}: entry 'gpt-5-nano' key 'output_cost_per_token': 'free' is not"
        " a number (USD per token); fix the entry"
    ]
    assert not out.exists()


def test_import_litellm_without_as_of_exits_2(tmp_path: Path) -> None:
    src = FIXTURES / "litellm-1.110.2-excerpt.json"
    result = CliRunner().invoke(make_app(), ["prices", "import-litellm", str(src)])
    assert result.exit_code == 2
    assert "pass --as-of YYYY-MM-DD" in result.output


def test_the_default_projection_after_run_leaves_retired_models_out(
    prices_file: Path, tmp_path: Path
) -> None:
    from costcli.cli.run import projection_after_run
    from costcli.plan import RunPlan
    from costcli.results.document import read_result

    doc = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    doc["targets"][0].update({"self_hosted": True, "hardware": "box"})
    results = tmp_path / "results.json"
    results.write_text(json.dumps(doc), encoding="utf-8")
    provider = tmp_path / "openai.toml"
    provider.write_text(
        'name = "openai"\nadapter = "openai"\ndefault_model = "sol"\nmodels = ["old", "sol"]\n'
    )
    plan = RunPlan(targets=["mock"], providers=[provider], prices=prices_file)
    text = projection_after_run(read_result(results), plan, None, None)
    assert "openai:sol" in text
    assert "openai:old" not in text  # shut down on 2026-10-23
