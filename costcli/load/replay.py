"""Fixed schedules: a workload that says when each request is sent (`mooncake:FILE`, a
JSONL file whose lines give `timestamp_ms`).

Such a run is an open loop on the workload's own times: each request once, at its
planned time (`RequestRecord.scheduled_ms`), so `client_delay_ms` is how late each send
was against the trace, and `client` says whether the schedule was kept. Its load label is
the schedule's mean rate (which also sizes the connection pools); the options that would
make a second schedule (--rate, --sweep, --warmup, --sessions) are refused. A split run
(--processes, --shard, --engine ray) gives shard i the requests k with k % N == i - 1 at
the trace's times, as for any open loop; the salt is fixed when the plan is made, so every
worker builds the same block texts.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from costcli.files.errors import BadInputError
from costcli.load.schedule import LoadSettings
from costcli.workloads.mooncake import TraceOptions
from costcli.workloads.spec import Workload
from costcli.workloads.trace_file import DEFAULT_BLOCK_TOKENS, iter_trace

TRACE_PREFIX = "mooncake:"
WHOLE_TRACE = 2**31 - 1  # --requests when none is given: every request of the trace
STOPS = ("requests", "duration_s", "sessions")


def is_trace(workload: str) -> bool:
    return workload.startswith(TRACE_PREFIX)


def trace_defaults(data: Any) -> Any:
    """A trace's plan defaults, before validation: a fresh salt (fixed from here on, so
    every worker of a split run shares it) and, with no stop given, the whole trace."""
    if not isinstance(data, dict) or not is_trace(str(data.get("workload", ""))):
        return data
    data = dict(data)
    if data.get("trace_salt") is None:
        if data.get("shard") is not None:
            raise ValueError(
                "--shard with a mooncake: trace: each shard is its own run with its own salt, "
                "so their block texts would differ; pass the same --trace-salt to every shard"
            )
        data["trace_salt"] = secrets.token_hex(6)
    load = data.get("load")
    nested = load if isinstance(load, dict) else {}
    given = [data.get(k, nested.get(k)) for k in STOPS]
    if not isinstance(load, LoadSettings) and all(v is None for v in given):
        data["load"] = {**nested, "requests": WHOLE_TRACE}
        data.pop("requests", None)
    return data


def trace_plan_problem(plan: Any) -> str | None:
    """What a RunPlan asks that a trace cannot do, as one line; None when it fits."""
    start, end, workload = plan.trace_start_ms, plan.trace_end_ms, plan.workload
    if start is not None and end is not None and end <= start:
        return f"--trace-end-ms {end:g} is not after --trace-start-ms {start:g}; widen the window"
    if not is_trace(workload):
        return None
    if plan.unique_prefix:
        return (
            f"--unique-prefix with workload '{workload}': its hash_ids decide which prefixes "
            "are shared; drop it (each run's fresh --trace-salt already keeps runs apart)"
        )
    if plan.load.concurrency > 1:
        return (
            f"--concurrency with workload '{workload}': a trace is sent on its own times, not "
            "by a number of workers; drop it (--max-concurrency caps requests in flight)"
        )
    return _second_schedule(workload, plan.load, plan.sweep, plan.search)


def _second_schedule(
    workload: str, load: LoadSettings, sweep: object, search: object = None
) -> str | None:
    clash = [
        ("--rate", load.rate is not None),
        ("--sweep", sweep is not None),
        ("--search", search is not None),
        ("--warmup", load.warmup > 0),
        ("--sessions", load.sessions is not None),
        ("--arrival", load.arrival != "constant"),
    ]
    for flag, given in clash:
        if given:
            return (
                f"{flag} with workload '{workload}': its timestamps are the schedule; drop "
                f"{flag} (--time-scale replays faster or slower, --trace-start-ms skips ahead)"
            )
    return None


def planned_requests(plan: Any) -> int | None:
    """How many requests a plan sends, for a parent that does not resolve it (the
    processes engine's progress): a whole trace's are counted in its window, streamed."""
    requests: int | None = plan.load.requests
    if not is_trace(plan.workload) or requests != WHOLE_TRACE:
        return requests
    options = trace_options(plan)
    path = Path(plan.workload.removeprefix(TRACE_PREFIX))
    return sum(1 for e in iter_trace(path, options.block_tokens) if options.keeps(e.timestamp_ms))


def trace_options(plan: Any) -> TraceOptions:
    """A RunPlan's replay options."""
    return TraceOptions(
        block_tokens=plan.block_tokens,
        time_scale=plan.time_scale,
        start_ms=plan.trace_start_ms,
        end_ms=plan.trace_end_ms,
        salt=plan.trace_salt or "",
    )


def check_fixed_schedule(plan: Any, workload: Workload) -> None:
    """Replay options need a fixed schedule; a fixed schedule refuses a second one."""
    if not is_trace(plan.workload):
        for flag, used in (
            ("--block-tokens", plan.block_tokens != DEFAULT_BLOCK_TOKENS),
            ("--trace-salt", plan.trace_salt is not None),
        ):
            if used:
                raise BadInputError(f"{flag}: only a mooncake:FILE workload uses it; drop it")
    if workload.schedule_ms is None:
        given = [
            ("--time-scale", plan.time_scale != 1.0),
            ("--trace-start-ms", plan.trace_start_ms is not None),
            ("--trace-end-ms", plan.trace_end_ms is not None),
        ]
        for flag, used in given:
            if used:
                raise BadInputError(
                    f"{flag}: workload '{workload.name}' has no send times; use mooncake:FILE "
                    "or a JSONL file whose lines give timestamp_ms"
                )
        return
    if not is_trace(plan.workload):
        problem = _second_schedule(workload.name, plan.load, plan.sweep, plan.search)
        if problem:
            raise BadInputError(problem)


def fixed_load(load: LoadSettings, workload: Workload) -> LoadSettings:
    """The load settings of a fixed schedule: an open loop at the schedule's mean rate (its
    label, and the pools' size), at most as many requests as it holds."""
    times = workload.schedule_ms
    if times is None:
        return load
    span_s = (max(times) - min(times)) / 1000.0
    rate = len(times) / span_s if span_s > 0 else float(len(times))
    requests = min(load.requests, len(times)) if load.requests is not None else None
    return load.model_copy(update={"rate": rate, "requests": requests})
