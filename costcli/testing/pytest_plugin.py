"""The `costcli_bench` fixture: benchmark a provider from a test, gate it with the tools a
team already uses.

    def test_chat_latency(costcli_bench):
        t = costcli_bench(target="mock", workload="chat-short", requests=20, concurrency=4,
                          slo={"ttft_ms": 500}, providers=["providers/"])
        assert t.summary.error_rate == 0

The fixture runs a `RunPlan` through `costcli.execute` (the same call as `costcli run`)
and returns the target's `TargetResult`. Where pytest-benchmark is active, each measured
request is one benchmark round (its E2E latency, in seconds) and the TTFT/ITL/TPOT
percentiles, tokens, error counts and cost go into `extra_info`, so `--benchmark-autosave`
and `--benchmark-compare-fail=median:10%` gate a provider in CI.

A target whose API key is not in the environment is skipped (pytest's `-rs` says which
variable), or fails with `--costcli-require-keys`. Installed as a `pytest11` entry point.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from costcli.results.document import TargetResult

REQUIRE_KEYS = "--costcli-require-keys"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("costcli")
    group.addoption(
        REQUIRE_KEYS,
        action="store_true",
        help="costcli_bench: fail (not skip) when a target's API key is not set.",
    )


def missing_key(target: str, providers: Any = ()) -> str | None:
    """The environment variable a target needs that is not set, if any."""
    from costcli.adapters.catalog import load_catalog

    catalog = load_catalog(tuple(Path(p) for p in providers))
    prov = catalog.providers.get(target.partition(":")[0])
    env = prov.api_key_env if prov else None
    return env if env and not os.environ.get(env) else None


def extra_info(t: TargetResult) -> dict[str, Any]:
    """What pytest-benchmark stores beside the rounds: figures by name, costcli's units."""
    s = t.summary
    info: dict[str, Any] = {
        "costcli_target": t.label,
        "requests_ok": s.requests.ok,
        "requests_failed": s.requests.failed,
        "error_rate": s.error_rate,
        "errors": {k: v for k, v in s.errors.items() if v},
        "input_tokens_mean": s.input_tokens.mean,
        "output_tokens_mean": s.output_tokens.mean,
        "output_tokens_per_s": s.throughput.output_tokens_per_s,
    }
    for name in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
        p = getattr(s, name)
        if p is not None:
            info.update({f"{name}_{q}": getattr(p, q) for q in ("p50", "p90", "p95", "p99")})
    if s.goodput is not None:
        info["goodput_rps"] = s.goodput.requests_per_s
    cost = t.cost_per_1k_requests_usd
    info["cost_per_1k_requests_usd"] = cost if cost is not None else "unpriced"
    return info


def feed(benchmark: Any, t: TargetResult) -> None:
    """One pytest-benchmark round per measured request (E2E, seconds).

    pytest-benchmark times functions it calls itself; it has no public way to take
    latencies measured elsewhere, so this uses its `_make_stats` (pinned by a test).
    """
    if getattr(benchmark, "disabled", False) or not t.records:
        return
    benchmark._mode = "costcli_bench(...)"
    stats = benchmark._make_stats(1)
    for record in t.records:
        if record.ok:
            stats.update(record.e2e_ms / 1000.0)
    benchmark.extra_info.update(extra_info(t))


@pytest.fixture
def costcli_bench(request: pytest.FixtureRequest) -> Callable[..., TargetResult]:
    """Run one target's plan: `costcli_bench(target=..., **RunPlan options)`."""

    def bench(target: str = "llamacpp", **options: Any) -> TargetResult:
        from costcli.api import execute
        from costcli.plan import RunPlan

        env = missing_key(target, options.get("providers", ()))
        if env is not None:
            why = f"costcli_bench: {env} is not set for target {target}"
            if request.config.getoption(REQUIRE_KEYS):
                pytest.fail(why)
            pytest.skip(why)
        plan = RunPlan.parse(targets=(target,), records=True, **options)
        (result,) = execute(plan).targets
        if request.config.pluginmanager.hasplugin("benchmark"):
            feed(request.getfixturevalue("benchmark"), result)
        return result

    return bench
