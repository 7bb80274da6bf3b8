"""The spend cap (`--max-spend-usd`, `RunPlan.max_spend_usd`) and the worst case of a run.

After each request the run's spend so far is its priced usage, each finished request
priced as the run's cost prices it (`pricing.cost.billed_usage` and `usage_cost`). Before
each request is sent, the spend plus every in-flight request's worst case plus the new
request's own must stay within the cap; where it would not, no new request is sent, the
requests in flight finish, and the target is `stopped: "spend_cap"` (exit 1).

A request's worst case is its `max_tokens` at the output rate (or the reasoning rate, where
that is dearer) plus an upper bound of its prompt at the input rate (or the cache-write
rate, where dearer), at the dearest long-context tier that bound reaches and at the
service tier the target asks for (all the model offers under `auto`), plus any
per-request fee. The prompt's bound is its UTF-8 bytes (no tokenizer makes more tokens
than bytes: every token stands for at least one) plus a chat template's allowance per
message and per request, and one for the hidden prompt of tool use.

The cap is the whole run's: every target, load point and warm-up request counts against
it. A run split into N parts (`--processes N`, `--shard i/N`, `--engine ray --workers N`)
gives each part cap / N, kept by that part alone: the parts together never pass the cap,
though one part may stop while another still had room.

A journaled run writes its spend to the journal as it goes: a `spend` line with the
worst case held (`held`) before each request is sent, and one with what it cost (`usd`)
and the hold released (`held`, negative) when it ends, warm-up requests too. A resumed
run (`--resume`) starts from the sum of those lines: what the journal's requests cost,
plus the worst case of any it never heard end (in flight at a kill), so the run and its
resumes together stay within the cap. A part resumes from its own journal's lines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from costcli.adapters.anthropic import max_tokens_sent
from costcli.adapters.catalog import Target
from costcli.files.errors import BadInputError
from costcli.load.schedule import WHOLE, LoadSettings, Shard, arrivals
from costcli.pricing.cost import MTOK, ReportedUsage, billed_usage, rates_for, usage_cost
from costcli.pricing.prices import SERVICE_TIERS, ModelPrice, Prices, ServiceTier
from costcli.workloads.spec import RequestSpec, Workload

MESSAGE_OVERHEAD_TOKENS = 8  # a chat template's tokens around one message (OpenAI: 3-4)
REQUEST_OVERHEAD_TOKENS = 16  # and around the whole prompt (the reply's priming)
TOOLS_OVERHEAD_TOKENS = 600  # the hidden prompt of tool use (Anthropic: up to ~530)
NOTE_OVER_USD = 1.0  # a worst case over this is printed before the run
CONFIRM_OVER_USD = 50.0  # a worst case over this needs --max-spend-usd or --yes
MAX_COUNTED_ARRIVALS = 10_000_000  # an open loop's planned arrivals counted one by one


def _text_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if value is None:
        return 0
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def prompt_token_bound(spec: RequestSpec) -> int:
    """At most how many input tokens the request can be billed for (see the module)."""
    tokens = REQUEST_OVERHEAD_TOKENS
    for message in spec.messages:
        tokens += MESSAGE_OVERHEAD_TOKENS + _text_bytes(message.get("content"))
        tokens += _text_bytes(message.get("tool_calls"))
    if spec.tools:
        tokens += TOOLS_OVERHEAD_TOKENS + _text_bytes(list(spec.tools))
    return tokens + _text_bytes(spec.response_format)


def output_token_cap(target: Target, spec: RequestSpec) -> int | None:
    """The most output tokens (reasoning included) the request may be billed for: its
    `max_tokens`, as the target's adapter sends it (a thinking budget raises it); None:
    no bound."""
    budget = target.settings.thinking_budget_tokens if target.settings else None
    if spec.max_tokens is None:
        return None
    return max_tokens_sent(spec.max_tokens, budget) if budget else spec.max_tokens


def _tiers(target: Target, price: ModelPrice) -> tuple[ServiceTier, ...]:
    """The service tiers a request of the target may be billed at."""
    asked = target.settings.service_tier if target.settings else None
    if asked == "auto":
        return tuple(t for t in SERVICE_TIERS if price.offers(t))
    chosen: ServiceTier = next((t for t in SERVICE_TIERS if t == asked), "default")
    return (chosen,)


@dataclass(frozen=True)
class TargetPrice:
    """One target's list price, as the cap reads it."""

    target: Target
    price: ModelPrice
    tiers: tuple[ServiceTier, ...]

    def worst_usd(self, input_tokens: float, output_tokens: float) -> float:
        """USD at most for a request of these token counts (the dearest rates that apply)."""
        worst = 0.0
        for tier in self.tiers:
            r = rates_for(self.price, input_tokens, tier)
            per_input = max(r.input, r.cached_input, r.cache_write, r.cache_write_1h)
            per_output = max(r.output, r.reasoning)
            worst = max(worst, (input_tokens * per_input + output_tokens * per_output) / MTOK)
        return worst + self.price.per_request_usd

    def request_worst_usd(self, spec: RequestSpec) -> float:
        cap = output_token_cap(self.target, spec)
        if cap is None:
            return math.inf
        return self.worst_usd(prompt_token_bound(spec), cap)

    def cost_usd(self, usage: ReportedUsage) -> float:
        """What the finished request costs in the run's cost (0 without reported usage)."""
        billed = billed_usage(usage)
        return usage_cost(self.price, billed) if billed is not None else 0.0


