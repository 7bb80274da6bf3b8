"""Dated prices: per-token API prices and self-hosting hardware profiles (prices.toml).

The file is found on the search path (DESIGN.md): `--prices FILE`, then `COSTCLI_PRICES`
(os.pathsep-separated), then `./prices.toml`, then the user config dir, then the bundled
copy. The FIRST file found is used on its own: a user's file replaces the bundled one
wholesale rather than being merged into it, so what you read is exactly what is priced.

Token semantics follow the OpenAI usage object: `cached_input_tokens` are part of the
input tokens and `reasoning_tokens` are part of the output tokens.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from costcli.files.errors import BadInputError
from costcli.files.locations import read_toml, search_path
from costcli.files.readers import validate

PRICES_FILE = "prices.toml"
PRICES_ENV = "COSTCLI_PRICES"
DEFAULT_MAX_AGE_DAYS = 90
# Rents and power draws move slowly next to token prices; a year is the threshold for them.
DEFAULT_HARDWARE_MAX_AGE_DAYS = 365
MTOK = 1_000_000
# Upper bounds: far above any real figure, low enough that a month of arithmetic stays finite.
MAX_USD_PER_MTOK = 1e6
MAX_USD = 1e12
MAX_WATTS = 1e7
MAX_TOKENS = 10**12


class PriceTier(BaseModel):
    """Long-context pricing: a request whose prompt is strictly above the threshold is
    billed whole at these rates. A tier without a cached rate bills cached input at the
    tier's input rate (never under-bills)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    above_input_tokens: int = Field(ge=0, le=MAX_TOKENS)
    input_per_mtok: float = Field(ge=0, le=MAX_USD_PER_MTOK)
    output_per_mtok: float = Field(ge=0, le=MAX_USD_PER_MTOK)
    cached_input_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    reasoning_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)


ServiceTier = Literal["default", "flex", "priority"]
SERVICE_TIERS: tuple[ServiceTier, ...] = ("default", "flex", "priority")


