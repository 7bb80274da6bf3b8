"""The command line as scripts see it: exit codes, one-line errors, keys never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.mockserver_fixture import start_mock_server
except ImportError:  # `tests/` itself is on sys.path
    from mockserver_fixture import start_mock_server  # type: ignore[no-redef]

SECRET = "sk-e2e-4f2c9d1e8b7a6c5d-DO-NOT-PRINT"
KEY_VAR = "COSTCLI_E2E_TEST_KEY"
FAST = ("--ttft-ms", "2", "--itl-ms", "1", "--output-tokens", "4")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COSTCLI_DEBUG", raising=False)
    monkeypatch.delenv("COSTCLI_PROVIDERS", raising=False)
    monkeypatch.delenv(KEY_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def one_line_error(result: Any, *words: str) -> str:
    """The run failed with exactly one `costcli: error:` line on stderr, no traceback."""
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr + result.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("costcli: error: ")
    for word in words:
        assert word in err
    return err


# --- exit 2: bad usage and bad files ------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ({"colour": "blue"}, ("unknown key 'colour'",)),
        ({"default_model": None}, ("sets no 'default_model'", "--target broken:MODEL")),
        ({"api_key_env": "COSTCLI_E2E_UNSET"}, ("api_key_env", "export COSTCLI_E2E_UNSET=")),
        ({"adapter": "nosuch"}, ("key 'adapter' is 'nosuch'", "openai")),
    ],
    ids=["unknown-key", "missing-key", "missing-api-key-env", "unknown-adapter"],
)
def test_a_bad_provider_file_exits_2_naming_the_file_and_key(
    cli: Callable[..., Any],
    provider_file: Callable[..., Path],
    closed_port: int,
    keys: dict[str, Any],
    words: tuple[str, ...],
) -> None:
    base = {"base_url": f"http://127.0.0.1:{closed_port}/v1"}
    present = {k: v for k, v in {**base, **keys}.items() if v is not None}
    path = provider_file("broken", **present)
    if keys.get("default_model", "") is None:
        text = path.read_text().replace('default_model = "mock-model"\n', "")
        path.write_text(text)
    result = cli("run", "--providers", str(path), "-t", "broken", "-n", "1", "-q")
    assert result.exit_code == 2
    one_line_error(result, "broken.toml", *words)


def test_an_unknown_provider_exits_2(cli: Callable[..., Any]) -> None:
    result = cli("run", "-t", "no-such-provider", "-n", "1")
    assert result.exit_code == 2
    one_line_error(result, "unknown provider 'no-such-provider'", "available:")


def test_a_bad_workload_line_exits_2(cli: Callable[..., Any], tmp_path: Path) -> None:
    workload = tmp_path / "bad.jsonl"
    workload.write_text('{"prompt": "fine"}\n{"prompt": "x", "temperature": 0.2}\n')
    result = cli("run", "-t", "mock", "-w", str(workload), "-n", "1")
    assert result.exit_code == 2
    one_line_error(result, f"{workload}:2", "unknown key 'temperature'")


@pytest.mark.parametrize("slo", ["ttft", "latency=5", "ttft=fast"])
def test_a_bad_slo_exits_2(cli: Callable[..., Any], slo: str) -> None:
    result = cli("run", "-t", "mock", "--slo", slo, "-n", "1")
    assert result.exit_code == 2
    one_line_error(result, "--slo")


def test_errors_are_one_line_from_the_installed_command_too(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COSTCLI_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "costcli", "run", "-t", "mock", "--slo", "ttft=soon"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "costcli: error: --slo ttft=soon: 'soon' is not a number of milliseconds"
    ]
    assert done.stdout == ""


# --- exit 3 and exit 1 -----------------------------------------------------------------------


def test_an_unreachable_target_exits_3(
    cli: Callable[..., Any], provider_file: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    path = provider_file("gone", base_url=f"http://127.0.0.1:{closed_port}/v1")
    out = tmp_path / "r.json"
    result = cli("run", "--providers", str(path), "-t", "gone", "-n", "3", "-q", "-o", str(out))
    assert result.exit_code == 3
    one_line_error(result, "gone:mock-model", f"127.0.0.1:{closed_port}")
    # what was measured is still written: three connection errors
    summary = json.loads(out.read_text())["targets"][0]["summary"]
    assert summary["errors"]["connection"] == 3


@pytest.mark.integration
def test_passing_max_error_rate_stops_the_run_and_exits_1(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    with start_mock_server(*FAST, "--error-rate", "1.0") as (url, _):
        path = provider_file("failing", base_url=url)
        args = ("--providers", str(path), "-t", "failing", "-n", "50", "-q")
        result = cli("run", *args, "--max-error-rate", "0.2", "-o", str(out))
    assert result.exit_code == 1
    one_line_error(result, "failing:mock-model", "--max-error-rate")
    doc = json.loads(out.read_text())
    assert doc["meta"]["stopped"] == "max_error_rate"
    summary = doc["targets"][0]["summary"]
    assert summary["errors"]["server"] == summary["requests"]["total"]
    assert summary["requests"]["total"] < 50


# --- the API key ------------------------------------------------------------------------------


@pytest.fixture
def keyed_server() -> Iterator[str]:
    with start_mock_server(*FAST, "--require-key", SECRET) as (url, _):
        yield url


@pytest.mark.integration
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_the_api_key_is_never_printed_or_written(
    cli: Callable[..., Any],
    provider_file: Callable[..., Path],
    keyed_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    monkeypatch.setenv(KEY_VAR, SECRET)
    path = provider_file("keyed", base_url=keyed_server, api_key_env=KEY_VAR)
    out = tmp_path / "r.json"
    args = ("--providers", str(path), "-t", "keyed", "-n", "4", "--records", "-o", str(out))
    result = cli("run", *args, "--format", fmt, "--no-progress")
    assert result.exit_code == 0, result.stderr
    written = out.read_text()
    assert json.loads(written)["targets"][0]["summary"]["requests"]["ok"] == 4  # key was sent
    for text in (result.stdout, result.stderr, written):
        assert SECRET not in text
        assert SECRET[:12] not in text
    shown = cli("providers", "show", "keyed", "--providers", str(path))
    listed = cli("providers", "list", "--providers", str(path), "--format", "json")
    assert KEY_VAR in shown.stdout
    assert SECRET not in shown.stdout + shown.stderr + listed.stdout + listed.stderr


@pytest.mark.integration
def test_a_rejected_key_is_a_client_error_and_still_not_printed(
    cli: Callable[..., Any],
    provider_file: Callable[..., Path],
    keyed_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "sk-e2e-wrong-key-0000000000000000"
    monkeypatch.setenv(KEY_VAR, wrong)
    path = provider_file("keyed", base_url=keyed_server, api_key_env=KEY_VAR)
    out = tmp_path / "r.json"
    args = ("--providers", str(path), "-t", "keyed", "-n", "2", "--records", "-o", str(out))
    result = cli("run", *args, "--format", "json")
    # every request refused: exit 2 with the fix, and the results are still kept
    assert result.exit_code == 2
    assert (
        "every request was refused (client 2); check the model name and the API key"
        in result.stderr
    )
    doc = json.loads(out.read_text())
    summary = doc["targets"][0]["summary"]
    assert summary["errors"]["client"] == 2
    assert {r["status"] for r in doc["targets"][0]["records"]} == {401}
    assert wrong not in result.stdout + result.stderr + out.read_text()


# --- small commands ---------------------------------------------------------------------------


def test_workloads_list_and_show(cli: Callable[..., Any]) -> None:
    listed = cli("workloads", "list")
    assert listed.exit_code == 0
    for name in ("chat-short", "long-context", "json-extract", "synthetic"):
        assert name in listed.stdout
    shown = cli("workloads", "show", "json-extract", "--limit", "2")
    assert shown.exit_code == 0
    header, *rows = shown.stdout.strip().splitlines()
    assert header.startswith("# json-extract")
    assert len(rows) == 2
    assert json.loads(rows[0])["response_format"]["type"] == "json_schema"
    missing = cli("workloads", "show", "nope")
    assert missing.exit_code == 2
    one_line_error(missing, "--workload nope")


def test_version(cli: Callable[..., Any]) -> None:
    from costcli import __version__

    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"costcli {__version__}"


def test_providers_list_and_show_name_each_providers_dialect(cli: Callable[..., Any]) -> None:
    listed = json.loads(cli("providers", "list", "--format", "json").stdout)["providers"]
    dialects = {row["name"]: row["dialect"] for row in listed}
    assert dialects["openai"] == "chat completions"
    assert dialects["groq"] == "chat completions + x_groq"
    assert dialects["llamacpp"] == "chat completions + timings"
    assert dialects["anthropic"] == "Anthropic Messages"
    assert dialects["openai-responses"] == "OpenAI Responses"
    shown = json.loads(cli("providers", "show", "groq").stdout)
    assert shown["dialect"] == "chat completions + x_groq"
