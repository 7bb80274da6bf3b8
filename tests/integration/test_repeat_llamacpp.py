"""`costcli run --repeat 3 --requests 5` with no target: the managed llama-server and the
bundled model, three runs (a server started for each), the README's repeats example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from costcli.adapters.local_model import find_binary, find_model
from costcli.files.errors import BadInputError

ROOT = Path(__file__).resolve().parents[2]


def _missing() -> str | None:
    try:
        find_binary()
        find_model()
    except BadInputError as exc:
        return f"llama.cpp not installed ({exc.message})"
    return None


MISSING = _missing()
pytestmark = [
    pytest.mark.llamacpp,
    pytest.mark.integration,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
    pytest.mark.timeout(400),
]


def test_the_local_default_runs_three_times_and_says_how_sure_it_is(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "costcli", "run", "--repeat", "3", "--requests", "5",
         "--no-progress", "-o", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=360, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    target = json.loads(out.read_text())["targets"][0]
    assert target["provider"] == "llamacpp"
    assert [r["requests"]["ok"] for r in target["repeats"]] == [5, 5, 5]
    low, high = target["summary"]["ttft_ms"]["ci95"]["p50"]
    assert 0 <= low <= high
    assert "repeats · llamacpp:" in done.stdout
    assert ": 3 runs, the figures above pooled over them" in done.stdout