class ModelPrice(BaseModel):
    """One API model's price, in USD per 1M tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    input_per_mtok: float = Field(ge=0, le=MAX_USD_PER_MTOK)
    cached_input_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    output_per_mtok: float = Field(ge=0, le=MAX_USD_PER_MTOK)
    reasoning_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    # a reasoning model spends hidden output tokens; a shape without them under-prices it.
    # A model with a reasoning_per_mtok is one whatever this says (see _priced_reasoning).
    reasoning: bool = False
    # cached input is discounted only for prompts of at least this many tokens (OpenAI: 1024)
    cache_min_input_tokens: int = Field(default=0, ge=0, le=100_000_000)
    # input tokens written to the prompt cache are billed at this rate instead of the input rate
    # (Anthropic: the 5-minute TTL, 1.25x input)
    cache_write_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    # writes with the 1-hour TTL (Anthropic: 2x input); default: cache_write_per_mtok
    cache_write_1h_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    # service tiers (OpenAI `service_tier`): flex is slower and cheaper, priority dearer
    flex_input_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    flex_cached_input_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    flex_output_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    priority_input_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    priority_cached_input_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    priority_output_per_mtok: float | None = Field(default=None, ge=0, le=MAX_USD_PER_MTOK)
    batch_discount: float = Field(default=0.0, ge=0, le=1)
    per_request_usd: float = Field(default=0.0, ge=0, le=MAX_USD)
    source: str = Field(min_length=1)
    as_of: date
    deprecated: date | None = None
    replacement: str | None = None  # the model the provider names as its successor
    tiers: list[PriceTier] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _priced_reasoning(cls, data: Any) -> Any:
        """A model whose reasoning tokens have a price of their own is a reasoning model."""
        if isinstance(data, dict) and data.get("reasoning_per_mtok") is not None:
            data = {**data, "reasoning": True}
        return data

    @model_validator(mode="after")
    def _tiers_distinct(self) -> ModelPrice:
        thresholds = [t.above_input_tokens for t in self.tiers]
        if len(set(thresholds)) != len(thresholds):
            raise ValueError("two tiers share one above_input_tokens threshold")
        for tier in ("flex", "priority"):
            given = [
                getattr(self, f"{tier}_{kind}_per_mtok") is None for kind in ("input", "output")
            ]
            if any(given) and not all(given):
                raise ValueError(f"give both {tier}_input_per_mtok and {tier}_output_per_mtok")
        return self

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    def offers(self, service_tier: ServiceTier) -> bool:
        """Whether this model has a price for the service tier (default always has)."""
        return (
            service_tier == "default" or getattr(self, f"{service_tier}_input_per_mtok") is not None
        )


HardwarePricing = Literal["on-demand", "spot", "reserved"]
HARDWARE_PRICINGS: tuple[HardwarePricing, ...] = ("on-demand", "spot", "reserved")


class HardwareProfile(BaseModel):
    """One self-hosting box: rented (hourly_usd) or owned (capex_usd over months)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    hourly_usd: float | None = Field(default=None, ge=0, le=MAX_USD)
    spot_hourly_usd: float | None = Field(default=None, ge=0, le=MAX_USD)
    reserved_hourly_usd: float | None = Field(default=None, ge=0, le=MAX_USD)
    capex_usd: float | None = Field(default=None, ge=0, le=MAX_USD)
    amortization_months: float | None = Field(default=None, gt=0, le=1200)
    watts: float = Field(ge=0, le=MAX_WATTS)
    idle_watts: float | None = Field(default=None, ge=0, le=MAX_WATTS)
    pue: float = Field(default=1.0, ge=1.0, le=10)
    electricity_usd_per_kwh: float = Field(default=0.0, ge=0, le=1000)
    source: str = Field(min_length=1)
    as_of: date

    @model_validator(mode="before")
    @classmethod
    def _idle_defaults_to_watts(cls, data: Any) -> Any:
        watts = data.get("watts") if isinstance(data, dict) else None
        finite = isinstance(watts, int | float) and math.isfinite(watts)
        if finite and data.get("idle_watts") is None:  # a bad watts is reported once, as itself
            data = {**data, "idle_watts": watts}
        return data

    @model_validator(mode="after")
    def _rent_xor_capex(self) -> HardwareProfile:
        owned = self.capex_usd is not None or self.amortization_months is not None
        if self.hourly_usd is not None and owned:
            raise ValueError("give hourly_usd (rented) or capex_usd + amortization_months (owned)")
        if self.hourly_usd is None and (self.capex_usd is None or self.amortization_months is None):
            raise ValueError("give hourly_usd, or both capex_usd and amortization_months")
        if self.idle_watts is not None and self.idle_watts > self.watts:
            raise ValueError("idle_watts is above watts")
        rented = (self.spot_hourly_usd, self.reserved_hourly_usd)
        if self.hourly_usd is None and any(v is not None for v in rented):
            raise ValueError("spot_hourly_usd and reserved_hourly_usd need hourly_usd (a rental)")
        return self

    def rent_per_hour(self, pricing: HardwarePricing = "on-demand") -> float | None:
        """The hourly rent under a pricing model; None for an owned box or an unpriced model."""
        if pricing == "spot":
            return self.spot_hourly_usd
        if pricing == "reserved":
            return self.reserved_hourly_usd
        return self.hourly_usd

    @property
    def idle(self) -> float:
        return self.watts if self.idle_watts is None else self.idle_watts

    def fixed_monthly_usd(self, hours_per_month: float) -> float:
        """Rent for a month, or the owned box's capex spread over its amortisation."""
        if self.hourly_usd is not None:
            return self.hourly_usd * hours_per_month
        assert self.capex_usd is not None
        assert self.amortization_months is not None
        return self.capex_usd / self.amortization_months


class PricesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    models: list[ModelPrice] = Field(default_factory=list)
    hardware: list[HardwareProfile] = Field(default_factory=list)


def _closest(wanted: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.5)
    if close:
        return "closest: " + ", ".join(close)
    return "known: " + (", ".join(sorted(names)[:12]) or "(none)")


@dataclass(frozen=True)
class Prices:
    """The prices in force: one file's models and hardware."""

    models: tuple[ModelPrice, ...]
    hardware: tuple[HardwareProfile, ...]
    path: Path | None = None

    def get_model(self, provider: str, model: str) -> ModelPrice | None:
        for price in self.models:
            if price.provider == provider and price.model == model:
                return price
        return None

    def find_model(self, provider: str, model: str) -> ModelPrice:
        price = self.get_model(provider, model)
        if price is None:
            where = self.path or PRICES_FILE
            wanted = f"{provider}:{model}"
            labels = [p.label for p in self.models]
            raise BadInputError(
                f"{where}: no price for '{wanted}'; {_closest(wanted, labels)}"
                " (add a [[models]] entry or pass --prices FILE)"
            )
        return price

    def get_hardware(self, name: str) -> HardwareProfile | None:
        return next((h for h in self.hardware if h.name == name), None)

    def find_hardware(self, name: str) -> HardwareProfile:
        hw = self.get_hardware(name)
        if hw is None:
            where = self.path or PRICES_FILE
            names = [h.name for h in self.hardware]
            raise BadInputError(
                f"{where}: no hardware profile '{name}'; {_closest(name, names)}"
                " (add a [[hardware]] entry or pass --prices FILE)"
            )
        return hw