def unpriced_reason(target: Target, prices: Prices | None) -> str | None:
    """Why the run's cost of the target is not priced per token; None: it is."""
    if target.self_hosted:
        return "it is self-hosted (priced by hardware, not per token)"
    if prices is None:
        return "no prices file"
    if prices.get_model(target.price_provider, target.model) is None:
        return (
            f"no price for {target.price_provider}:{target.model} in {prices.path or 'prices.toml'}"
        )
    return None


def target_price(target: Target, prices: Prices | None) -> TargetPrice | None:
    if unpriced_reason(target, prices) is not None or prices is None:
        return None
    price = prices.get_model(target.price_provider, target.model)
    assert price is not None
    return TargetPrice(target, price, _tiers(target, price))


class SpendMeter:
    """One target's requests against the run's budget: asked before each request is sent,
    told when it ends (`load.schedule.SpendGuard`)."""

    def __init__(self, budget: SpendBudget, price: TargetPrice) -> None:
        self.budget, self.price = budget, price

    @property
    def refused(self) -> bool:
        return self.budget.refused

    def admit(self, spec: RequestSpec) -> float | None:
        """The request's worst case, now held against the cap; None: it could pass the cap,
        so it is not sent (nor any after it)."""
        budget = self.budget
        worst = self.price.request_worst_usd(spec)
        if budget.refused or budget.spent_usd + budget.held_usd + worst > budget.cap_usd:
            budget.refused = True
            return None
        budget.held_usd += worst
        budget.in_flight += 1
        if budget.ledger is not None:  # before it is sent: a kill now still counts it
            budget.ledger({"k": "spend", "held": worst})
        return worst

    def settle(self, held: float, usage: ReportedUsage) -> None:
        """The request ended: its hold is released and what it cost is spent."""
        budget = self.budget
        budget.in_flight -= 1
        budget.held_usd = budget.held_usd - held if budget.in_flight else 0.0
        cost = self.price.cost_usd(usage)
        budget.spent_usd += cost
        budget.requests += 1
        if budget.ledger is not None:
            budget.ledger({"k": "spend", "usd": cost, "held": -held})


