"""The benchmark file: found where the docs say, its values under the flags given, every
RunPlan field accepted by name, bad keys and values refused in one line naming the file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from costcli.load.schedule import LoadSettings
from costcli.plan import RunPlan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Cli = Callable[..., Result]

NIGHTLY = """
default = "nightly"

[benchmark.nightly]
targets = ["ci-mock"]
workload = "chat-short"
requests = 30
concurrency = 4
slo = { ttft_ms = 500, tpot_ms = 50 }
providers = ["ci/providers"]

[benchmark.nightly.gate]
budgets = ["ttft_p95_ms=+10%"]
limits = ["error_rate=0.05"]

[benchmark.nightly.project]
requests_per_month = 2_000_000

[benchmark.smoke]
targets = ["ci-mock"]
requests = 2
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch repository with a costcli.toml and a providers folder; the cwd."""
    (tmp_path / "ci" / "providers").mkdir(parents=True)
    (tmp_path / "ci" / "providers" / "mock.toml").write_text(
        'name = "ci-mock"\nadapter = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'default_model = "mock-model"\nself_hosted = true\nhardware = "cpu-2vcpu-vm"\n',
        encoding="utf-8",
    )
    (tmp_path / "costcli.toml").write_text(NIGHTLY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTCLI_HISTORY_DB", raising=False)
    return tmp_path


def shown(cli: Cli, *args: str) -> dict[str, Any]:
    done = cli("config", "show", "--format", "json", *args)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_config_show_resolves_the_default_benchmark_and_names_each_source(
    cli: Cli, repo: Path
) -> None:
    doc = shown(cli)
    plan = doc["plan"]
    where = "costcli.toml [benchmark.nightly]"
    assert doc["benchmark"] == "nightly"
    assert plan["requests"] == {"value": 30, "source": where}
    assert plan["concurrency"] == {"value": 4, "source": where}
    assert plan["targets"] == {"value": ["ci-mock"], "source": where}
    assert plan["providers"]["value"] == ["ci/providers"]  # read from the file's folder
    assert plan["timeout_s"] == {"value": 120.0, "source": "default"}
    assert doc["gate"]["budgets"] == ["ttft_p95_ms=+10%"]
    assert doc["project"] == {"requests_per_month": 2_000_000}
    assert doc["output"] == str(Path(".costcli") / "results" / "nightly.json")
    assert doc["history_db"]["value"] == str(repo / ".costcli" / "history.sqlite")


def test_options_given_on_the_command_line_win_over_the_file(cli: Cli, repo: Path) -> None:
    plan = shown(cli, "smoke", "--concurrency", "2", "--timeout", "30")["plan"]
    assert plan["requests"] == {"value": 2, "source": "costcli.toml [benchmark.smoke]"}
    assert plan["concurrency"] == {"value": 2, "source": "command line (--concurrency)"}
    assert plan["timeout_s"] == {"value": 30.0, "source": "command line (--timeout)"}
    # an option left at its default is not "given": smoke names no workload
    assert plan["workload"] == {"value": "chat-short", "source": "default"}


def test_an_option_given_at_its_default_value_still_wins_over_the_file(
    cli: Cli, repo: Path
) -> None:
    # nightly says concurrency = 4; `--concurrency 1` is the flag's default value, but typed
    # by the user, so it is theirs, not the file's
    plan = shown(cli, "--concurrency", "1", "--timeout", "120")["plan"]
    assert plan["concurrency"] == {"value": 1, "source": "command line (--concurrency)"}
    assert plan["timeout_s"] == {"value": 120.0, "source": "command line (--timeout)"}
    assert plan["requests"]["source"] == "costcli.toml [benchmark.nightly]"


def test_relative_paths_are_read_from_the_files_own_folder(
    cli: Cli, repo: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    doc = shown(cli, "--config", str(repo / "costcli.toml"))
    assert doc["plan"]["providers"]["value"] == [str(repo / "ci" / "providers")]
    assert doc["output"] == str(repo / ".costcli" / "results" / "nightly.json")


def test_pyproject_tool_costcli_is_read_and_a_mere_mention_is_not(cli: Cli, repo: Path) -> None:
    (repo / "costcli.toml").unlink()
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"  # tool.costcli is mentioned here only\n', encoding="utf-8"
    )
    assert shown(cli)["benchmark"] is None
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.costcli.benchmark.pr]\ntargets = ["ci-mock"]\nrequests = 7\n',
        encoding="utf-8",
    )
    doc = shown(cli)
    assert doc["benchmark"] == "pr"
    assert doc["plan"]["requests"] == {
        "value": 7,
        "source": "pyproject.toml [tool.costcli.benchmark.pr]",
    }


@pytest.mark.parametrize(
    ("table", "line"),
    [
        (
            "concurency = 4",
            "costcli.toml [benchmark.nightly]: unknown key 'concurency'; did you mean 'concurrency'?",
        ),
        (
            "gate = { budget = ['x'] }",
            "costcli.toml [benchmark.nightly]: unknown key 'gate.budget'; did you mean 'budgets'?",
        ),
        (
            "project = { requests_per_mnth = 5 }",
            "costcli.toml [benchmark.nightly.project]: unknown key 'requests_per_mnth'; did you "
            "mean 'requests_per_month'?",
        ),
        ("processes = 0", "costcli.toml [benchmark.nightly]: key 'processes' = 0:"),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_the_file_and_key(
    cli: Cli, repo: Path, table: str, line: str
) -> None:
    (repo / "costcli.toml").write_text(
        f'[benchmark.nightly]\ntargets = ["ci-mock"]\n{table}\n', encoding="utf-8"
    )
    command = ("project",) if table.startswith("project") else ("config", "show")
    done = cli(*command)
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"costcli: error: {line}")
    assert "Traceback" not in done.output


def test_an_unknown_benchmark_and_a_name_without_a_file_are_one_line(cli: Cli, repo: Path) -> None:
    done = cli("run", "weekly")
    assert done.exit_code == 2
    assert done.stderr == (
        "costcli: error: costcli.toml: no benchmark 'weekly' (NAME); the file has: nightly, smoke\n"
    )
    (repo / "costcli.toml").unlink()
    done = cli("run", "nightly")
    assert done.exit_code == 2
    assert done.stderr.startswith("costcli: error: costcli run nightly: no benchmark file here")


def _simple_default(name: str, model: type[Any]) -> Any:
    value = model.model_fields[name].default
    return value if isinstance(value, bool | int | float | str) else None


@pytest.mark.parametrize(
    "field",
    [
        *(f for f in RunPlan.model_fields if _simple_default(f, RunPlan) is not None),
        *(f for f in LoadSettings.model_fields if _simple_default(f, LoadSettings) is not None),
    ],
)
def test_every_plan_field_is_accepted_in_the_file_by_its_own_name(
    cli: Cli, repo: Path, field: str
) -> None:
    """A field another change adds to RunPlan or LoadSettings works in the file as-is."""
    model = RunPlan if field in RunPlan.model_fields else LoadSettings
    value = _simple_default(field, model)
    text = json.dumps(value)  # TOML and JSON agree on these scalars
    (repo / "costcli.toml").write_text(
        f'[benchmark.b]\ntargets = ["ci-mock"]\n{field} = {text}\n', encoding="utf-8"
    )
    plan = shown(cli)["plan"]
    assert plan[field] == {"value": value, "source": "costcli.toml [benchmark.b]"}


def test_check_and_project_read_the_benchmarks_results_gate_and_scenario(
    cli: Cli, repo: Path
) -> None:
    results = repo / ".costcli" / "results" / "nightly.json"
    results.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "slower-ttft.json", results)
    shutil.copy(FIXTURES / "baseline.json", repo / "base.json")
    text = (repo / "costcli.toml").read_text(encoding="utf-8")
    text = text.replace("limits = [", 'baseline = "base.json"\nlimits = [', 1)
    text = text.replace('targets = ["ci-mock"]', 'targets = ["mock"]', 1)
    (repo / "costcli.toml").write_text(text, encoding="utf-8")
    done = cli("check", "--format", "json")
    verdict = json.loads(done.stdout)
    assert done.exit_code == 1  # slower-ttft.json regressed past +10% against base.json
    assert {(c["metric"], c["status"]) for c in verdict["checks"]} == {
        ("ttft_p95_ms", "fail"),
        ("error_rate", "pass"),
    }
    # a flag given replaces the file's list
    done = cli("check", "--budget", "ttft_p95_ms=+500%", "--format", "json")
    assert done.exit_code == 0, done.output
    done = cli("project", "--format", "json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["scenario"]["requests_per_month"] == 2_000_000