def parse_prices(data: dict[str, Any], path: Path | str = PRICES_FILE) -> Prices:
    """Validate a parsed prices.toml; every problem, one line each, naming file and key."""
    parsed = cast(PricesFile, validate(PricesFile, data, str(path)))
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for i, price in enumerate(parsed.models):
        key = (price.provider, price.model)
        if key in seen:
            problems.append(
                f"{path}: key 'models.{i}' repeats {price.label} (first at 'models.{seen[key]}');"
                " keep one entry per provider and model"
            )
        seen.setdefault(key, i)
    names: dict[str, int] = {}
    for i, hw in enumerate(parsed.hardware):
        if hw.name in names:
            problems.append(
                f"{path}: key 'hardware.{i}.name' repeats '{hw.name}' (first at "
                f"'hardware.{names[hw.name]}'); give each profile its own name"
            )
        names.setdefault(hw.name, i)
    if problems:
        raise BadInputError.of(problems)
    return Prices(tuple(parsed.models), tuple(parsed.hardware), Path(path))


def prices_path(flag: Path | None = None) -> Path:
    """The prices file in force: the first one on the search path."""
    found = search_path(PRICES_FILE, [flag] if flag else [], PRICES_ENV)
    if not found:
        raise BadInputError(
            f"{PRICES_FILE}: not found on the search path; pass --prices FILE or set {PRICES_ENV}"
        )
    return found[0]


def load_prices(flag: Path | None = None) -> Prices:
    """Load the first prices file on the search path (a user's file overrides wholesale)."""
    path = prices_path(flag)
    return parse_prices(read_toml(path, "a prices.toml file"), path)


def is_stale(as_of: date, today: date, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> bool:
    return (today - as_of).days > max_age_days


def is_retired(price: ModelPrice, today: date) -> bool:
    return price.deprecated is not None and price.deprecated <= today


def require_live(price: ModelPrice, today: date, where: Path | str | None = None) -> ModelPrice:
    """The price, unless its model has shut down: then a BadInputError naming the date."""
    if not is_retired(price, today):
        return price
    instead = f"; its replacement is {price.replacement}" if price.replacement else ""
    raise BadInputError(
        f"{where or PRICES_FILE}: {price.label} shut down on {price.deprecated}{instead}"
        " (project a current model)"
    )


@dataclass(frozen=True)
class PriceProblem:
    """One finding of `check_prices`: errors fail `costcli prices check`, warnings do not."""

    level: Literal["error", "warning"]
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.subject}: {self.message}"


def _provenance(subject: str, source: str) -> list[PriceProblem]:
    if source.strip().lower().startswith(("http://", "https://")):
        return []
    return [
        PriceProblem(
            "error", subject, f"source '{source}' is not a URL; name the page the figure came from"
        )
    ]


def check_prices(
    prices: Prices,
    today: date,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    hardware_max_age_days: int = DEFAULT_HARDWARE_MAX_AGE_DAYS,
) -> list[PriceProblem]:
    """Stale entries, missing provenance, dates in the future, deprecated models.

    A model past its shut-down date is a warning (its price stays for pricing old runs) and
    is not also reported stale; one shutting down within `max_age_days` is a warning too.
    """
    problems: list[PriceProblem] = []
    for price in prices.models:
        subject = price.label
        problems += _provenance(subject, price.source)
        if price.as_of > today:
            problems.append(PriceProblem("error", subject, f"as_of {price.as_of} is in the future"))
        if is_retired(price, today):
            problems.append(
                PriceProblem("warning", subject, f"shut down on {price.deprecated}; migrate off it")
            )
        elif is_stale(price.as_of, today, max_age_days):
            age = (today - price.as_of).days
            problems.append(
                PriceProblem(
                    "error", subject, f"price is {age} days old (as_of {price.as_of}); refresh it"
                )
            )
        upcoming = price.deprecated and not is_retired(price, today)
        if upcoming and price.deprecated and (price.deprecated - today).days <= max_age_days:
            problems.append(PriceProblem("warning", subject, f"shuts down on {price.deprecated}"))
    for hw in prices.hardware:
        subject = f"hardware {hw.name}"
        problems += _provenance(subject, hw.source)
        if hw.as_of > today:
            problems.append(PriceProblem("error", subject, f"as_of {hw.as_of} is in the future"))
        elif is_stale(hw.as_of, today, hardware_max_age_days):
            age = (today - hw.as_of).days
            problems.append(
                PriceProblem(
                    "error", subject, f"figures are {age} days old (as_of {hw.as_of}); refresh them"
                )
            )
    return problems


