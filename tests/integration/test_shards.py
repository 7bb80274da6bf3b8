"""`--shard i/N` + `costcli merge` and `--processes N`: the same requests, the same seeded
schedule, and every figure computed once from all the records, exactly as one process would
compute it from those records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app
from costcli.engines.shards import parse_shard
from costcli.load.schedule import LoadSettings, Shard, arrivals
from costcli.results.document import read_result
from costcli.results.metrics import RequestRecord, summarize
from tests.mockserver_fixture import start_mock_server

N = 24


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("shards")
    with start_mock_server("--ttft-ms", "20", "--itl-ms", "1", "--output-tokens", "6") as (url, _):
        path = folder / "m.toml"
        path.write_text(
            f'name = "m"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "mock-model"\n',
            encoding="utf-8",
        )
        yield path


def run(providers: Path, *args: str) -> None:
    done = CliRunner().invoke(
        app, ["run", "-t", "m", "--providers", str(providers), "-q", "-f", "json", *args]
    )
    assert done.exit_code == 0, done.output


def test_shards_merged_give_the_one_process_summary_of_the_same_records(
    providers: Path, tmp_path: Path
) -> None:
    files = [tmp_path / f"s{i}.json" for i in (1, 2, 3)]
    for i, f in enumerate(files, 1):
        run(providers, "-n", str(N), "-c", "3", "--shard", f"{i}/3", "-o", str(f))
    shard_indices = [[r.index for r in read_result(f).targets[0].records or []] for f in files]
    assert [sorted(ix) for ix in shard_indices] == [list(range(i, N, 3)) for i in range(3)]
    out = tmp_path / "merged.json"
    done = CliRunner().invoke(app, ["merge", *map(str, files), "--records", "-o", str(out)])
    assert done.exit_code == 0, done.output
    merged = read_result(out)
    (target,) = merged.targets
    records = target.records or []
    assert [r.index for r in records] == list(range(N))
    assert merged.complete
    assert merged.meta.processes == 3
    assert merged.meta.shard is None
    expected = summarize(records)
    expected.cost = target.summary.cost
    assert target.summary == expected
    assert target.summary.requests.total == N


def test_merge_refuses_a_missing_or_doubled_shard(providers: Path, tmp_path: Path) -> None:
    first = tmp_path / "s1.json"
    run(providers, "-n", "4", "-c", "2", "--shard", "1/2", "-o", str(first))
    for files in ([first], [first, first]):
        done = CliRunner().invoke(app, ["merge", *map(str, files)])
        assert done.exit_code == 2
        assert "shard 2/2 is missing" in done.output or "given twice" in done.output
        assert "Traceback" not in done.output


def test_two_processes_send_the_same_requests_as_one(providers: Path, tmp_path: Path) -> None:
    out = tmp_path / "p2.json"
    run(providers, "-n", str(N), "-c", "4", "--processes", "2", "--records", "-o", str(out))
    doc = json.loads(out.read_text(encoding="utf-8"))
    (target,) = doc["targets"]
    assert doc["complete"] is True
    assert doc["meta"]["processes"] == 2
    assert sorted(r["index"] for r in target["records"]) == list(range(N))
    records = [RequestRecord.model_validate(r) for r in target["records"]]
    expected = summarize(records).model_dump(mode="json", exclude={"cost"})
    assert {k: v for k, v in target["summary"].items() if k != "cost"} == expected


def test_an_open_loop_shard_keeps_the_whole_runs_planned_times() -> None:
    settings = LoadSettings(rate=50.0, arrival="poisson", seed=7, requests=30)
    whole = dict(zip(range(30), (t for _, t in arrivals(settings)), strict=False))
    for i in (1, 2, 3):
        part = arrivals(settings, Shard(index=i, count=3))
        for _ in range(10):
            k, t = next(part)
            assert k % 3 == i - 1
            assert whole[k] == t


@pytest.mark.parametrize("text", ["0/2", "3/2", "1-2", "a/b", "2"])
def test_a_bad_shard_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(Exception, match="--shard"):
        parse_shard(text)
