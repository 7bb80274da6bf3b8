"""Shared fixtures: the mock server as a subprocess, and provider files pointing at it."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mockserver_fixture import start_mock_server

__all__ = ["start_mock_server"]


@pytest.fixture(autouse=True, scope="session")
def _cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A run without --output journals to the user's cache folder: the suite's go to a
    folder of its own (subprocesses inherit it), not to the machine's ~/.cache."""
    import os

    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture
def provider_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a provider TOML into tmp_path: `provider_file("m", base_url=..., adapter="groq")`."""

    def write(name: str, **keys: object) -> Path:
        keys = {"adapter": "openai", "default_model": "mock-model", **keys}
        lines = [f'name = "{name}"']
        for key, value in keys.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {str(value).lower()}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f'{key} = "{value}"')
        path = tmp_path / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run `costcli ARGS...` in-process; stdout and stderr apart."""
    from typer.testing import CliRunner

    from costcli.cli import app

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    return invoke


pytest_plugins = ["pytester"]
