"""--output is checked before anything is measured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_an_unwritable_output_is_refused_before_the_run(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    # nothing listens on port 9: had costcli started measuring, it would exit 3, not 2
    path = provider_file("nowhere", base_url="http://127.0.0.1:9/v1")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli(
        "run", "--providers", str(path), "-t", "nowhere", "-n", "1", "-o", str(blocker / "r.json")
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("costcli: error: --output ")
    assert "pick another path" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_output_folder_is_not_a_file_path(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = provider_file("nowhere", base_url="http://127.0.0.1:9/v1")
    result = cli("run", "--providers", str(path), "-t", "nowhere", "-n", "1", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert "not a writable file path" in result.stderr