@dataclass
class SpendBudget:
    """One run's (or one part's) cap and what is spent and held against it so far."""

    cap_usd: float
    spent_usd: float = 0.0
    held_usd: float = 0.0  # the worst case of the requests in flight
    in_flight: int = 0
    requests: int = 0  # finished, warm-up ones too
    refused: bool = False  # a request was held back: no more are sent
    # the journal's `spend` lines (see the module), as `JournalWriter.event` writes them
    ledger: Callable[[dict[str, Any]], None] | None = None

    @classmethod
    def of_part(
        cls,
        cap_usd: float | None,
        shard: Shard = WHOLE,
        spent_usd: float = 0.0,
        ledger: Callable[[dict[str, Any]], None] | None = None,
    ) -> SpendBudget | None:
        """The budget of part `shard` of a run capped at `cap_usd` (None: no cap), with
        `spent_usd` already spent (a resume: its journal's spend)."""
        if cap_usd is None:
            return None
        return cls(cap_usd=cap_usd / shard.count, spent_usd=spent_usd, ledger=ledger)

    def meter(self, target: Target, prices: Prices | None) -> SpendMeter:
        price = target_price(target, prices)
        if price is None:  # resolve() refuses this first: `check_cap`
            raise BadInputError(_unpriced_message(target, prices))
        return SpendMeter(self, price)


# --- before the run ---------------------------------------------------------------------


def _unpriced_message(target: Target, prices: Prices | None) -> str:
    return (
        f"--max-spend-usd: {target.label} cannot be capped: {unpriced_reason(target, prices)}; "
        "a cap cannot be kept without prices: give its price (--prices FILE) or drop "
        "--max-spend-usd"
    )


def check_cap(
    targets: Sequence[Target],
    workload: Workload,
    prices: Prices | None,
    cap_usd: float | None,
    parts: int = 1,
) -> None:
    """A cap the run could not keep is refused before anything is sent: an unpriced
    target, a request without max_tokens, a cap (or a part's share) below one request."""
    if cap_usd is None:
        return
    for target in targets:
        if target_price(target, prices) is None:
            raise BadInputError(_unpriced_message(target, prices))
    unbounded = next((s for s in workload.items if s.max_tokens is None), None)
    if unbounded is not None and workload.max_tokens is None:
        raise BadInputError(
            f"--max-spend-usd: request {unbounded.index} of workload '{workload.name}' has no "
            "max_tokens, so its cost has no bound; add --max-tokens N"
        )
    share = cap_usd / parts
    for target in targets:
        price = target_price(target, prices)
        assert price is not None
        cheapest = min(price.request_worst_usd(workload.prepare(s, 0)) for s in workload.items)
        if cheapest > share:
            each = f" (each of the {parts} parts holds ${share:.4g})" if parts > 1 else ""
            raise BadInputError(
                f"--max-spend-usd {cap_usd:g}: below one request's worst case at "
                f"{target.label}'s list price (${cheapest:.4g}){each}, so nothing could be "
                "sent; raise it"
            )


def _arrivals_within(
    settings: LoadSettings, shard: Shard, duration_s: float, fixed_ms: Sequence[float] | None
) -> int:
    """The open loop's arrivals of the shard planned before `duration_s` (seeded, or the
    workload's own times)."""
    limit_ns = duration_s * 1e9
    count = 0
    for count, (_, offset_ns) in enumerate(arrivals(settings, shard, fixed_ms), start=1):
        if offset_ns >= limit_ns:
            return count - 1
        if count >= MAX_COUNTED_ARRIVALS:
            break
    return count


def planned_requests(
    settings: LoadSettings, workload: Workload, shard: Shard = WHOLE
) -> int | None:
    """At most how many requests one load point sends, warm-up included; None: no bound
    (a closed loop stopped only by --duration)."""
    warmup = settings.warmup if workload.sessions else shard.share(settings.warmup)
    requests = settings.requests
    if workload.sessions:
        if settings.sessions is not None:
            longest = max(map(len, workload.sessions))
            turns = settings.sessions * longest
            requests = turns if requests is None else min(turns, requests)
        elif requests is None and settings.duration_s is None:
            requests = sum(map(len, workload.sessions))
        return None if requests is None else warmup + requests
    measured = shard.share(requests) if requests is not None else None
    if settings.duration_s is not None and settings.rate:
        timed = _arrivals_within(settings, shard, settings.duration_s, workload.schedule_ms)
        measured = timed if measured is None else min(measured, timed)
    return None if measured is None else warmup + measured


