"""`prices import-litellm` on real entries of LiteLLM 1.110.2's map (tests/fixtures excerpt)."""

from __future__ import annotations

import json
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest

from costcli.files.errors import BadInputError
from costcli.pricing.prices import (
    LITELLM_WHEEL_MAP,
    litellm_to_prices,
    parse_prices,
    prices_to_toml,
    read_litellm_map,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXCERPT = Path(__file__).resolve().parents[1] / "fixtures" / "litellm-1.110.2-excerpt.json"
DAY = date(2026, 12, 1)


def excerpt() -> dict[str, object]:
    return json.loads(EXCERPT.read_text())


def test_chat_and_responses_entries_of_openai_and_groq_are_imported() -> None:
    models = litellm_to_prices(excerpt(), ["openai", "groq"], DAY)
    # gpt-5-codex is a `responses` model; openai/container has no per-token price; the
    # azure entry and the image model are other providers / modes
    assert [m.label for m in models] == [
        "groq:openai/gpt-oss-safeguard-20b",
        "openai:gpt-5-codex",
        "openai:gpt-5-nano",
        "openai:gpt-6.1-sol",
    ]


def test_service_tier_cache_write_reasoning_and_replacement_fields_are_imported() -> None:
    by = {m.model: m for m in litellm_to_prices(excerpt(), ["openai", "groq"], DAY)}
    sol = by["gpt-6.1-sol"]
    assert (sol.flex_input_per_mtok, sol.flex_cached_input_per_mtok, sol.flex_output_per_mtok) == (
        1.0,
        0.05,
        5.0,
    )
    assert (sol.priority_input_per_mtok, sol.priority_output_per_mtok) == (4.0, 20.0)
    assert sol.cache_write_per_mtok == 2.5
    assert sol.reasoning is True
    assert sol.cache_min_input_tokens == 1024  # OpenAI's rule, PROVIDER_RULES
    nano = by["gpt-5-nano"]
    assert (nano.deprecated, nano.replacement) == (date(2026, 12, 11), "gpt-5.6-luna")
    assert nano.priority_input_per_mtok is None  # the map has flex but no priority for it
    guard = by["openai/gpt-oss-safeguard-20b"]
    assert guard.batch_discount == 0.5  # Groq's Batch API, PROVIDER_RULES
    assert guard.cache_min_input_tokens == 0
    # the TOML text round-trips through the validating loader
    ordered = sorted(by.values(), key=lambda m: m.label)
    again = parse_prices(tomllib.loads(prices_to_toml(ordered)))
    assert list(again.models) == ordered


def test_as_of_is_never_silently_today() -> None:
    with pytest.raises(BadInputError, match="pass --as-of"):
        litellm_to_prices(excerpt(), ["openai"], None)
    assert {m.as_of for m in litellm_to_prices(excerpt(), ["openai"], DAY)} == {DAY}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("input_cost_per_token", "0.000002", "'input_cost_per_token': '0.000002' is not a number"),
        ("output_cost_per_token_flex", -1e-06, "'output_cost_per_token_flex': -1e-06 is negative"),
        ("deprecation_date", "soon", "'deprecation_date': 'soon' is not a date"),
    ],
)
def test_a_malformed_entry_is_one_error_naming_the_entry_and_key(
    key: str, value: object, message: str
) -> None:
    data = excerpt()
    data["gpt-6.1-sol"] = {**data["gpt-6.1-sol"], key: value}  # type: ignore[dict-item]
    with pytest.raises(BadInputError, match=f"entry 'gpt-6.1-sol' key {message}"):
        litellm_to_prices(data, ["openai"], DAY)


def test_a_malformed_entry_of_another_provider_is_not_read() -> None:
    data = excerpt()
    data["azure/gpt-6.1-sol"] = {**data["azure/gpt-6.1-sol"], "input_cost_per_token": "x"}  # type: ignore[dict-item]
    assert len(litellm_to_prices(data, ["openai"], DAY)) == 3


def test_the_map_is_read_from_a_litellm_wheel_with_its_version(tmp_path: Path) -> None:
    wheel = tmp_path / "litellm-1.110.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(LITELLM_WHEEL_MAP, EXCERPT.read_text())
        zf.writestr("litellm-1.110.2.dist-info/METADATA", "Name: litellm\nVersion: 1.110.2\n")
    found = read_litellm_map(wheel)
    assert found.version == "1.110.2"
    assert found.source("https://map").endswith("(litellm 1.110.2 wheel)")
    assert set(found.data) == set(excerpt())
    plain = read_litellm_map(EXCERPT)
    assert plain.version is None
    assert plain.source("https://map") == "https://map"