def entry_dicts(items: Iterable[BaseModel]) -> list[dict[str, Any]]:
    """Every field of each entry, JSON-ready (dates as ISO strings)."""
    return [item.model_dump(mode="json") for item in items]


# --- LiteLLM's community price map -> prices.toml ------------------------------------------

LITELLM_MAP_URL = (
    "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json"
)
_TIER_KEY = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")


# What the map does not carry, by provider, each from the provider's own page:
# - OpenAI discounts cached input only for prompts of 1,024 tokens or more
#   (https://platform.openai.com/docs/guides/prompt-caching).
# - Groq's Batch API takes 50% off (https://groq.com/pricing, "The Batch API offers a 50%
#   discount"); the map has no `*_batches` keys for Groq.
PROVIDER_RULES: dict[str, dict[str, Any]] = {
    "openai": {"cache_min_input_tokens": 1024},
    "groq": {"batch_discount": 0.5},
}
LITELLM_MODES = ("chat", "responses")


def _per_mtok(value: Any, entry: str = "", key: str = "") -> float | None:
    """USD per token -> per 1M tokens; None when absent; a non-number is an error."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise BadInputError(f"entry '{entry}' key '{key}': {value} is negative; fix the entry")
        return round(float(value) * MTOK, 9)
    raise BadInputError(
        f"entry '{entry}' key '{key}': {value!r} is not a number (USD per token); fix the entry"
    )


def _litellm_tiers(name: str, entry: Mapping[str, Any]) -> list[PriceTier]:
    tiers = []
    for key in entry:
        match = _TIER_KEY.match(key)
        if not match:
            continue
        k = match.group(1)
        out_key = f"output_cost_per_token_above_{k}k_tokens"
        inp = _per_mtok(entry[key], name, key)
        out = _per_mtok(entry.get(out_key), name, out_key)
        if inp is None or out is None:
            continue
        cached_key = f"cache_read_input_token_cost_above_{k}k_tokens"
        tiers.append(
            PriceTier(
                above_input_tokens=int(k) * 1000,
                input_per_mtok=inp,
                output_per_mtok=out,
                cached_input_per_mtok=_per_mtok(entry.get(cached_key), name, cached_key),
            )
        )
    return sorted(tiers, key=lambda t: t.above_input_tokens)


def _litellm_date(name: str, entry: Mapping[str, Any], key: str) -> date | None:
    value = entry.get(key)
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadInputError(
            f"entry '{name}' key '{key}': {value!r} is not a date (YYYY-MM-DD); fix the entry"
        ) from None


def _litellm_price(
    name: str, entry: Mapping[str, Any], provider: str, as_of: date, source: str
) -> ModelPrice | None:
    """One map entry as a ModelPrice; None if it has no per-token prices."""

    def rate(key: str) -> float | None:
        return _per_mtok(entry.get(key), name, key)

    inp, outp = rate("input_cost_per_token"), rate("output_cost_per_token")
    if inp is None or outp is None:
        return None
    batch = rate("input_cost_per_token_batches")
    rules = PROVIDER_RULES.get(provider, {})
    discount = round(1 - batch / inp, 6) if batch is not None and inp > 0 else None
    if discount is None:
        discount = rules.get("batch_discount", 0.0)
    successor = entry.get("successor_model")
    fields: dict[str, Any] = {
        "provider": provider,
        "model": name.removeprefix(f"{provider}/"),
        "input_per_mtok": inp,
        "cached_input_per_mtok": rate("cache_read_input_token_cost"),
        "output_per_mtok": outp,
        "reasoning_per_mtok": rate("output_cost_per_reasoning_token"),
        "reasoning": entry.get("supports_reasoning") is True,
        "cache_min_input_tokens": rules.get("cache_min_input_tokens", 0),
        "cache_write_per_mtok": rate("cache_creation_input_token_cost"),
        "cache_write_1h_per_mtok": rate("cache_creation_input_token_cost_above_1hr"),
        "batch_discount": min(max(discount, 0.0), 1.0),
        "source": f"{source} (upstream: {entry['source']})" if entry.get("source") else source,
        "as_of": as_of,
        "deprecated": _litellm_date(name, entry, "deprecation_date"),
        "replacement": successor if isinstance(successor, str) else None,
        "tiers": _litellm_tiers(name, entry),
    }
    for tier in ("flex", "priority"):
        t_in, t_out = rate(f"input_cost_per_token_{tier}"), rate(f"output_cost_per_token_{tier}")
        if t_in is not None and t_out is not None:
            fields[f"{tier}_input_per_mtok"] = t_in
            fields[f"{tier}_output_per_mtok"] = t_out
            fields[f"{tier}_cached_input_per_mtok"] = rate(f"cache_read_input_token_cost_{tier}")
    try:
        return ModelPrice.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(entry)"
        raise BadInputError(f"entry '{name}' key '{key}': {err['msg']}; fix the entry") from None


LITELLM_WHEEL_MAP = "litellm/model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class LitellmMap:
    """LiteLLM's price map as read, and the litellm version it shipped in (from a wheel)."""

    data: dict[str, Any]
    version: str | None = None

    def source(self, base: str = LITELLM_MAP_URL) -> str:
        return f"{base} (litellm {self.version} wheel)" if self.version else base


