"""The `costcli_bench` fixture in a real pytest run: rounds, extra_info, skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import start_mock_server

pytestmark = pytest.mark.integration

TEST_FILE = """
def test_mock_latency(costcli_bench):
    t = costcli_bench(target="plugmock", requests=12, concurrency=2,
                      slo={{"ttft_ms": 5000}}, providers=[{providers!r}])
    assert t.summary.requests.ok == 12
    assert t.summary.error_rate == 0


def test_keyed_target(costcli_bench):
    costcli_bench(target="keyed", requests=2, providers=[{providers!r}])
"""


def provider(path: Path, name: str, url: str, key_env: str | None = None) -> None:
    lines = [f'name = "{name}"', 'adapter = "openai"', 'default_model = "mock-model"']
    lines.append(f'base_url = "{url}"')
    if key_env:
        lines.append(f'api_key_env = "{key_env}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_each_request_is_a_benchmark_round_and_a_missing_key_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COSTCLI_PLUGIN_TEST_KEY", raising=False)
    folder = pytester.mkdir("providers")
    with start_mock_server("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "8") as (url, _):
        provider(folder / "plugmock.toml", "plugmock", url)
        provider(folder / "keyed.toml", "keyed", url, "COSTCLI_PLUGIN_TEST_KEY")
        pytester.makepyfile(test_bench=TEST_FILE.format(providers=str(folder)))
        out = pytester.runpytest("-rs", "--benchmark-json=b.json")
    out.assert_outcomes(passed=1, skipped=1)
    out.stdout.fnmatch_lines(["*COSTCLI_PLUGIN_TEST_KEY is not set for target keyed*"])
    (bench,) = json.loads((pytester.path / "b.json").read_text())["benchmarks"]
    assert bench["name"] == "test_mock_latency"
    assert bench["stats"]["rounds"] == 12  # one round per measured request
    assert bench["stats"]["min"] >= 0.005  # E2E in seconds, never below the server's TTFT
    info = bench["extra_info"]
    assert info["costcli_target"] == "plugmock:mock-model"
    assert info["requests_ok"] == 12
    assert info["error_rate"] == 0
    assert info["ttft_ms_p50"] <= info["e2e_ms_p50"]
    assert info["output_tokens_mean"] == 8
    assert info["cost_per_1k_requests_usd"] == "unpriced"


def test_require_keys_turns_the_skip_into_a_failure(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COSTCLI_PLUGIN_TEST_KEY", raising=False)
    folder = pytester.mkdir("providers")
    provider(folder / "keyed.toml", "keyed", "http://127.0.0.1:9/v1", "COSTCLI_PLUGIN_TEST_KEY")
    pytester.makepyfile(
        test_keyed=f"""
def test_keyed(costcli_bench):
    costcli_bench(target="keyed", requests=1, providers=[{str(folder)!r}])
"""
    )
    out = pytester.runpytest("--costcli-require-keys")
    out.assert_outcomes(failed=1)
