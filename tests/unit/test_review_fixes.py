"""Behaviours pinned after review: billing, start failures, plugins, redaction, search path."""

from __future__ import annotations

import asyncio
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from costcli.adapters import registry
from costcli.adapters.base import ConnectError, TransportOptions
from costcli.adapters.catalog import Target, load_catalog
from costcli.adapters.openai import OpenAIAdapter
from costcli.files import entry_points as entry_point_lookup
from costcli.files.errors import BadInputError, UnreachableError
from costcli.load import runner
from costcli.load.measure import Measurement
from costcli.pricing.prices import parse_prices
from costcli.results.metrics import Digest, RequestRecord, RunCost

PRICES = parse_prices(
    {
        "models": [
            {
                "provider": "acme",
                "model": "m1",
                "input_per_mtok": 1.0,
                "output_per_mtok": 2.0,
                "source": "https://example.com",
                "as_of": "2026-11-20",
            }
        ]
    },
    "prices.toml",
)
ACME = Target("acme", "m1", "openai", "http://127.0.0.1:9/v1", None)


def record(
    i: int, out: int | None, *, error: str | None = None, estimated: bool = False
) -> RequestRecord:
    rec = Measurement(index=i, scheduled_ns=0, sent_ns=0, end_ns=1)
    rec.input_tokens, rec.output_tokens, rec.tokens_estimated, rec.error = (
        100,
        out,
        estimated,
        error,
    )
    return rec.record(epoch_ns=0)


def test_an_answer_that_failed_its_schema_is_still_billed_but_an_estimate_is_not() -> None:
    records = [
        record(0, 10),
        record(1, 20, error="invalid_output"),  # generated and billed in full
        record(2, 3, error="stream_aborted", estimated=True),  # no usage from the server
    ]
    cost = runner.run_cost(ACME, Digest().extend(records), PRICES)
    assert isinstance(cost, RunCost)
    # (100 x 1 + 10 x 2) + (100 x 1 + 20 x 2) = 260 USD per 1M tokens -> 0.00026 USD
    assert cost.total_usd == pytest.approx(260 / 1e6)


def test_a_target_that_cannot_start_is_unreachable_in_one_line() -> None:
    class Refusing(OpenAIAdapter):
        async def start(self) -> None:
            raise ConnectError("cannot connect to 127.0.0.1:9")

    adapter = Refusing(ACME, TransportOptions())
    with pytest.raises(UnreachableError, match=r"^acme:m1: cannot start: cannot connect"):
        asyncio.run(runner.start(adapter, ACME))


def test_a_plugin_that_cannot_be_imported_names_itself_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = EntryPoint(name="broken", value="no_such_module_xyz:Adapter", group=registry.GROUP)
    monkeypatch.setattr(
        entry_point_lookup,
        "entry_points",
        lambda **kw: [broken] if kw.get("group") == registry.GROUP else [],
    )
    target = Target("p", "m", "broken", "http://x/v1", None, source_file=Path("p.toml"))
    with pytest.raises(
        BadInputError, match=r"p.toml: key 'adapter' is 'broken'.*cannot be loaded.*reinstall"
    ):
        registry.create(target, TransportOptions())


def test_the_key_is_cut_out_of_provider_error_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", "sk-live-123456")
    target = Target("acme", "m1", "openai", "http://x/v1", "ACME_KEY")
    adapter = OpenAIAdapter(target, TransportOptions())
    echoed = "bad request: headers were Authorization: Bearer sk-live-123456 (key sk-live-123456)"
    cleaned = adapter.redact(echoed)
    assert "sk-live-123456" not in cleaned
    assert "Bearer [redacted]" in cleaned


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:sk-123@api.example.com/v1", "https://api.example.com/v1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        (None, None),
    ],
)
def test_results_never_carry_credentials_in_the_base_url(
    url: str | None, shown: str | None
) -> None:
    assert runner.redact_url(url) == shown


def test_a_providers_folder_in_the_environment_that_does_not_exist_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COSTCLI_PROVIDERS", str(tmp_path / "missing"))
    with pytest.raises(
        BadInputError, match=r"^COSTCLI_PROVIDERS=.*does not exist; fix or unset COSTCLI_PROVIDERS"
    ):
        load_catalog()