def read_litellm_map(path: Path) -> LitellmMap:
    """The map from its JSON file, or from inside a litellm wheel (which names its version)."""
    import json
    import zipfile

    version = None
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as wheel:
                names = wheel.namelist()
                if LITELLM_WHEEL_MAP not in names:
                    raise BadInputError(f"{path}: no {LITELLM_WHEEL_MAP} inside; is it litellm's?")
                meta = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
                if meta:
                    for line in wheel.read(meta).decode("utf-8", "replace").splitlines():
                        if line.startswith("Version:"):
                            version = line.partition(":")[2].strip()
                            break
                text = wheel.read(LITELLM_WHEEL_MAP).decode("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise BadInputError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: expected a JSON object of model entries")
    return LitellmMap(data, version)


def litellm_to_prices(
    data: Mapping[str, Any],
    providers: Sequence[str] = (),
    as_of: date | None = None,
    source: str = LITELLM_MAP_URL,
) -> list[ModelPrice]:
    """Chat and responses models of LiteLLM's JSON map as ModelPrice entries (USD per token
    x 1e6). `as_of` is required: the map carries no date of its own.

    `litellm_provider` becomes `provider`, a `provider/` prefix is taken off the model name,
    `cache_read_input_token_cost` is the cached rate, `cache_creation_input_token_cost` the
    cache-write rate (Anthropic's 5-minute TTL), `cache_creation_input_token_cost_above_1hr`
    the 1-hour-TTL write rate, `*_flex` / `*_priority` the service-tier rates, `*_above_Nk_tokens`
    become tiers, `input_cost_per_token_batches` gives the batch discount,
    `deprecation_date` the shut-down date, `successor_model` the replacement,
    `supports_reasoning` (or an `output_cost_per_reasoning_token`) marks a reasoning model, and PROVIDER_RULES fills in what the map
    does not carry. An entry's own `source` is cited beside `source`. A malformed entry of a
    wanted provider is a BadInputError naming the entry and key: nothing is returned.
    """
    if as_of is None:
        raise BadInputError(
            "import-litellm: pass --as-of YYYY-MM-DD, the day the map was published or read"
            " (the map carries no date; costcli does not stamp today)"
        )
    wanted = set(providers)
    out: dict[tuple[str, str], ModelPrice] = {}
    for key, entry in data.items():
        if not isinstance(entry, Mapping) or entry.get("mode", "chat") not in LITELLM_MODES:
            continue
        provider = entry.get("litellm_provider")
        if not isinstance(provider, str) or (wanted and provider not in wanted):
            continue
        price = _litellm_price(key, entry, provider, as_of, source)
        if price is not None:
            out.setdefault((provider, price.model), price)
    return sorted(out.values(), key=lambda p: (p.provider, p.model))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_table(header: str, fields: Mapping[str, Any], indent: str = "") -> list[str]:
    lines = [f"{indent}[[{header}]]"]
    for key, value in fields.items():
        if value is None or isinstance(value, list):
            continue
        lines.append(f"{indent}{key} = {_toml_value(value)}")
    return lines


def prices_to_toml(models: Iterable[ModelPrice], hardware: Iterable[HardwareProfile] = ()) -> str:
    """prices.toml text for the entries (optional fields left at their default are omitted)."""
    defaults = {
        "batch_discount": 0.0,
        "per_request_usd": 0.0,
        "reasoning": False,
        "cache_min_input_tokens": 0,
    }
    lines: list[str] = []
    for price in models:
        fields = {
            k: v
            for k, v in price.model_dump(exclude={"tiers"}).items()
            if defaults.get(k, object()) != v
        }
        lines += _toml_table("models", fields)
        for tier in price.tiers:
            lines += _toml_table("models.tiers", tier.model_dump(), indent="  ")
        lines.append("")
    for hw in hardware:
        lines += _toml_table("hardware", hw.model_dump())
        lines.append("")
    return "\n".join(lines)
