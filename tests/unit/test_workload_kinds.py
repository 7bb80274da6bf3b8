"""Reasoning and TTFO, tool calls, graded answers, conversations and ShareGPT, in-process:
scripted event times (exact ns arithmetic), the adapters' chunk parsing, the JSONL checks."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from costcli.adapters.base import Finish, StreamEvent, TextDelta, ToolCallDelta, Usage
from costcli.adapters.openai import tool_call_deltas, usage_event
from costcli.files.errors import BadInputError
from costcli.load.measure import measure
from costcli.load.phase import TargetRun
from costcli.load.schedule import LoadSettings
from costcli.load.target import run_target
from costcli.results.metrics import summarize
from costcli.workloads.builtin import WEATHER_TOOLS
from costcli.workloads.grading import is_correct, tool_call_problem
from costcli.workloads.sharegpt import read_sharegpt
from costcli.workloads.sources import load_workload
from costcli.workloads.spec import DatasetOptions, RequestSpec, Workload

MS = 1_000_000


class ScriptedAdapter:
    """Yields the given events with t_ns = scheduled + offset; records what it was sent."""

    name = "scripted"

    def __init__(self, events: Callable[[RequestSpec], list[StreamEvent]]) -> None:
        self.events = events
        self.sent: list[RequestSpec] = []

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        self.sent.append(spec)
        for event in self.events(spec):
            yield event


def at(t_ms: float) -> int:
    return int(t_ms * MS)


def measured(events: list[StreamEvent], spec: RequestSpec | None = None) -> Any:
    adapter = ScriptedAdapter(lambda _: events)
    spec = spec or RequestSpec(0, ({"role": "user", "content": "hi"},))
    rec = asyncio.run(measure(adapter, spec, 0, LoadSettings()))  # type: ignore[arg-type]
    return rec, rec.record(0)


# --- TTFT and TTFO ------------------------------------------------------------------------


def test_ttft_counts_reasoning_and_ttfo_starts_at_the_answer() -> None:
    events: list[StreamEvent] = [
        TextDelta(at(100), "thinking", reasoning=True),
        TextDelta(at(110), "more", reasoning=True),
        TextDelta(at(450), "Answer"),
        TextDelta(at(460), " done"),
        Usage(at(460), 10, 4, reasoning_tokens=2),
        Finish(at(461), "stop"),
    ]
    _, record = measured(events)
    assert record.ttft_ms == 100.0
    assert record.ttfo_ms == 450.0
    assert record.itl_ms == [10.0, 340.0, 10.0]
    assert record.reasoning_tokens == 2


def test_a_tool_call_delta_is_the_first_output() -> None:
    events: list[StreamEvent] = [
        TextDelta(at(50), "let me check", reasoning=True),
        ToolCallDelta(at(80), 0, '{"city": ', "get_weather", "call_1"),
        ToolCallDelta(at(90), 0, '"Oslo"}'),
        Finish(at(91), "tool_calls"),
    ]
    spec = RequestSpec(0, ({"role": "user", "content": "weather?"},), tools=WEATHER_TOOLS)
    rec, record = measured(events, spec)
    assert (record.ttft_ms, record.ttfo_ms) == (50.0, 80.0)
    assert record.tool_calls == 1
    assert record.ok
    assert record.output_valid is True
    assert rec.tool_calls == {0: ["get_weather", '{"city": ', '"Oslo"}']}


@pytest.mark.parametrize(
    ("pieces", "why"),
    [
        (['{"city": "Os'], "not JSON"),
        (['{"town": "Oslo"}'], "get_weather"),
        (['{"city": ""}'], "longer than or equal to 1"),
    ],
)
def test_tool_arguments_that_are_not_json_or_break_the_schema_are_invalid_output(
    pieces: list[str], why: str
) -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(at(10), 0, pieces[0], "get_weather"),
        Finish(at(11), "tool_calls"),
    ]
    spec = RequestSpec(0, ({"role": "user", "content": "weather?"},), tools=WEATHER_TOOLS)
    _, record = measured(events, spec)
    assert record.error == "invalid_output"
    assert why in (record.error_message or "")
    assert record.output_valid is False


def test_a_call_of_an_unknown_tool_is_named() -> None:
    assert "'launch' is not one of" in (
        tool_call_problem({0: ["launch", "{}"]}, WEATHER_TOOLS) or ""
    )


# --- the adapters' chunk parsing ------------------------------------------------------------


def test_tool_call_deltas_and_usage_details_are_read_from_chunks() -> None:
    calls = [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"index": 1, "function": {"arguments": '{"a"'}},
        {"index": 2, "function": {}},  # nothing in it: no event
    ]
    events = tool_call_deltas(calls, 5)
    assert [(e.index, e.name, e.arguments, e.call_id) for e in events] == [
        (0, "f", "", "c1"),
        (1, None, '{"a"', None),
    ]
    usage = usage_event(
        {
            "prompt_tokens": 1500,
            "completion_tokens": 40,
            "prompt_tokens_details": {"cached_tokens": 1280},
            "completion_tokens_details": {"reasoning_tokens": 32},
        },
        5,
    )
    assert (usage.input_tokens, usage.cached_input_tokens, usage.reasoning_tokens) == (
        1500,
        1280,
        32,
    )


# --- graded answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [
        ("The capital is Paris.", "paris", True),
        ("The capital is Lyon.", "Paris", False),
        ('{"name": "Aiko Tanaka", "age": 27, "city": "Osaka"}', {"age": 27, "city": "osaka"}, True),
        ('```json\n{"age": 27.0, "city": "Osaka"}\n```', {"age": 27}, True),
        ('{"age": "27"}', {"age": 27}, False),
        ('{"ok": 1}', {"ok": True}, False),
        ("no json here", {"age": 27}, False),
        ('{"age": 27}', {"age": 27, "city": "Osaka"}, False),
    ],
)
def test_expected_answers_are_graded(answer: str, expected: Any, correct: bool) -> None:
    assert is_correct(answer, expected) is correct


def test_a_failed_request_with_an_expected_answer_is_graded_wrong() -> None:
    from costcli.adapters.base import ServerError

    class Failing:
        name = "failing"

        async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
            raise ServerError("boom", status=500)
            yield  # pragma: no cover

    spec = RequestSpec(0, ({"role": "user", "content": "q"},), expected="a")
    rec = asyncio.run(measure(Failing(), spec, 0, LoadSettings()))  # type: ignore[arg-type]
    record = rec.record(0)
    assert (record.ok, record.correct) == (False, False)
    assert summarize([record]).quality is not None


# --- conversations --------------------------------------------------------------------------


def echo_adapter() -> ScriptedAdapter:
    """Answers each request with `reply-<its index>`."""
    return ScriptedAdapter(
        lambda spec: [
            TextDelta(at(1), f"reply-{spec.index}"),
            Usage(at(1), 5, 1),
            Finish(at(2), "stop"),
        ]
    )


def run_conversations(workload: Workload, **settings: Any) -> tuple[ScriptedAdapter, TargetRun]:
    adapter = echo_adapter()
    from costcli.load.phase import SilentObserver
    from costcli.load.schedule import PointJob

    run = asyncio.run(
        run_target(
            adapter,  # type: ignore[arg-type]
            PointJob(workload, LoadSettings(**settings), "t"),
            SilentObserver(),
            TargetRun(),
        )
    )
    return adapter, run


def test_turns_run_in_order_with_the_targets_own_answers_as_history() -> None:
    adapter, run = run_conversations(load_workload("conversation"), sessions=3, concurrency=2)
    assert len(run.records) == 9
    by_session: dict[str, list[RequestSpec]] = {}
    for spec in adapter.sent:
        by_session.setdefault(spec.session or "", []).append(spec)
    assert sorted(by_session) == ["c1", "c2", "c3"]
    for turns in by_session.values():
        assert [s.turn for s in turns] == [0, 1, 2]
        for n, spec in enumerate(turns):
            assistants = [m["content"] for m in spec.messages if m["role"] == "assistant"]
            assert assistants == [f"reply-{earlier.index}" for earlier in turns[:n]]
    summary = summarize(run.records)
    assert summary.sessions is not None
    assert (summary.sessions.total, summary.sessions.ok) == (3, 3)
    assert [t.requests for t in summary.by_turn or []] == [3, 3, 3]


def test_requests_cap_a_conversational_run_and_sessions_cycle_with_new_names() -> None:
    _, run = run_conversations(load_workload("conversation"), requests=4)
    assert len(run.records) == 4
    _, run = run_conversations(load_workload("conversation"), sessions=4)
    assert sorted({r.session for r in run.records}) == ["c1", "c1~1", "c2", "c3"]


def test_warmup_sessions_are_not_measured_again() -> None:
    adapter, run = run_conversations(load_workload("conversation"), warmup=3, sessions=1)
    assert [s.session for s in adapter.sent] == ["c1"] * 3 + ["c2"] * 3
    assert {r.session for r in run.records} == {"c2"}


def test_a_seed_shuffles_conversations_but_never_their_turns() -> None:
    wl = load_workload("conversation", seed=3)
    assert [wl.items[i].turn for s in wl.sessions for i in s] == [0, 1, 2] * 3
    assert wl.sessions != load_workload("conversation").sessions


# --- JSONL lines ----------------------------------------------------------------------------


def write_jsonl(tmp_path: Path, rows: list[Any]) -> Path:
    path = tmp_path / "w.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_sessions_group_turns_in_file_order_and_drop_file_answers(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path,
        [
            {"session": "s1", "prompt": "a1"},
            {"prompt": "lone"},
            {"session": "s2", "prompt": "b1"},
            {
                "session": "s1",
                "messages": [
                    {"role": "assistant", "content": "the file's answer"},
                    {"role": "user", "content": "a2"},
                ],
                "think_time_s": 1.5,
            },
        ],
    )
    wl = load_workload(str(path))
    assert wl.sessions == ((0, 3), (1,), (2,))
    assert wl.items[3].turn == 1
    assert wl.items[3].messages == ({"role": "user", "content": "a2"},)
    assert wl.items[3].think_time_s == 1.5
    assert wl.cache_prompt is True


@pytest.mark.parametrize(
    ("row", "key"),
    [
        ({"prompt": "x", "session": 7}, "session"),
        ({"prompt": "x", "tools": {"type": "function"}}, "tools"),
        ({"prompt": "x", "expected": 42}, "expected"),
        ({"prompt": "x", "expected": ["a"]}, "expected"),
        ({"prompt": "x", "think_time_s": -1}, "think_time_s"),
        ({"prompt": "x", "tools": [{"type": "function"}]}, "tools"),
    ],
)
def test_a_bad_field_names_the_line_and_the_key(tmp_path: Path, row: Any, key: str) -> None:
    path = write_jsonl(tmp_path, [{"prompt": "fine"}, row])
    with pytest.raises(BadInputError) as err:
        load_workload(str(path))
    assert f"{path}:2" in str(err.value)
    assert key in str(err.value)


def test_tools_and_expected_travel_on_the_spec(tmp_path: Path) -> None:
    tools = [dict(t) for t in WEATHER_TOOLS]
    path = write_jsonl(
        tmp_path, [{"prompt": "w?", "tools": tools, "tool_choice": "required", "expected": "x"}]
    )
    (spec,) = load_workload(str(path)).items
    assert spec.tools == tuple(tools)
    assert (spec.tool_choice, spec.expected) == ("required", "x")
    from costcli.adapters.openai import OpenAIAdapter

    body = OpenAIAdapter.request_body(
        type(
            "A", (), {"target": type("T", (), {"model": "m"}), "max_tokens_param": "max_tokens"}
        )(),
        spec,
    )
    assert body["tools"] == tools
    assert body["tool_choice"] == "required"


def test_older_workloads_keep_their_sha256() -> None:
    # the new optional keys enter the hash only where set
    wl = load_workload("json-extract")
    canon = [
        {
            "messages": list(s.messages),
            "max_tokens": s.max_tokens,
            "response_format": s.response_format,
            "exact": s.exact_output_tokens,
        }
        for s in wl.items
    ]
    import hashlib

    blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    assert wl.sha256 == hashlib.sha256(blob).hexdigest()


def test_the_shared_prefix_workload_shares_a_long_system_prompt() -> None:
    wl = load_workload("shared-prefix")
    systems = {s.messages[0]["content"] for s in wl.items}
    assert len(systems) == 1
    assert len(next(iter(systems)).split()) >= 1100
    unique = load_workload("shared-prefix", unique_prefix=True)
    firsts = {unique.request(i).messages[0]["content"] for i in range(8)}
    assert len(firsts) == 8  # --unique-prefix: no two requests share a first token


# --- ShareGPT -------------------------------------------------------------------------------


def sharegpt(tmp_path: Path, entries: list[Any], name: str = "sg.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(entries, indent=1), encoding="utf-8")
    return path


def entry(c: int, turns: int = 3) -> dict[str, Any]:
    convo: list[dict[str, str]] = [{"from": "system", "value": "be brief"}]
    for t in range(turns):
        convo += [
            {"from": "human", "value": f"q{c}.{t}"},
            {"from": "gpt", "value": " ".join(["word"] * 30)},
        ]
    return {"id": f"e{c}", "conversations": convo}


def test_sharegpt_conversations_are_their_human_turns(tmp_path: Path) -> None:
    path = sharegpt(tmp_path, [entry(0), entry(1, turns=1), {"conversations": []}])
    chosen = read_sharegpt(path, DatasetOptions(max_turns=2), seed=0)
    assert [[s.messages[-1]["content"] for s in turns] for turns in chosen] == [
        ["q0.0", "q0.1"],
        ["q1.0"],
    ]
    first = chosen[0][0]
    assert first.messages[0] == {"role": "system", "content": "be brief"}
    assert chosen[0][1].messages == ({"role": "user", "content": "q0.1"},)
    assert first.max_tokens == 40  # the dataset's 30-word reply x 4/3


def test_a_sharegpt_sample_is_seeded_and_in_file_order(tmp_path: Path) -> None:
    path = sharegpt(tmp_path, [entry(c) for c in range(50)])
    a = read_sharegpt(path, DatasetOptions(sample=5), seed=1)
    b = read_sharegpt(path, DatasetOptions(sample=5), seed=1)
    c = read_sharegpt(path, DatasetOptions(sample=5), seed=2)
    ids = [[t[0].session for t in pick] for pick in (a, b, c)]
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]
    assert len(ids[0]) == 5
    numbers = [int((s or "").split(":")[0]) for s in ids[0]]
    assert numbers == sorted(numbers)


def test_a_large_sharegpt_file_is_read_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from costcli.workloads import sharegpt as datasets

    monkeypatch.setattr(datasets, "READ_BYTES", 64)  # entries cross many read boundaries
    path = sharegpt(tmp_path, [entry(c) for c in range(40)])
    reads: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, *args, **kwargs)
        read = handle.read

        def tracked(n: int = -1) -> str:
            reads.append(n)
            return str(read(n))

        handle.read = tracked
        return handle

    monkeypatch.setattr(Path, "open", counting_open)
    chosen = read_sharegpt(path, DatasetOptions(sample=3), seed=0)
    assert len(chosen) == 3
    assert reads
    assert all(n == 64 for n in reads)  # never the whole file at once


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ('{"conversations": []}', "is not a JSON list"),
        ('[{"conversations": [{"from": "human", "value": "a"}]}, {"conv', "not valid JSON"),
        ('[{"conversations": "x"}]', "entry 1: key 'conversations'"),
        ('[{"conversations": [{"from": "human", "value": 3}]}]', "needs a string 'value'"),
        ('[{"conversations": [{"from": "gpt", "value": "a"}]}]', "no conversation with a human"),
        ("[", "ends inside the list"),
    ],
)
def test_a_bad_sharegpt_file_is_one_line_naming_the_entry(
    tmp_path: Path, text: str, fix: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        read_sharegpt(path, DatasetOptions(), seed=0)
    assert fix in str(err.value)
    assert str(path) in str(err.value)


def test_sharegpt_via_load_workload_is_conversational(tmp_path: Path) -> None:
    path = sharegpt(tmp_path, [entry(c) for c in range(4)])
    wl = load_workload(f"sharegpt:{path}", dataset=DatasetOptions(max_turns=2, sample=2), seed=0)
    assert len(wl.sessions) == 2
    assert all(len(s) == 2 for s in wl.sessions)
    assert wl.name == "sharegpt:sg.json[max_turns=2,sample=2]"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "x", "session": 7}, "key 'session' = 7: Input should be a valid string"),
        ({"prompt": "x", "tools": {"a": 1}}, "key 'tools': Input should be a valid list"),
        ({"prompt": "x", "expected": 42}, "key 'expected' = 42: give a string"),
    ],
)
def test_the_cli_exits_2_with_one_line_naming_the_line_and_key(
    cli: Callable[..., Any], tmp_path: Path, row: Any, message: str
) -> None:
    path = write_jsonl(tmp_path, [{"prompt": "fine"}, row])
    result = cli("workloads", "show", str(path))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"{path}:2: {message}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["shared-prefix", "tool-call", "conversation", "extract-graded"])
def test_workloads_show_describes_each_new_workload(cli: Callable[..., Any], name: str) -> None:
    result = cli("workloads", "show", name, "--limit", "1")
    assert result.exit_code == 0
    facts = {
        "shared-prefix": "a prompt-cache prefix",
        "tool-call": "tools: get_weather, lookup_order",
        "conversation": "3 conversations of 3 turns",
        "extract-graded": "8 graded answers (expected)",
    }
    assert facts[name] in result.stdout


def test_progress_is_told_how_many_requests_the_sessions_will_send() -> None:
    from costcli.load.sessions import SessionPhase

    wl = load_workload("conversation")
    phase = SessionPhase(echo_adapter(), wl, LoadSettings(sessions=2), lambda r: None, (None, 2))  # type: ignore[arg-type]
    assert phase.planned_requests() == 6
    capped = SessionPhase(echo_adapter(), wl, LoadSettings(), lambda r: None, (4, 2))  # type: ignore[arg-type]
    assert capped.planned_requests() == 4


def test_sessions_open_at_the_arrival_rate_and_keep_their_turns_in_order() -> None:
    adapter, run = run_conversations(load_workload("conversation"), sessions=3, rate=200.0)
    assert len(run.records) == 9
    for name in ("c1", "c2", "c3"):
        assert [s.turn for s in adapter.sent if s.session == name] == [0, 1, 2]
    firsts = sorted(r.scheduled_ms or 0.0 for r in run.records if r.turn == 0)
    assert [round(b - a, 3) for a, b in itertools.pairwise(firsts)] == [5.0, 5.0]  # 1/200 s


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sessions": 2}, "--sessions 2: workload 'chat-short' has no conversations"),
        ({"max_turns": 2}, "--max-turns 2: only a dataset uses it"),
        ({"sample": 5}, "--sample 5: only a dataset uses it"),
    ],
)
def test_options_that_would_do_nothing_are_refused(options: dict[str, Any], message: str) -> None:
    from costcli.plan import RunPlan, resolve

    with pytest.raises(BadInputError, match=message):
        resolve(RunPlan(targets=("mock",), workload="chat-short", **options))
