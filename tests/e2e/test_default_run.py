"""`costcli run` with no target and no load: the local box swept within a chat SLO, so the
projection after it rests on a measured capacity, and it ends with a short answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import costcli.api
import costcli.plan
from costcli.cli import app
from costcli.results.document import read_result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The plans `run` hands to execute; each run answers with a committed results file."""
    seen: list[Any] = []

    def fake_execute(plan: Any, observer: Any = None) -> Any:
        seen.append(plan)
        return read_result(FIXTURES / "baseline.json")

    monkeypatch.setattr(costcli.api, "execute", fake_execute)
    return seen


def test_the_default_run_sweeps_the_local_box_within_the_default_slo(plans: list[Any]) -> None:
    out = CliRunner().invoke(app, ["run", "-q"])
    assert out.exit_code == 0, out.output
    (plan,) = plans
    assert plan.targets == ("llamacpp",)
    assert plan.sweep == costcli.plan.DEFAULT_SWEEP
    assert plan.sweep.values == (1.0, 2.0, 4.0)
    assert plan.load.requests == costcli.plan.DEFAULT_SWEEP_REQUESTS == 8
    assert plan.slo == costcli.plan.DEFAULT_SLO


def test_a_given_slo_is_kept_and_any_load_option_means_a_plain_run(plans: list[Any]) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["run", "-q", "--slo", "ttft=300"]).exit_code == 0
    assert runner.invoke(app, ["run", "-q", "-n", "5"]).exit_code == 0
    assert runner.invoke(app, ["run", "-q", "-t", "mock"]).exit_code == 0
    swept, counted, targeted = plans
    assert swept.sweep is not None
    assert (swept.slo.ttft_ms, swept.slo.tpot_ms) == (300, None)
    assert (counted.sweep, counted.load.requests, counted.slo) == (None, 5, None)
    assert (targeted.sweep, targeted.targets) == (None, ("mock",))


def test_ctrl_c_outside_the_run_exits_130_not_aborted(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(plan: Any, observer: Any = None) -> Any:
        raise KeyboardInterrupt  # e.g. while the workload file is still being read

    monkeypatch.setattr(costcli.api, "execute", interrupted)
    out = CliRunner().invoke(app, ["run", "-q", "-t", "mock"])
    assert out.exit_code == 130
    assert "costcli: interrupted" in out.stderr
    assert "Aborted" not in out.output
