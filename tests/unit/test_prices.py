"""prices.toml: loading, the search path, validation messages, the check, LiteLLM import."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from costcli.files.errors import BadInputError
from costcli.files.locations import bundled_path
from costcli.pricing.prices import (
    check_prices,
    litellm_to_prices,
    load_prices,
    parse_prices,
    prices_to_toml,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TODAY = date(2026, 11, 26)

GOOD = """
[[models]]
provider = "openai"
model = "gpt-4o-mini"
input_per_mtok = 0.15
cached_input_per_mtok = 0.075
output_per_mtok = 0.60
source = "https://example.com/pricing"
as_of = 2026-11-26

[[hardware]]
name = "box"
hourly_usd = 1.0
watts = 100
source = "https://example.com/rent"
as_of = 2026-11-26
"""


def write(tmp_path: Path, text: str, name: str = "prices.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_defaults_filled_in(tmp_path: Path) -> None:
    prices = load_prices(write(tmp_path, GOOD))
    p = prices.find_model("openai", "gpt-4o-mini")
    assert p.reasoning_per_mtok is None
    assert p.batch_discount == 0
    hw = prices.find_hardware("box")
    assert hw.idle_watts == 100  # defaults to watts
    assert hw.pue == 1.0
    assert hw.electricity_usd_per_kwh == 0


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (("input_per_mtok = 0.15", "input_per_mtok = -0.15"), "models.0.input_per_mtok"),
        (("output_per_mtok = 0.60\n", ""), "models.0.output_per_mtok"),
        (
            ("as_of = 2026-11-26\n\n[[hardware]]", 'as_of = "last week"\n\n[[hardware]]'),
            "models.0.as_of",
        ),
        (
            ('model = "gpt-4o-mini"', 'model = "gpt-4o-mini"\ninput_price = 1'),
            "models.0.input_price",
        ),
        (('source = "https://example.com/pricing"\n', ""), "models.0.source"),
    ],
    ids=["negative price", "missing price", "bad date", "unknown key", "missing source"],
)
def test_a_bad_file_exits_2_naming_file_and_key(
    tmp_path: Path, edit: tuple[str, str], key: str
) -> None:
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(BadInputError) as err:
        load_prices(path)
    assert err.value.exit_code == 2
    assert str(path) in err.value.message
    assert f"'{key}'" in err.value.message


def test_a_duplicate_model_is_refused(tmp_path: Path) -> None:
    model_block = GOOD.split("[[hardware]]", maxsplit=1)[0]
    path = write(tmp_path, model_block + model_block)
    with pytest.raises(BadInputError, match=r"'models\.1' repeats openai:gpt-4o-mini"):
        load_prices(path)


def test_a_duplicate_hardware_name_is_refused(tmp_path: Path) -> None:
    hw_block = "[[hardware]]" + GOOD.split("[[hardware]]")[1]
    path = write(tmp_path, GOOD + hw_block)
    with pytest.raises(BadInputError, match=r"'hardware\.1\.name' repeats 'box'"):
        load_prices(path)


def test_hardware_needs_rent_or_capex_not_both(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("hourly_usd = 1.0", "hourly_usd = 1.0\ncapex_usd = 9"))
    with pytest.raises(BadInputError, match=r"'hardware\.0'"):
        load_prices(path)


def test_an_unknown_model_suggests_the_closest_names(tmp_path: Path) -> None:
    prices = load_prices(write(tmp_path, GOOD))
    with pytest.raises(BadInputError, match="closest: openai:gpt-4o-mini") as err:
        prices.find_model("openai", "gpt-4o-mni")
    assert err.value.exit_code == 2
    with pytest.raises(BadInputError, match="closest: box"):
        prices.find_hardware("bx")


def test_the_first_file_on_the_search_path_wins_wholesale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write(tmp_path, GOOD.replace("gpt-4o-mini", "from-env"), "env.toml")
    monkeypatch.setenv("COSTCLI_PRICES", str(env_file))
    monkeypatch.chdir(tmp_path)
    prices = load_prices()
    assert prices.path == env_file
    assert [p.model for p in prices.models] == ["from-env"]  # bundled entries not merged in
    flag_file = write(tmp_path, GOOD, "flag.toml")
    assert load_prices(flag_file).path == flag_file


def test_a_missing_prices_flag_exits_2(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        load_prices(tmp_path / "nope.toml")


def test_check_flags_stale_prices_and_missing_provenance() -> None:
    text = GOOD.replace("as_of = 2026-11-26", "as_of = 2026-01-01", 1).replace(
        "https://example.com/rent", "a friend told me"
    )
    problems = check_prices(parse_prices(tomllib.loads(text)), TODAY)
    messages = [str(p) for p in problems]
    assert any("error: openai:gpt-4o-mini: price is 329 days old" in m for m in messages)
    assert any("error: hardware box: source 'a friend told me' is not a URL" in m for m in messages)


def test_check_warns_about_a_shut_down_model_without_calling_it_stale() -> None:
    text = GOOD.replace("as_of = 2026-11-26", "as_of = 2026-01-01\ndeprecated = 2026-08-16", 1)
    problems = check_prices(parse_prices(tomllib.loads(text)), TODAY)
    assert [(p.level, p.message) for p in problems] == [
        ("warning", "shut down on 2026-08-16; migrate off it")
    ]


def test_the_bundled_file_passes_the_check() -> None:
    prices = load_prices(bundled_path("prices.toml"))
    refreshed = date(2026, 12, 1)  # the day the OpenAI and Groq catalogue was last read
    read_anthropic = date(2026, 12, 3)  # the Anthropic entries and the OpenAI additions
    errors = [p for p in check_prices(prices, read_anthropic) if p.level == "error"]
    assert errors == []
    for label in (
        "openai:gpt-6.1-sol",
        "openai:gpt-6.1-terra",
        "openai:gpt-6-luna",
        "openai:gpt-5.6-luna",
        "groq:openai/gpt-oss-safeguard-20b",
    ):
        provider, _, model = label.partition(":")
        assert prices.find_model(provider, model).as_of == refreshed, label
    sol = prices.find_model("openai", "gpt-6.1-sol")
    assert (sol.flex_input_per_mtok, sol.priority_input_per_mtok, sol.cache_write_per_mtok) == (
        1.0,
        4.0,
        2.5,
    )
    assert prices.find_model("groq", "openai/gpt-oss-20b").batch_discount == 0.5
    for model in ("o3", "gpt-5.5-pro"):
        assert prices.find_model("openai", model).as_of == read_anthropic, model


def test_the_bundled_file_prices_anthropic_cache_writes_by_ttl() -> None:
    prices = load_prices(bundled_path("prices.toml"))
    opus = prices.find_model("anthropic", "claude-opus-4-5")
    rates = (
        opus.input_per_mtok,
        opus.cached_input_per_mtok,
        opus.cache_write_per_mtok,
        opus.cache_write_1h_per_mtok,
        opus.output_per_mtok,
        opus.batch_discount,
        opus.reasoning,
    )
    assert rates == (5.0, 0.5, 6.25, 10.0, 25.0, 0.5, True)
    assert opus.source == "https://platform.claude.com/docs/en/about-claude/pricing"
    assert opus.as_of == date(2026, 12, 3)
    sonnet = prices.find_model("anthropic", "claude-sonnet-4-5")
    (tier,) = sonnet.tiers
    assert (tier.above_input_tokens, tier.input_per_mtok, tier.output_per_mtok) == (
        200_000,
        6.0,
        22.5,
    )
    haiku = prices.find_model("anthropic", "claude-haiku-5-5")
    assert [t.above_input_tokens for t in haiku.tiers] == [100_000]
    assert prices.find_model("openai", "gpt-4.1-mini").input_per_mtok == 0.4
    assert prices.find_model("groq", "llama-3.1-8b-instant").deprecated == date(2026, 8, 16)
    assert {"cpu-2vcpu-vm", "l4-rent", "a10g-rent", "h100-sxm-rent"} <= {
        h.name for h in prices.hardware
    }


LITELLM = {
    "sample_spec": {"input_cost_per_token": 0, "litellm_provider": "openai"},
    "gpt-x": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 2.5e-07,
        "input_cost_per_token_batches": 1.25e-06,
        "input_cost_per_token_above_272k_tokens": 5e-06,
        "output_cost_per_token_above_272k_tokens": 2.25e-05,
        "deprecation_date": "2027-01-14",
        "source": "https://developers.openai.com/api/docs/pricing",
    },
    "groq/openai/gpt-oss-20b": {
        "litellm_provider": "groq",
        "mode": "chat",
        "input_cost_per_token": 7.5e-08,
        "output_cost_per_token": 3e-07,
    },
    "text-embedding-3-small": {
        "litellm_provider": "openai",
        "mode": "embedding",
        "input_cost_per_token": 2e-08,
        "output_cost_per_token": 0,
    },
}


def test_litellm_map_converts_to_prices_toml_entries() -> None:
    models = litellm_to_prices(LITELLM, ["openai", "groq"], TODAY, "https://map")
    assert [m.label for m in models] == ["groq:openai/gpt-oss-20b", "openai:gpt-x"]
    gpt = models[1]
    assert (gpt.input_per_mtok, gpt.cached_input_per_mtok, gpt.output_per_mtok) == (2.5, 0.25, 15.0)
    assert gpt.batch_discount == 0.5
    assert gpt.deprecated == date(2027, 1, 14)
    assert gpt.tiers[0].above_input_tokens == 272_000
    assert (gpt.tiers[0].input_per_mtok, gpt.tiers[0].output_per_mtok) == (5.0, 22.5)
    assert gpt.source.startswith("https://map (upstream: https://developers.openai.com")
    # the TOML text round-trips through the validating loader
    again = parse_prices(tomllib.loads(prices_to_toml(models)))
    assert again.models == tuple(models)


def test_litellm_provider_filter() -> None:
    models = litellm_to_prices(LITELLM, ["groq"], TODAY)
    assert [m.model for m in models] == ["openai/gpt-oss-20b"]
