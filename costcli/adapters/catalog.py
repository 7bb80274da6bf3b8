"""The provider catalogue: providers/*.toml -> ProviderFile -> Target.

Files are found on a search path (DESIGN.md): `--providers` flags, then the
`COSTCLI_PROVIDERS` environment variable (os.pathsep-separated), then `./providers/`,
then the user config dir (`$XDG_CONFIG_HOME/costcli/providers`), then the bundled copy.
A provider defined earlier on the path wins over one of the same name defined later.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, cast
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from costcli.files.errors import BadInputError
from costcli.files.locations import read_toml, search_path
from costcli.files.readers import validate
from costcli.files.redact import Redactor, is_secret_header, url_credentials

MAX_LIMIT = 10**12  # a rate limit above this is a typo, and would overflow float arithmetic
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token


def check_base_url(url: str) -> str:
    """An http(s) URL with a host and a valid port, as httpx will need it at run time."""
    form = "write http(s)://HOST[:PORT]/PATH"
    if not url:  # empty: no endpoint (a managed llama.cpp server), as if the key were absent
        return url
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"holds a space or control character; {form}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a URL ({exc}); {form}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"is not an http(s) URL; {form}")
    if not parts.hostname:
        raise ValueError(f"has no host; {form}")
    if port == 0:
        raise ValueError(f"port 0 cannot be connected to; {form}")
    if PLAIN_URL.fullmatch(url):
        return url  # printable ASCII of URL characters only: nothing httpx would refuse
    import httpx  # 20 MB: only for a URL that needs its judgement

    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValueError(f"is not a URL httpx can use ({exc}); {form}") from None
    return url


PLAIN_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header names are HTTP tokens; values printable ASCII (no CR/LF: no header injection)."""
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"header name {name!r} is not an HTTP token; use letters, digits, -")
        if not all(" " <= ch <= "~" or ch == "\t" for ch in value):
            raise ValueError(f"header {name!r} holds a control or non-ASCII character; remove it")
    return headers


class RateLimit(BaseModel):
    """One tier's limits for one model (None: no limit of that kind published)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    tier: str
    model: str
    rpm: int | None = Field(default=None, gt=0, le=MAX_LIMIT)
    tpm: int | None = Field(default=None, gt=0, le=MAX_LIMIT)
    rpd: int | None = Field(default=None, gt=0, le=MAX_LIMIT)
    tpd: int | None = Field(default=None, gt=0, le=MAX_LIMIT)
    source: str
    as_of: date


class UsageTier(BaseModel):
    """One account tier's monthly spend cap (None: no cap published for the tier)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str
    monthly_spend_cap_usd: float | None = Field(default=None, gt=0)
    source: str
    as_of: date


