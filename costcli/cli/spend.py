"""`costcli run`'s words about money: the worst-case spend before a run (and the refusal of
an uncapped dear one at a terminal), and the line after a run the spend cap stopped."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from costcli.cli.options import stderr_console

if TYPE_CHECKING:
    from costcli.plan import RunPlan
    from costcli.results.document import TargetResult


def stdin_is_terminal() -> bool:
    """Whether a person could answer: a refusal there, a notice in CI (which must not hang)."""
    return sys.stdin is not None and sys.stdin.isatty()


def spend_preflight(plan: RunPlan, yes: bool, quiet: bool) -> None:
    """Print the run's worst-case spend where it is over $1; refuse (exit 2) a worst case
    over $50 without --max-spend-usd or --yes at a terminal, and say so elsewhere."""
    from costcli.load.spend import preflight, target_price, worst_case
    from costcli.plan import resolve

    setup = resolve(plan, keys_here=False)  # the run resolves it again: keys are read there
    if not any(target_price(t, setup.prices) for t in setup.targets):
        return
    points = [p.settings for p in setup.points]
    cases = worst_case(
        setup.targets, setup.workload, points, setup.prices, setup.shard, plan.repeat
    )
    lines = preflight(cases, plan.max_spend_usd, yes, stdin_is_terminal())
    console = stderr_console()
    for line in lines:
        if not quiet or line.startswith("notice:"):
            console.print(f"costcli: {line}")


def spend_cap_message(t: TargetResult) -> str:
    """Why a run the spend cap stopped exits 1."""
    from costcli.results.metrics import RunCost

    cost = t.summary.cost
    spent = f"${cost.total_usd:.4f}" if isinstance(cost, RunCost) else "its priced usage"
    return (
        f"{t.label}: stopped at --max-spend-usd: the next request could have passed the cap; "
        f"{t.summary.requests.total} measured requests cost {spent} (warm-up not counted "
        "here), the requests in flight finished"
    )