def _turn_bounds(target: Target, workload: Workload) -> Iterable[tuple[int, int | None]]:
    """(prompt bound, output cap) of every request template; a conversation's turn carries
    its earlier turns and their answers (each at its output cap, re-read as input)."""
    if not workload.sessions:
        for item in workload.items:
            spec = workload.prepare(item, 0)
            yield prompt_token_bound(spec), output_token_cap(target, spec)
        return
    for session in workload.sessions:
        history: list[dict[str, Any]] = []
        answers = 0
        for i in session:
            turn = workload.prepare(workload.items[i], 0)
            spec = replace(turn, messages=(*history, *turn.messages))
            cap = output_token_cap(target, spec)
            yield prompt_token_bound(spec) + answers, cap
            history += turn.messages
            answers += MESSAGE_OVERHEAD_TOKENS + (cap or 0)


@dataclass(frozen=True)
class WorstCase:
    """One priced target's worst-case spend over the run (None: no bound)."""

    label: str
    requests: int | None
    input_tokens: int
    output_tokens: int | None
    usd: float | None

    def line(self) -> str:
        if self.usd is None:
            why = (
                "a --duration closed loop has no request count"
                if self.requests is None
                else "a request has no max_tokens"
            )
            return f"{self.label}: worst-case spend has no bound ({why})"
        return (
            f"{self.label}: worst-case spend ${self.usd:,.2f} ({self.requests:,} requests x up "
            f"to {self.input_tokens:,} input and {self.output_tokens:,} output tokens at list "
            "price)"
        )


def worst_case(
    targets: Sequence[Target],
    workload: Workload,
    points: Sequence[LoadSettings],
    prices: Prices | None,
    shard: Shard = WHOLE,
    repeat: int = 1,
) -> list[WorstCase]:
    """Every priced target's worst case: requests (every round's, under --repeat) x the
    dearest request's worst case."""
    found = []
    counts = [planned_requests(s, workload, shard) for s in points]
    requests = None if None in counts else repeat * sum(c or 0 for c in counts)
    for target in targets:
        price = target_price(target, prices)
        if price is None:
            continue
        bounds = list(_turn_bounds(target, workload))
        max_in = max(b for b, _ in bounds)
        caps = [c for _, c in bounds]
        max_out = None if None in caps else max(c or 0 for c in caps)
        usd = None
        if requests is not None and max_out is not None:
            usd = requests * max(price.worst_usd(b, c or 0) for b, c in bounds)
        found.append(WorstCase(target.label, requests, max_in, max_out, usd))
    return found


def preflight(
    cases: Sequence[WorstCase], cap_usd: float | None, yes: bool, interactive: bool
) -> list[str]:
    """The lines to print before a run (worst cases over NOTE_OVER_USD); a worst case over
    CONFIRM_OVER_USD without a cap or --yes is refused at a terminal (BadInputError) and
    a notice elsewhere (CI must not hang on it)."""
    total = sum(c.usd for c in cases if c.usd is not None)
    unbounded = any(c.usd is None for c in cases)
    lines = [c.line() for c in cases if c.usd is None or c.usd > NOTE_OVER_USD]
    if cap_usd is not None:
        if lines:
            lines.append(f"--max-spend-usd {cap_usd:g} caps it")
        return lines
    if yes or not (unbounded or total > CONFIRM_OVER_USD):
        return lines
    what = "has no bound" if unbounded else f"is ${total:,.2f}, over ${CONFIRM_OVER_USD:g}"
    if interactive:
        raise BadInputError(
            f"the run's worst-case spend {what}: add --max-spend-usd USD to cap it, or --yes "
            "to run it as it is"
        )
    return [
        *lines,
        f"notice: the run's worst-case spend {what} and neither --max-spend-usd nor --yes "
        "was given; running on, as stdin is not a terminal",
    ]
