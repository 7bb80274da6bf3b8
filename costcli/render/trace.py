"""`costcli trace analyze`'s outputs: `render_text(facts)`, `render_json(facts)`."""

from __future__ import annotations

import json

from costcli.workloads.trace_stats import TokenFigures, TraceFacts


def render_json(facts: TraceFacts) -> str:
    return json.dumps(facts.model_dump(mode="json"), indent=2) + "\n"


def _tokens(figures: TokenFigures) -> str:
    return f"mean {figures.mean:,.1f} · p50 {figures.p50:,.1f} · p99 {figures.p99:,.1f}"


def render_text(facts: TraceFacts) -> str:
    mean = "-" if facts.mean_rate_rps is None else f"{facts.mean_rate_rps:.3f} req/s"
    rows = [
        ("requests", f"{facts.requests:,}"),
        ("duration", f"{facts.duration_s:,.1f} s"),
        ("mean rate", mean),
        ("peak rate", f"{facts.peak_rate_rps} req/s (busiest 1-second window)"),
        ("input tokens", _tokens(facts.input_tokens)),
        ("output tokens", _tokens(facts.output_tokens)),
        (
            "prefix hit share",
            f"{facts.prefix_hit_share:.1%} of input tokens (a perfect prefix cache)",
        ),
    ]
    if facts.hourly_profile is None:
        rows.append(("hourly profile", "- (the trace spans under a day)"))
    else:
        rows.append(("hourly profile", ",".join(f"{w:g}" for w in facts.hourly_profile)))
    width = max(len(name) for name, _ in rows)
    return "".join(f"{name:<{width}}  {value}\n" for name, value in rows)
