"""A run against a priced target carries its cost, from the usage the server reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver_fixture import start_mock_server

pytestmark = pytest.mark.integration

PRICES = """
[[models]]
provider = "acme"
model = "m1"
input_per_mtok = 1.0
output_per_mtok = 2.0
per_request_usd = 0.001
source = "https://example.com/acme-pricing"
as_of = 2026-11-20
"""


def test_a_priced_target_gets_cost_per_request_per_1k_and_the_run_total(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")
    with start_mock_server("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "10") as (url, _):
        acme = provider_file("acme", base_url=url, default_model="m1")
        other = provider_file("other", base_url=url)
        args = ("--providers", str(acme), "--providers", str(other), "-t", "acme", "-t", "other")
        result = cli(
            "run", *args, "-n", "4", "--records", "--prices", str(prices), "-f", "json", "-q"
        )
    assert result.exit_code == 0, result.stderr
    priced, unpriced = json.loads(result.stdout)["targets"]

    records = priced["records"]
    assert all(r["output_tokens"] == 10 for r in records)
    by_hand = [(r["input_tokens"] * 1.0 + r["output_tokens"] * 2.0) / 1e6 + 0.001 for r in records]
    cost = priced["summary"]["cost"]
    assert cost["total_usd"] == pytest.approx(sum(by_hand))
    assert cost["per_request_usd"] == pytest.approx(sum(by_hand) / 4)
    assert cost["per_1k_requests_usd"] == pytest.approx(sum(by_hand) / 4 * 1000)
    assert cost["per_1m_output_tokens_usd"] == pytest.approx(sum(by_hand) / 40 * 1e6)
    assert cost["price_as_of"] == "2026-11-20"
    assert cost["price_source"] == "https://example.com/acme-pricing"

    # no price: it says so, never 0
    assert unpriced["summary"]["cost"]["unpriced"] is True
    assert "other:mock-model" in unpriced["summary"]["cost"]["reason"]
