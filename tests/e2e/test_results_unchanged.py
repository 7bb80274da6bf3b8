"""A results document does not change when the code is rearranged: the same plan, seed and
fake clock give, byte for byte, the document that costcli wrote before the packages were
drawn (tests/fixtures/golden-clockwork.json, written by commit 4583cf9 with the same fake
adapter, clock and host), plus the fields added since, null in this run (a target's
`price_provider`, a record's `service_tier`). Only the folder of the prices file differs
between checkouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app
from costcli.load import clock, runner
from tests.fakes import CLOCK, Clockwork

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden-clockwork.json"


def test_a_graded_run_on_a_fake_clock_writes_the_document_it_wrote_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner.registry, "create", Clockwork)
    monkeypatch.setattr(clock, "perf_ns", CLOCK.now)
    monkeypatch.setattr(runner, "now_iso", lambda: "2026-12-01T00:00:00.000+00:00")
    host = {"hostname": "golden", "platform": "Linux", "python": "3.11", "cpus": 2}
    monkeypatch.setattr(runner, "host_info", lambda: host)
    monkeypatch.chdir(tmp_path)  # no ./providers or ./prices.toml of the caller's
    (tmp_path / "clock.toml").write_text(
        'name = "clock"\nadapter = "clockwork"\ndefault_model = "m"\n', encoding="utf-8"
    )
    CLOCK.t = 0
    out = tmp_path / "r.json"
    done = CliRunner().invoke(
        app,
        ["run", "-t", "clock", "--providers", str(tmp_path / "clock.toml"), "-n", "7", "-c", "1",
         "--records", "--seed", "3", "-w", "extract-graded", "-q", "-o", str(out)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    # the one line the journal added: where it is (beside -o); everything else as it was
    journal = f',\n    "journal": "{(tmp_path / "r.journal.jsonl").resolve()}"'
    text = out.read_text(encoding="utf-8")
    assert journal in text
    written = text.replace(journal, "").replace(str(ROOT) + "/", "ROOT/")
    assert written == GOLDEN.read_text(encoding="utf-8")
