"""A fourth engine is a module and an entry point: a throwaway distribution registers one
in the `costcli.engines` group, and `execute` runs a plan on it, with no change to
costcli/api.py. The registry's misses and broken entries are one line naming the fix."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import costcli
from costcli.cli import app
from costcli.engines import registry
from costcli.files.errors import BadInputError
from tests.mockserver_fixture import start_mock_server

# A sequential engine: each of the plan's `workers` shards in turn, on costcli's own
# engine of one run, joined by costcli's merge. It records what it was handed.
SAMPLE_ENGINE = """
import dataclasses

from costcli.engines.merge import merge
from costcli.load import runner
from costcli.load.schedule import Shard
from costcli.plan import resolve

RAN = []


class SequentialEngine:
    name = "sequential"

    def run(self, plan, observer):
        setup = resolve(plan)
        parts = []
        for index in range(1, plan.parts + 1):
            shard = Shard(index=index, count=plan.parts)
            part = dataclasses.replace(setup, shard=shard, with_records=True)
            state = runner.RunState()
            runner.run(part, state, observer)
            parts.append(runner.build_result(part, state, complete=True))
            RAN.append(index)
        merged = merge(parts, setup.prices, plan.records)
        return merged.model_copy(update={"meta": merged.meta.model_copy(update={"engine": self.name})})


class NotAnEngine:
    pass
"""


@pytest.fixture
def sample_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """costcli-sample-engine 0.1, installed the way pip leaves a distribution: a module and
    its .dist-info (METADATA, entry_points.txt) on sys.path."""
    (tmp_path / "costcli_sample_engine.py").write_text(SAMPLE_ENGINE, encoding="utf-8")
    info = tmp_path / "costcli_sample_engine-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: costcli-sample-engine\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [costcli.engines]
            sequential = costcli_sample_engine:SequentialEngine
            not-an-engine = costcli_sample_engine:NotAnEngine
            missing = costcli_sample_engine:NoSuchThing
            local = costcli_sample_engine:SequentialEngine
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("costcli_sample_engine", None)


@pytest.fixture(scope="module")
def mock_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("engine-plugin")
    with start_mock_server("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "4") as (url, _):
        path = folder / "m.toml"
        path.write_text(
            f'name = "m"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "mock-model"\n',
            encoding="utf-8",
        )
        yield path


def test_the_registry_lists_the_built_ins_and_the_plugin_without_a_shadowed_built_in(
    sample_distribution: Path,
) -> None:
    entries = registry.available()
    assert {"local", "processes", "ray", "sequential"} <= entries.keys()
    assert entries["sequential"].origin == "costcli-sample-engine"
    assert entries["local"].origin == "built-in"  # a plugin may not shadow a built-in


@pytest.mark.integration
def test_a_plan_runs_on_an_engine_registered_through_the_entry_point_group(
    sample_distribution: Path, mock_provider: Path
) -> None:
    plan = costcli.RunPlan(
        targets=("m",),
        providers=(mock_provider,),
        engine="sequential",
        workers=3,
        requests=12,
        concurrency=3,
        records=True,
    )
    result = costcli.execute(plan)
    ran = sys.modules["costcli_sample_engine"].RAN
    assert ran == [1, 2, 3]
    assert result.meta.engine == "sequential"
    (target,) = result.targets
    assert target.summary.requests.total == 12
    assert target.summary.requests.ok == 12
    assert [r.index for r in target.records or []] == list(range(12))


@pytest.mark.integration
def test_the_cli_runs_a_plugin_engine_by_name(
    sample_distribution: Path, mock_provider: Path
) -> None:
    done = CliRunner().invoke(
        app,
        ["run", "-t", "m", "--providers", str(mock_provider), "-n", "4", "-c", "2",
         "--engine", "sequential", "--workers", "2", "-q", "-f", "json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert '"engine": "sequential"' in done.output


def test_an_unknown_engine_is_one_line_naming_the_installed_ones(sample_distribution: Path) -> None:
    plan = costcli.RunPlan(targets=("m",), engine="kubernetes", workers=2, concurrency=2)
    with pytest.raises(BadInputError, match=r"--engine kubernetes: no installed engine") as err:
        costcli.execute(plan)
    assert "local, missing, not-an-engine, processes, ray, sequential" in str(err.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", r"cannot be loaded .*reinstall that package or pick another engine"),
        ("not-an-engine", r"is not an engine: it needs a `name` and a `run\(plan, observer\)`"),
    ],
)
def test_a_broken_plugin_entry_is_one_line_naming_its_distribution(
    sample_distribution: Path, name: str, message: str
) -> None:
    with pytest.raises(BadInputError, match=message) as err:
        registry.engine(name)
    assert "costcli-sample-engine" in str(err.value)
    assert "\n" not in str(err.value)


def test_an_engine_of_tasks_needs_workers_and_takes_no_processes() -> None:
    with pytest.raises(BadInputError, match=r"--engine sequential needs --workers N"):
        costcli.RunPlan.parse(targets=("m",), engine="sequential")
    with pytest.raises(BadInputError, match=r"drop --processes and --shard"):
        costcli.RunPlan.parse(targets=("m",), engine="sequential", workers=2, processes=2)
    with pytest.raises(BadInputError, match=r"--ray-address is for --engine ray"):
        costcli.RunPlan.parse(targets=("m",), engine="sequential", workers=2, ray_address="auto")
