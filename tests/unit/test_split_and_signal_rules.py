"""Runs that cannot be split are refused up front; signals respect what the shell set."""

from __future__ import annotations

import signal

import pytest

from costcli.files.errors import BadInputError
from costcli.load.signals import SignalGuard, interrupt_signals
from costcli.plan import RunPlan, check_workload_options
from costcli.workloads.sources import load_workload


def test_two_targets_cannot_be_split_across_processes() -> None:
    with pytest.raises(BadInputError, match="one target"):
        RunPlan.parse(targets=("a", "b"), processes=2, concurrency=2)
    RunPlan.parse(targets=("a",), processes=2, concurrency=2)  # one target: fine


def test_a_rule_across_options_reads_as_its_own_line_not_as_pydantics() -> None:
    from costcli.load.schedule import Shard

    with pytest.raises(BadInputError) as caught:
        RunPlan.parse(processes=2, shard=Shard(index=1, count=2))
    assert str(caught.value) == ("--processes and --shard: give one (a shard runs in one process)")
    with pytest.raises(BadInputError) as caught:
        RunPlan.parse(concurrency=0)
    assert str(caught.value).startswith("--concurrency: ")
    assert str(caught.value).endswith("; fix that option")
    assert "Value error" not in str(caught.value)


def test_a_cap_on_in_flight_requests_is_shared_by_the_parts() -> None:
    from costcli.load.schedule import Shard

    with pytest.raises(BadInputError, match="max-concurrency 1 is fewer than the 2 parts"):
        RunPlan.parse(processes=2, concurrency=2, rate=10, max_concurrency=1)
    parts = [Shard(index=i, count=3).workers(8) for i in (1, 2, 3)]
    assert parts == [3, 3, 2]  # a cap of 8 split three ways still holds 8 in all


def test_a_conversational_workload_is_not_split() -> None:
    plan = RunPlan.parse(workload="conversation", processes=2, concurrency=2, sessions=2)
    with pytest.raises(BadInputError, match="conversations"):
        check_workload_options(plan, load_workload("conversation"))


def test_an_ignored_sighup_stays_ignored_under_the_guard() -> None:  # nohup
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with interrupt_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, before)


def test_sigterm_stops_a_run_whose_sigint_is_ignored() -> None:  # `cmd &` in a script
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        guard = SignalGuard()
        with pytest.raises(KeyboardInterrupt):
            guard.handle(signal.SIGTERM, None)
        assert guard.exit_code == 143
    finally:
        signal.signal(signal.SIGINT, before)
