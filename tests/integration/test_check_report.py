"""`costcli check` and `costcli report` on fresh runs against the mock server, as a user runs them.

Each run: `costcli run --target mock -n 40 -c 4 --records -o FILE` in a subprocess against
a mock server subprocess (TTFT 120 ms, or 600 ms for the five-times-slower run).

A loaded machine makes every latency later, never earlier, so a verdict asserted here must be
one that no load can flip: the slower run's server is five times slower (a 120 ms run would
need its tail stretched past 545 ms to hide that). Where timing alone decides (two runs of the
same server), the test asserts the verdict's structure; tests/unit/test_regress.py pins the
verdicts on committed fixture files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from tests.mockserver_fixture import REPO_ROOT, start_mock_server
except ImportError:  # `tests/` itself is on sys.path (rootdir-less pytest import mode)
    from mockserver_fixture import REPO_ROOT, start_mock_server  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

SERVER = ("--itl-ms", "5", "--output-tokens", "10")


def costcli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    environ.update(env or {})
    environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), environ.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "costcli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=environ,
        timeout=120,
        check=False,
    )


def measure(folder: Path, name: str, ttft_ms: int, *extra: str) -> Path:
    """A fresh mock server with this TTFT, one `costcli run` against it, the results file."""
    out = folder / f"{name}.json"
    with start_mock_server("--ttft-ms", str(ttft_ms), *SERVER) as (base_url, _):
        providers = folder / f"{name}-mock.toml"
        providers.write_text(
            f'name = "mock"\nadapter = "openai"\nbase_url = "{base_url}"\n'
            'default_model = "mock-model"\n',
            encoding="utf-8",
        )
        done = costcli(
            "run", "--target", "mock", "--providers", str(providers), "-n", "40", "-c", "4",
            "--records", "--no-progress", "-q", "-o", str(out), "--format", "json", *extra,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("runs")
    return {
        "baseline": measure(folder, "baseline", 120),
        "same": measure(folder, "same", 120),
        "slower": measure(folder, "slower", 600, "-c", "8"),
        "other": measure(folder, "other", 120, "-w", "json-extract"),
    }


def verdict(done: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(done.stdout)


def test_same_server_twice_gets_a_bootstrap_verdict_that_follows_its_interval(
    runs: dict[str, Path],
) -> None:
    done = costcli(
        "check", str(runs["same"]), "--baseline", str(runs["baseline"]),
        "--budget", "ttft_p95_ms=+10%", "--budget", "e2e_p95_ms=+10%", "--format", "json",
    )  # fmt: skip
    doc = verdict(done)
    print(
        "noise:",
        json.dumps([{k: c[k] for k in ("metric", "change", "interval")} for c in doc["checks"]]),
    )
    # Noise alone decides pass or fail here, so the verdict's own rule is what is asserted:
    # each budget fails exactly when its whole interval lies past +10%, and the exit code and
    # `passed` follow the rows.
    assert [c["metric"] for c in doc["checks"]] == ["ttft_p95_ms", "e2e_p95_ms"]
    for row in doc["checks"]:
        assert row["method"] == "bootstrap"
        assert row["interval"]["low"] <= row["change"] <= row["interval"]["high"]
        assert row["status"] == ("fail" if row["interval"]["low"] > 0.10 else "pass")
    assert doc["passed"] == all(c["status"] == "pass" for c in doc["checks"])
    assert done.returncode == (0 if doc["passed"] else 1), done.stdout


def test_a_run_five_times_faster_than_its_baseline_passes_and_exits_0(
    runs: dict[str, Path],
) -> None:
    done = costcli(
        "check", str(runs["baseline"]), "--baseline", str(runs["slower"]),
        "--budget", "ttft_p95_ms=+10%", "--format", "json",
    )  # fmt: skip
    doc = verdict(done)
    (ttft,) = doc["checks"]
    assert done.returncode == 0, done.stdout
    assert doc["passed"]
    assert (ttft["method"], ttft["status"]) == ("bootstrap", "pass")
    assert ttft["baseline"] >= 600  # never early
    assert ttft["interval"]["low"] <= ttft["change"] <= ttft["interval"]["high"]
    assert ttft["change"] < 0


def test_a_five_times_slower_ttft_fails_with_exit_1_and_junit(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    summary = tmp_path / "step-summary.md"
    done = costcli(
        "check", str(runs["slower"]), "--baseline", str(runs["baseline"]),
        "--budget", "ttft_p95_ms=+10%", "--limit", "error_rate=0.01", "--junit", str(junit),
        "--format", "json",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    doc = verdict(done)
    ttft = doc["checks"][0]
    print("x5:", json.dumps({k: ttft[k] for k in ("baseline", "current", "change", "interval")}))
    assert done.returncode == 1
    assert ttft["status"] == "fail"
    assert ttft["interval"]["low"] > 0.10  # the gate's own rule: the whole interval is past
    assert ttft["current"] >= 600  # never early
    cases = ET.parse(junit).getroot().findall("./testsuite/testcase")
    assert [(c.get("name"), len(c.findall("failure"))) for c in cases] == [
        ("ttft_p95_ms budget +10%", 1),
        ("error_rate limit <= 0.01", 0),
    ]
    assert "❌ FAIL | mock:mock-model | ttft_p95_ms" in summary.read_text(encoding="utf-8")


def test_limit_breach_exits_1_and_a_kept_limit_exits_0(runs: dict[str, Path]) -> None:
    # TTFT is never under the server's 120 ms, so a 100 ms limit is always breached; a
    # minute is a limit no load can breach within the run's own timeout
    breach = costcli("check", str(runs["baseline"]), "--limit", "ttft_p50_ms=100")
    assert breach.returncode == 1
    assert "is above the limit 100" in breach.stdout
    kept = costcli(
        "check", str(runs["baseline"]), "--limit", "ttft_p50_ms=60000", "--limit", "error_rate=0"
    )
    assert kept.returncode == 0, kept.stdout
    assert "passed (2 checks" in kept.stdout


def test_runs_of_different_workloads_are_refused_with_exit_2(runs: dict[str, Path]) -> None:
    done = costcli(
        "check",
        str(runs["other"]),
        "--baseline",
        str(runs["baseline"]),
        "--budget",
        "ttft_p95_ms=+10%",
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "workload 'json-extract'" in done.stderr
    assert "'chat-short'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_a_results_file_is_refused_with_exit_2(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}', encoding="utf-8")
    done = costcli(
        "check", str(junk), "--baseline", str(runs["baseline"]), "--budget", "ttft_p95_ms=+10%"
    )
    assert done.returncode == 2
    assert "junk.json: key 'schema_version'" in done.stderr
    assert "Traceback" not in done.stderr


def test_report_compares_runs_as_markdown_csv_and_html(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    md = costcli("report", str(runs["baseline"]), str(runs["slower"]))
    assert md.returncode == 0, md.stderr
    assert "| baseline · mock:mock-model | 40/40 |" in md.stdout
    table = costcli("report", str(runs["baseline"]), str(runs["slower"]), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [r["run"] for r in rows] == ["baseline", "slower"]
    assert float(rows[0]["ttft_p50_ms"]) >= 120  # never early
    assert float(rows[1]["ttft_p50_ms"]) >= 600
    assert float(rows[1]["ttft_p50_ms"]) > float(rows[0]["ttft_p50_ms"])
    pytest.importorskip("plotly")
    page = tmp_path / "report.html"
    html = costcli("report", str(runs["baseline"]), str(runs["slower"]), "--html", str(page))
    assert html.returncode == 0, html.stderr
    text = page.read_text(encoding="utf-8")
    assert text.count('data-chart="') == 3
    assert "<script src=" not in text.replace('<script src=""', "")  # plotly.js is inlined


def test_a_limit_on_a_run_where_every_request_failed_fails_the_gate(tmp_path: Path) -> None:
    out = tmp_path / "allfail.json"
    with start_mock_server("--error-rate", "1.0", *SERVER) as (base_url, _):
        providers = tmp_path / "allfail-mock.toml"
        providers.write_text(
            f'name = "mock"\nadapter = "openai"\nbase_url = "{base_url}"\n'
            'default_model = "mock-model"\n',
            encoding="utf-8",
        )
        run = costcli(
            "run", "--target", "mock", "--providers", str(providers), "-n", "8", "-c", "4",
            "--records", "--no-progress", "-q", "-o", str(out), "--format", "json",
        )  # fmt: skip
    assert run.returncode == 3, run.stderr  # no request succeeded; the results are kept
    done = costcli(
        "check", str(out), "--limit", "ttft_p95_ms=500", "--limit", "cost_per_1k_requests_usd=1",
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {c["metric"]: c for c in verdict(done)["checks"]}
    assert (rows["ttft_p95_ms"]["status"], rows["ttft_p95_ms"]["reason"]) == (
        "fail",
        "no value: no successful request",
    )
    cost = [c for c in verdict(done)["checks"] if c["metric"] == "cost_per_1k_requests_usd"]
    assert [(c["target"], c["status"]) for c in cost] == [
        ("mock:mock-model", "n/a"),  # unpriced: outside the ceiling
        ("(every target)", "fail"),  # and so the ceiling judged nothing
    ]
    assert verdict(done)["passed"] is False


def test_unwritable_outputs_exit_2_in_one_line_without_a_traceback(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    good = str(runs["baseline"])
    summary = costcli(
        "check", good, "--limit", "error_rate=0.5", env={"GITHUB_STEP_SUMMARY": str(blocker / "x")}
    )
    junit = costcli("check", good, "--limit", "error_rate=0.5", "--junit", str(blocker / "x.xml"))
    html = costcli("report", good, "--html", str(blocker / "x.html"))
    for done, needle in (
        (summary, "GITHUB_STEP_SUMMARY="),
        (junit, "--junit"),
        (html, "--html"),
    ):
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert needle in done.stderr
        assert str(blocker) in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "passed" not in done.stdout