class ProviderFile(BaseModel):
    """One providers/*.toml file."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    adapter: str = Field(min_length=1)
    base_url: Annotated[str, AfterValidator(check_base_url)] | None = None
    api_key_env: str | None = Field(default=None, pattern=ENV_NAME)
    # optional: a target that names its model (`provider:model`) needs none
    default_model: str | None = Field(default=None, min_length=1)
    headers: Annotated[dict[str, str], AfterValidator(check_headers)] = Field(default_factory=dict)
    models: list[str] = Field(default_factory=list)
    self_hosted: bool = False
    hardware: str | None = None
    # the request field that caps output: "max_tokens" (most servers) or "max_completion_tokens"
    max_tokens_param: str = Field(
        default="max_tokens", pattern=r"^(max_tokens|max_completion_tokens)$"
    )
    # the prices file's provider whose entries price these models (openai-responses: openai)
    prices_from: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    # OpenAI Responses: `reasoning.effort` and `service_tier` sent with every request
    reasoning_effort: str | None = Field(
        default=None, pattern=r"^(none|minimal|low|medium|high|xhigh)$"
    )
    service_tier: str | None = Field(default=None, pattern=r"^(auto|default|flex|priority)$")
    # llama.cpp managed mode (DESIGN.md: adapters/llamacpp)
    binary: str | None = None
    model_path: str | None = None
    # llama-server's --chat-template for the managed server (the bundled Gemma gets "gemma")
    chat_template: str | None = None
    server_args: list[str] = Field(default_factory=list)
    # Anthropic extended thinking: `thinking: {type: enabled, budget_tokens}` (min 1024)
    thinking_budget_tokens: int | None = Field(default=None, ge=1024, le=MAX_LIMIT)
    rate_limits: list[RateLimit] = Field(default_factory=list)
    usage_tiers: list[UsageTier] = Field(default_factory=list)
    # an OpenAI-compatible server with vLLM's extra sampling parameters (vLLM, SGLang): a
    # fixed-length request (synthetic:, mooncake:) also sends ignore_eos and min_tokens
    fixed_length_params: bool = False

    @property
    def known_models(self) -> list[str]:
        """The models the file lists, else its default model (if it names one)."""
        return self.models or ([self.default_model] if self.default_model else [])


@dataclass(frozen=True)
class Target:
    """One provider endpoint and model to measure."""

    provider: str
    model: str
    adapter: str
    base_url: str | None
    api_key_env: str | None
    headers: dict[str, str] = field(default_factory=dict)
    self_hosted: bool = False
    source_file: Path | None = None
    settings: ProviderFile | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def price_provider(self) -> str:
        """The provider the prices file lists this target's model under."""
        found = self.settings.prices_from if self.settings else None
        return found or self.provider

    def api_key(self) -> str | None:
        """The key from the environment; never stored on the target, never logged."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


@dataclass
class Catalog:
    providers: dict[str, ProviderFile]
    files: dict[str, Path]

    def names(self) -> list[str]:
        return sorted(self.providers)

    def resolve(self, spec: str, *, require_key: bool = True, require_model: bool = True) -> Target:
        """`PROVIDER[:MODEL]` -> Target. Splits on the first colon (model names may hold one)."""
        name, _, model = spec.partition(":")
        if name not in self.providers:
            close = difflib.get_close_matches(name, self.names(), n=3)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else "available: " + ", ".join(self.names())
            )
            raise BadInputError(f"--target {spec}: unknown provider '{name}'; {hint}")
        prov = self.providers[name]
        path = self.files[name]
        if require_key and prov.api_key_env and not os.environ.get(prov.api_key_env):
            raise BadInputError(
                f"{path}: key 'api_key_env' names {prov.api_key_env}, which is not set; "
                f"export {prov.api_key_env}=... or pick another target"
            )
        if require_model and not model and not prov.default_model:
            raise BadInputError(
                f"--target {spec}: {path} sets no 'default_model'; name the model "
                f"(--target {name}:MODEL) or add default_model to the file"
            )
        return Target(
            provider=prov.name,
            model=model or prov.default_model or "",
            adapter=prov.adapter,
            base_url=prov.base_url,
            api_key_env=prov.api_key_env,
            headers=dict(prov.headers),
            self_hosted=prov.self_hosted,
            source_file=path,
            settings=prov,
        )


def _provider_files(roots: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files += sorted(root.glob("*.toml")) if root.is_dir() else [root]
    return files


def read_provider_file(path: Path) -> ProviderFile:
    """One provider file, every problem of it at once (unknown keys first)."""
    data = read_toml(path, "a provider TOML file")
    return cast(ProviderFile, validate(ProviderFile, data, str(path)))


def load_catalog(extra: Sequence[Path] = ()) -> Catalog:
    """Load every provider file on the search path; earlier definitions win."""
    providers: dict[str, ProviderFile] = {}
    files: dict[str, Path] = {}
    for path in _provider_files(search_path("providers", extra, "COSTCLI_PROVIDERS")):
        prov = read_provider_file(path)
        if prov.name not in providers:
            providers[prov.name] = prov
            files[prov.name] = path
    return Catalog(providers, files)


def for_target(target: Target) -> Redactor:
    """The redactor of one target: its key, its secret headers, its URL credentials."""
    values: list[str | None] = []
    if target.api_key_env:
        values.append(os.environ.get(target.api_key_env))
    values += [v for k, v in target.headers.items() if is_secret_header(k)]
    values += url_credentials(target.base_url)
    return Redactor.of(values)
