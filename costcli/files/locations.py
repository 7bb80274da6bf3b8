"""Where costcli's own files are found: the bundled copies (inside the wheel, else the
source checkout's), the user config dir, and the search path every file kind shares
(flags, then an environment variable, then the current folder, the user config dir, the
bundled copy; DESIGN.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from costcli.files.errors import BadInputError
from costcli.files.readers import parse_toml, read_text

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # costcli/
BUNDLED_DATA = PACKAGE_ROOT / "data"
SOURCE_ROOT = PACKAGE_ROOT.parent


def bundled_path(name: str) -> Path:
    """A bundled data file or folder: inside the wheel, else the source checkout's copy."""
    inside = BUNDLED_DATA / name
    return inside if inside.exists() else SOURCE_ROOT / name


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "costcli"


def user_cache_dir() -> Path:
    """Where costcli keeps what a run leaves behind without --output (its journal)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
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


def read_toml(path: Path, what: str = "a TOML file") -> dict[str, Any]:
    """A TOML file through the shared reader (decoding, syntax, depth: one line each)."""
    return parse_toml(path, read_text(path, what))
