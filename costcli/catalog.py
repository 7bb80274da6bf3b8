"""The provider catalogue: providers/*.toml -> ProviderFile -> Target.

Files are found on a search path (DESIGN.md): `--providers` flags, then the
`COSTCLI_PROVIDERS` environment variable (os.pathsep-separated), then `./providers/`,
then the user config dir (`$XDG_CONFIG_HOME/costcli/providers`), then the bundled copy.
A provider defined earlier on the path wins over one of the same name defined later.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from costcli.errors import BadInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUNDLED_DATA = Path(__file__).parent / "data"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def bundled_path(name: str) -> Path:
    """A bundled data file or folder: inside the wheel, else the source checkout's copy."""
    inside = BUNDLED_DATA / name
    return inside if inside.exists() else SOURCE_ROOT / name


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "costcli"


def search_path(name: str, flags: Sequence[Path] = (), env_var: str | None = None) -> list[Path]:
    """Where to look for `name` (a file or folder), most specific first; only existing ones."""
    candidates: list[Path] = list(flags)
    if env_var and os.environ.get(env_var):
        from_env = [Path(p) for p in os.environ[env_var].split(os.pathsep) if p]
        for path in from_env:
            if not path.exists():
                raise BadInputError(
                    f"{env_var}={os.environ[env_var]}: {path} does not exist; fix or unset {env_var}"
                )
        candidates += from_env
    candidates += [Path.cwd() / name, user_config_dir() / name, bundled_path(name)]
    seen: list[Path] = []
    for path in candidates:
        if path.exists() and path.resolve() not in [s.resolve() for s in seen]:
            seen.append(path)
    for flag in flags:
        if not flag.exists():
            raise BadInputError(f"{flag}: no such file or folder; check the path given")
    return seen


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"{path}: not valid TOML ({exc}); fix the syntax") from exc
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror})") from exc


def validation_message(path: Path, exc: ValidationError) -> str:
    """One line for the first problem pydantic found: file, key, what is wrong, the fix."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key '{key}'; remove it or check its spelling"
    if kind == "missing":
        return f"{path}: missing key '{key}'; add it"
    return f"{path}: key '{key}': {err['msg']}; fix the value"


class RateLimit(BaseModel):
    """One tier's limits for one model (None: no limit of that kind published)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str
    model: str
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    rpd: int | None = Field(default=None, gt=0)
    tpd: int | None = Field(default=None, gt=0)
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

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    adapter: str
    base_url: str | None = None
    api_key_env: str | None = None
    default_model: str
    headers: dict[str, str] = Field(default_factory=dict)
    models: list[str] = Field(default_factory=list)
    self_hosted: bool = False
    hardware: str | None = None
    # the request field that caps output: "max_tokens" (most servers) or "max_completion_tokens"
    max_tokens_param: str = Field(
        default="max_tokens", pattern=r"^(max_tokens|max_completion_tokens)$"
    )
    # llama.cpp managed mode (DESIGN.md: adapters/llamacpp)
    binary: str | None = None
    model_path: str | None = None
    # llama-server's --chat-template for the managed server (the bundled Gemma gets "gemma")
    chat_template: str | None = None
    server_args: list[str] = Field(default_factory=list)
    rate_limits: list[RateLimit] = Field(default_factory=list)
    usage_tiers: list[UsageTier] = Field(default_factory=list)


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

    def api_key(self) -> str | None:
        """The key from the environment; never stored on the target, never logged."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


@dataclass
class Catalog:
    providers: dict[str, ProviderFile]
    files: dict[str, Path]

    def names(self) -> list[str]:
        return sorted(self.providers)

    def resolve(self, spec: str, *, require_key: bool = True) -> Target:
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
        return Target(
            provider=prov.name,
            model=model or prov.default_model,
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


def load_catalog(extra: Sequence[Path] = ()) -> Catalog:
    """Load every provider file on the search path; earlier definitions win."""
    providers: dict[str, ProviderFile] = {}
    files: dict[str, Path] = {}
    for path in _provider_files(search_path("providers", extra, "COSTCLI_PROVIDERS")):
        try:
            prov = ProviderFile.model_validate(read_toml(path))
        except ValidationError as exc:
            raise BadInputError(validation_message(path, exc)) from None
        if prov.name not in providers:
            providers[prov.name] = prov
            files[prov.name] = path
    return Catalog(providers, files)
