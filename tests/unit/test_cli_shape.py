"""The command layer stays thin: no function in costcli/cli/ over 60 lines; every option of
`run`, `project` and `mock-server` is one field of its options dataclass, under a help
panel, and each field reaches its plan (or is declared presentation only)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from costcli.cli import app
from costcli.cli.mock_server import MockOptions
from costcli.cli.options import PanelledCommand
from costcli.cli.project import PLAN_NAMES as PROJECT_NAMES
from costcli.cli.project import PRESENTATION as PROJECT_PRESENTATION
from costcli.cli.project import ProjectOptions
from costcli.cli.run import PLAN_NAMES, PRESENTATION, RunOptions
from costcli.load.schedule import LoadSettings
from costcli.plan import RunPlan
from costcli.pricing.projection import ProjectionPlan
from costcli.testing.mock_server import MockConfig

CLI = Path(__file__).resolve().parents[2] / "costcli" / "cli"
MAX_LINES = 60


def test_no_function_in_the_cli_is_over_60_lines() -> None:
    long = []
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_every_run_option_reaches_the_plan_or_is_presentation() -> None:
    plan_fields = RunPlan.model_fields.keys() | LoadSettings.model_fields.keys()
    for f in dataclasses.fields(RunOptions):
        name = PLAN_NAMES.get(f.name, f.name)
        assert (name in plan_fields) != (f.name in PRESENTATION), f.name


def test_every_project_option_reaches_the_plan_or_is_presentation() -> None:
    for f in dataclasses.fields(ProjectOptions):
        name = PROJECT_NAMES.get(f.name, f.name)
        assert (name in ProjectionPlan.model_fields) != (f.name in PROJECT_PRESENTATION), f.name


def test_every_mock_server_option_is_a_field_of_its_config() -> None:
    config = {f.name for f in dataclasses.fields(MockConfig)}
    assert {f.name for f in dataclasses.fields(MockOptions)} <= config


@pytest.mark.parametrize(
    ("command", "options", "panels"),
    [
        ("run", RunOptions, ["Targets and workload", "Load", "SLO and sweep", "Output",
                             "Journal", "Projection after the run", "Split runs"]),
        ("project", ProjectOptions, ["What to price", "Scenario", "Files and output"]),
        ("mock-server", MockOptions, ["Where", "Timing and tokens", "Faults", "Logs"]),
    ],
)  # fmt: skip
def test_the_help_groups_every_option_under_a_panel(
    command: str, options: type, panels: list[str]
) -> None:
    done = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "100"})
    assert done.exit_code == 0, done.output
    headings = [
        line[:-1]
        for line in done.output.splitlines()
        if line.endswith(":") and not line.startswith(" ")
    ]
    assert [h for h in headings if h not in ("Arguments",)][: len(panels)] == panels
    for f in dataclasses.fields(options):
        flag = getattr(f.default, "param_decls", None) or ()
        for decl in flag:
            if decl.startswith("--"):
                assert decl in done.output, (command, decl)


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, (*path, name)) if hasattr(command, "commands") else []
        if not hasattr(command, "commands"):
            found.append(((*path, name), command))
    return found


def test_every_command_has_panelled_plain_help() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) >= 14  # run, merge, mock-server, project, check, report, 8 subcommands
    for path, command in commands:
        assert isinstance(command, PanelledCommand), path
        done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert done.exit_code == 0, (path, done.output)
        assert "list[" not in done.output, path  # a repeatable option reads <str>...


@pytest.mark.parametrize(
    ("command", "panels"),
    [
        (
            ["check"],
            ["Against a baseline", "On this run alone", "Output", "Benchmark file and history"],
        ),
        (["report"], ["Inputs", "Output", "History"]),
        (["prices", "import-litellm"], ["What to import", "Provenance", "Output"]),
    ],
)
def test_the_gate_and_report_group_their_options(command: list[str], panels: list[str]) -> None:
    done = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    headings = [
        line[:-1]
        for line in done.output.splitlines()
        if line.endswith(":") and not line.startswith(" ")
    ]
    assert headings == ["Arguments", *panels, "Options"]
