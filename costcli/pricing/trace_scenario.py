"""`costcli project --trace FILE`: a month of a trace's traffic.

The trace (`costcli trace analyze`'s figures, one streaming pass) gives what the flags do
not: the volume (its own mean rate over a 730-hour month, unless --requests-per-month or
--requests-per-day scales it), the token shape (mean input and output tokens), the cache
hit (its prefix hit share: what a perfect prefix cache serves) and, for a trace of a day
or more, the hourly profile that sizes self-hosted replicas hour by hour. Every row then
says its tokens came from the trace (token basis `trace`), as does the cache hit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from costcli.files.errors import BadInputError
from costcli.pricing.cost import Scenario
from costcli.workloads.trace_stats import TraceFacts, analyze_trace

BASIS_TRACE = "trace"
SECONDS_PER_MONTH = 730 * 3600  # the month cost.py prices (730 hours)


@dataclasses.dataclass(frozen=True)
class TraceScenario:
    """What the trace filled in, and the line that says so."""

    facts: TraceFacts
    filled: frozenset[str]
    note: str


def trace_plan(plan: Any) -> tuple[Any, TraceScenario | None]:
    """A `ProjectionPlan` (projection.py imports this module, so it is not named here) with
    the trace's figures where no flag gave them; unchanged without a trace."""
    if plan.trace is None:
        return plan, None
    facts, notes = analyze_trace(plan.trace, plan.trace_block_tokens)
    given = plan.model_fields_set
    updates: dict[str, Any] = {}
    if "requests_per_month" not in given:
        if facts.mean_rate_rps is None:
            raise BadInputError(
                f"--trace {plan.trace}: every request has the same timestamp, so the trace "
                "has no rate; pass --requests-per-month"
            )
        updates["requests_per_month"] = facts.mean_rate_rps * SECONDS_PER_MONTH
    if plan.input_tokens is None:
        updates["input_tokens"] = facts.input_tokens.mean
    if plan.output_tokens is None:
        updates["output_tokens"] = facts.output_tokens.mean
    if plan.cache_hit is None:
        updates["cache_hit"] = facts.prefix_hit_share
    if plan.hourly_profile is None and facts.hourly_profile is not None:
        updates["hourly_profile"] = tuple(facts.hourly_profile)
    volume = (
        f"its own rate, {facts.mean_rate_rps:.3f} req/s"
        if "requests_per_month" in updates
        else f"{facts.mean_rate_rps or 0:.3f} req/s scaled to the requests per month given"
    )
    parts = [
        f"trace {plan.trace}: {facts.requests:,} requests over {facts.duration_s:,.0f} s at "
        f"{volume}",
        f"mean {facts.input_tokens.mean:,.0f} input and {facts.output_tokens.mean:,.0f} "
        "output tokens",
        f"prefix hit share {facts.prefix_hit_share:.1%} as the cache hit"
        if "cache_hit" in updates
        else "cache hit by flag",
        "its hourly profile for self-hosted replicas"
        if "hourly_profile" in updates
        else "no hourly profile (it spans under a day, or one was given)",
        *notes,
    ]
    scenario = TraceScenario(facts, frozenset(updates), "; ".join(parts))
    return plan.model_copy(update=updates), scenario


def trace_scenario(scenario: Scenario, trace: TraceScenario | None) -> Scenario:
    """The scenario's bases say `trace` where the trace gave the figure."""
    if trace is None:
        return scenario
    changes: dict[str, Any] = {}
    if {"input_tokens", "output_tokens"} & trace.filled:
        changes.update(token_basis=BASIS_TRACE, basis_note=trace.note)
    if "cache_hit" in trace.filled:
        changes["cache_hit_basis"] = BASIS_TRACE
    return dataclasses.replace(scenario, **changes)
