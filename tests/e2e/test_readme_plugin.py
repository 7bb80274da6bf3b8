"""The plugin example in the README works: an adapter from the `costcli.adapters` group."""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.adapters import registry
from costcli.cli import app
from costcli.files import entry_points as entry_point_lookup

ROOT = Path(__file__).resolve().parents[2]


def readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", text, re.S)
    assert found, f"README has no block after <!-- {marker} -->"
    return found.group(1)


@pytest.fixture
def echo_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "costcli_echo.py").write_text(readme_block("plugin-adapter"), encoding="utf-8")
    (tmp_path / "echo.toml").write_text(readme_block("plugin-provider"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = registry.GROUP
    entry = EntryPoint(name="echo", value="costcli_echo:EchoAdapter", group=group)
    real = entry_point_lookup.entry_points

    def with_plugin(**kwargs: str) -> list[EntryPoint]:
        found = list(real(**kwargs))
        return [*found, entry] if kwargs.get("group") == group else found

    monkeypatch.setattr(entry_point_lookup, "entry_points", with_plugin)
    yield tmp_path
    sys.modules.pop("costcli_echo", None)


def test_the_readme_plugin_registers_through_the_entry_point_group(echo_plugin: Path) -> None:
    entries = registry.available()
    assert entries["echo"].origin != "built-in"
    assert entries["openai"].origin == "built-in"


def test_the_readme_plugin_is_measured_like_a_built_in(echo_plugin: Path) -> None:
    args = ["run", "--providers", str(echo_plugin / "echo.toml"), "-t", "echo", "-n", "3"]
    result = CliRunner().invoke(app, [*args, "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    target = json.loads(result.stdout)["targets"][0]
    assert target["adapter"] == "echo"
    assert target["summary"]["requests"] == {"total": 3, "ok": 3, "failed": 0}
    # chat-short's first three prompts, echoed word by word: 9 + 9 + 8 words
    assert target["summary"]["output_tokens"]["total"] == 26
