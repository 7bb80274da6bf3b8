"""The README's "Use from Python" and "Use from pytest" examples run as written, and a
script's results file is byte-for-byte the CLI's for the same plan."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
from typer.testing import CliRunner

import costcli
from costcli.cli import app
from costcli.load import runner
from tests.conftest import start_mock_server
from tests.e2e.test_readme_plugin import readme_block
from tests.fakes import CLOCK as FAKE_CLOCK
from tests.fakes import Clockwork


@pytest.fixture
def mock_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled `mock` provider, pointed at a mock server on a free port."""
    with start_mock_server("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "8") as (url, _):
        path = tmp_path / "mock.toml"
        text = f'name = "mock"\nadapter = "openai"\nbase_url = "{url}"\n'
        path.write_text(text + 'default_model = "mock-model"\n', encoding="utf-8")
        monkeypatch.setenv("COSTCLI_PROVIDERS", str(path))
        monkeypatch.chdir(tmp_path)
        yield path


@pytest.mark.integration
def test_the_python_example_runs_and_writes_a_results_file(
    mock_provider: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = mock_provider.parent / "example.py"
    script.write_text(readme_block("python-api"), encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "mock:mock-model TTFT p95" in out
    assert "openai:gpt-4.1-mini $" in out
    doc = json.loads((mock_provider.parent / "results.json").read_text())
    assert doc["targets"][0]["summary"]["requests"]["ok"] == 20


@pytest.mark.integration
def test_the_pytest_example_passes(mock_provider: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme_example=readme_block("pytest-plugin"))
    result = pytester.runpytest("--benchmark-json=bench.json")
    result.assert_outcomes(passed=1)
    (bench,) = json.loads((pytester.path / "bench.json").read_text())["benchmarks"]
    assert bench["stats"]["rounds"] == 20


def test_a_scripts_results_file_is_byte_for_byte_the_clis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clock.toml").write_text(
        'name = "clock"\nadapter = "clockwork"\ndefault_model = "m"\n', encoding="utf-8"
    )
    monkeypatch.setattr(runner.registry, "create", Clockwork)
    monkeypatch.setattr("costcli.load.clock.perf_ns", FAKE_CLOCK.now)
    monkeypatch.setattr(runner, "now_iso", lambda: "2026-12-01T00:00:00.000+00:00")
    options = ["-t", "clock", "--providers", str(tmp_path / "clock.toml"), "-n", "5", "--records"]
    FAKE_CLOCK.t = 0
    cli = CliRunner().invoke(app, ["run", *options, "-q", "-o", str(tmp_path / "cli.json")])
    assert cli.exit_code == 0, cli.output
    FAKE_CLOCK.t = 0
    # the script journals where the CLI did (beside -o), so the documents name one journal
    journal = (tmp_path / "cli.journal.jsonl").resolve()
    plan = costcli.RunPlan(
        targets=["clock"],
        providers=[tmp_path / "clock.toml"],
        requests=5,
        records=True,
        journal=journal,
    )
    costcli.write_result(costcli.execute(plan), tmp_path / "api.json")
    assert (tmp_path / "api.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    doc = json.loads((tmp_path / "api.json").read_text())
    assert [r["ttft_ms"] for r in doc["targets"][0]["records"]] == [10.0] * 5
