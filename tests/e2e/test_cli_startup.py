"""The CLI starts fast: building the command tree imports no pydantic, rich or httpx.

`costcli --help`, `--version` and `<group> --help` only need typer; the core modules
(pydantic models, Rich renderers, the HTTP client) are imported inside the commands that
use them. These checks are deterministic (no timing); benchmarks/startup.py measures speed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pydantic", "rich", "httpx")

PROBE = (
    "import sys, json\n"
    "{setup}\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))\n"
)


def _heavy_modules_after(setup: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_costcli_cli_loads_no_heavy_module() -> None:
    loaded = _heavy_modules_after("import costcli.cli")
    assert loaded == [], f"`import costcli.cli` imported {loaded}; import them lazily"


def test_the_probe_does_see_heavy_imports() -> None:
    # The check above must be able to fail: the same probe sees pydantic and rich here.
    loaded = _heavy_modules_after("import costcli.cli.check, costcli.pricing.prices, rich.console")
    assert "pydantic" in loaded
    assert "rich.console" in loaded


LIGHT_CORE = {"costcli", "costcli.files", "costcli.files.errors", "costcli.render"}

CORE_PROBE = (
    "from costcli.cli import app\n"
    "try:\n    app({argv!r}, prog_name='costcli')\n"
    "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.startswith('costcli'))))"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        ["prices", "--help"],
        ["check", "--help"],
        ["report", "--help"],
        ["project", "--help"],
        ["providers", "list", "--help"],
    ],
)
def test_help_and_version_load_no_core_module(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=CORE_PROBE.format(argv=argv), heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    *_, costcli_line, heavy_line = proc.stdout.strip().splitlines()
    core = [m for m in json.loads(costcli_line) if not m.startswith("costcli.cli")]
    assert set(core) <= LIGHT_CORE, f"costcli {' '.join(argv)} imported {core}"
    heavy = json.loads(heavy_line)
    # typer itself builds pydantic adapters for a command's parameters (typer._adapters),
    # so pydantic is allowed once a command's options are parsed; rich and httpx are not.
    assert not [m for m in heavy if m.split(".")[0] in ("rich", "httpx")], heavy
    if argv[0].startswith("--"):
        assert heavy == [], heavy


def test_cli_option_defaults_match_the_core() -> None:
    # costcli.cli.prices copies these so that `costcli prices --help` stays light.
    from costcli.cli import prices as cli
    from costcli.pricing import prices as core

    assert cli.DEFAULT_MAX_AGE_DAYS == core.DEFAULT_MAX_AGE_DAYS
    assert cli.DEFAULT_HARDWARE_MAX_AGE_DAYS == core.DEFAULT_HARDWARE_MAX_AGE_DAYS
    assert cli.LITELLM_MAP_URL == core.LITELLM_MAP_URL
