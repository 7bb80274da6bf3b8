"""A burst of signals (three Ctrl-Cs within a few milliseconds) stops a run once: the first
cancels the run in its loop, every later one is only counted, wherever it lands (inside the
loop, just after it ended, while the results are built). Deterministic: the fake adapter
and the fake clock send the signals at chosen points of the run."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import costcli
from costcli.adapters.base import Finish, FirstByte, StreamEvent, TextDelta, Usage
from costcli.engines.base import RunInterrupted
from costcli.load import clock, runner
from costcli.load.signals import interrupt_signals
from tests.fakes import Serverless


def burst(sig: int = signal.SIGINT, n: int = 3) -> None:
    for _ in range(n):
        os.kill(os.getpid(), sig)
        time.sleep(0.002)  # each handler runs between bytecodes, before the next kill


class Scripted(Serverless):
    """Answers at once; sends a burst of signals while answering request `at`."""

    name = "scripted"
    at: int | None = None

    async def stream(self, spec: object) -> AsyncIterator[StreamEvent]:
        t = clock.perf_ns()
        await asyncio.sleep(0)  # a real adapter waits for its bytes
        yield FirstByte(t)
        if getattr(spec, "index", None) == Scripted.at:
            burst()
        await asyncio.sleep(0)
        yield TextDelta(t + 1_000, "x ")
        yield Usage(t + 2_000, input_tokens=3, output_tokens=1)
        yield Finish(t + 2_000, "stop")


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> costcli.RunPlan:
    monkeypatch.setattr(runner.registry, "create", Scripted)
    (tmp_path / "s.toml").write_text(
        'name = "s"\nadapter = "scripted"\ndefault_model = "m"\n', encoding="utf-8"
    )
    # SIGINT as a plain terminal has it, whatever the test run inherited
    monkeypatch.setattr(Scripted, "at", None)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return costcli.RunPlan(targets=("s",), providers=(tmp_path / "s.toml",), requests=40)


def test_a_burst_inside_the_run_stops_it_once_and_keeps_what_was_measured(
    plan: costcli.RunPlan,
) -> None:
    Scripted.at = 5
    with interrupt_signals() as guard, pytest.raises(RunInterrupted) as stop:
        costcli.execute(plan)
    result = stop.value.result
    assert not result.complete
    assert 5 <= result.targets[0].summary.requests.total < 40
    assert (guard.count, guard.exit_code) == (3, 130)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_burst_just_after_the_loop_ended_is_counted_and_the_result_is_whole(
    plan: costcli.RunPlan, monkeypatch: pytest.MonkeyPatch, sig: int
) -> None:
    # the burst lands after the loop ended, while the result is being built
    build = runner.build_result

    def bursting(*args: Any, **kwargs: Any) -> Any:
        burst(sig)
        return build(*args, **kwargs)

    monkeypatch.setattr(runner, "build_result", bursting)
    with interrupt_signals() as guard:
        result = costcli.execute(plan)
    assert result.complete
    assert result.targets[0].summary.requests.total == 40
    assert (guard.count, guard.exit_code) == (3, 128 + sig)


def test_before_a_run_the_first_signal_is_ctrl_c_and_the_rest_are_counted() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with interrupt_signals() as guard:
        with pytest.raises(KeyboardInterrupt):
            burst(n=1)
        burst(n=2)  # counted only: they do not interrupt the handling of the first
        assert (guard.count, guard.exit_code) == (3, 130)
