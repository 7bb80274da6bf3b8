"""Workloads: built-ins, synthetic lengths, JSONL files, seeds and unique prefixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costcli.files.errors import BadInputError
from costcli.workloads.builtin import BUILTINS, EXTRACT_SCHEMA
from costcli.workloads.sources import load_workload


def test_the_builtins_exist_with_their_shapes() -> None:
    assert {"chat-short", "long-context", "json-extract"} <= set(BUILTINS)
    chat = load_workload("chat-short")
    assert len(chat.items) == 16
    assert all(s.max_tokens == 64 and s.schema is None for s in chat.items)
    long = load_workload("long-context")
    assert min(s.prompt_words() for s in long.items) > 3000


def test_json_extract_sends_its_schema_as_response_format() -> None:
    wl = load_workload("json-extract")
    spec = wl.request(0)
    assert spec.response_format is not None
    assert spec.response_format["type"] == "json_schema"
    assert spec.schema == EXTRACT_SCHEMA


def test_requests_cycle_through_the_items_with_running_indices() -> None:
    wl = load_workload("chat-short")
    assert wl.request(17).index == 17
    assert wl.request(17).messages == wl.items[1].messages


def test_the_same_seed_gives_the_same_requests_and_hash() -> None:
    a, b = load_workload("chat-short", seed=5), load_workload("chat-short", seed=5)
    assert [a.request(i).messages for i in range(16)] == [b.request(i).messages for i in range(16)]
    assert a.sha256 == b.sha256
    c = load_workload("chat-short", seed=6)
    assert [a.request(i).messages for i in range(16)] != [c.request(i).messages for i in range(16)]
    assert load_workload("chat-short").sha256 != a.sha256  # order is part of the hash


def test_max_tokens_overrides_every_request() -> None:
    wl = load_workload("chat-short", max_tokens=7)
    assert {wl.request(i).max_tokens for i in range(20)} == {7}


def test_unique_prefix_differs_per_request_and_repeats_per_run() -> None:
    wl = load_workload("chat-short", unique_prefix=True)
    first = [wl.request(i).messages[0]["content"] for i in range(20)]
    assert len(set(first)) == 20
    assert all(c.startswith("[request ") for c in first)
    assert first[16].endswith(load_workload("chat-short").items[0].messages[0]["content"])
    again = load_workload("chat-short", unique_prefix=True)
    assert [again.request(i).messages[0]["content"] for i in range(20)] == first


def test_synthetic_lengths_follow_the_options_and_the_seed() -> None:
    wl = load_workload("synthetic:input=50,output=20,n=5")
    assert len(wl.items) == 5
    assert all(s.prompt_words() == 50 and s.max_tokens == 20 for s in wl.items)
    spread = load_workload("synthetic:input=100,output=40,input_std=20,output_std=10,n=200", seed=1)
    outs = [s.max_tokens or 0 for s in spread.items]
    assert 35 < sum(outs) / len(outs) < 45
    assert len(set(outs)) > 5
    same = load_workload("synthetic:input=100,output=40,input_std=20,output_std=10,n=200", seed=1)
    assert same.sha256 == spread.sha256


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("synthetic:input=5,bogus=1", "unknown key 'bogus'"),
        ("synthetic:input", "not KEY=VALUE"),
        ("synthetic:input=abc", "invalid literal"),
        ("synthetic:dist=zipf", "key 'dist'"),
        ("no-such-workload", "no built-in workload"),
    ],
)
def test_bad_workload_names_are_bad_input(spec: str, words: str) -> None:
    with pytest.raises(BadInputError, match=words):
        load_workload(spec)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "w.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_jsonl_file_gives_one_request_per_line(tmp_path: Path) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    path = write(
        tmp_path,
        json.dumps({"prompt": "hello there", "max_tokens": 9, "tags": ["a", "b"]}),
        "",
        json.dumps(
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
        ),
        json.dumps({"prompt": "json please", "response_format": rf}),
    )
    wl = load_workload(str(path))
    assert wl.name == "w.jsonl"
    assert len(wl.items) == 3
    first, second, third = wl.items
    assert first.messages == ({"role": "user", "content": "hello there"},)
    assert (first.max_tokens, first.tags) == (9, ("a", "b"))
    assert [m["role"] for m in second.messages] == ["system", "user"]
    assert third.schema == {"type": "object"}


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{not json", ":1: not valid JSON"),
        ("[1, 2]", ":1: not a JSON object"),
        ('{"prompt": "x", "temperature": 1}', "unknown key 'temperature'"),
        ('{"max_tokens": 5}', "missing key 'messages' or 'prompt'"),
        ('{"prompt": "x", "max_tokens": 0}', "key 'max_tokens' = 0: Input should be greater than"),
        ('{"messages": [{"content": "no role"}]}', "missing key 'messages.0.role'"),
        (
            '{"prompt": "x", "response_format": "json"}',
            "key 'response_format' = 'json': Input should be a valid dictionary",
        ),
    ],
)
def test_a_bad_jsonl_line_names_the_file_line_and_key(
    tmp_path: Path, line: str, words: str
) -> None:
    path = write(tmp_path, line)
    with pytest.raises(BadInputError) as info:
        load_workload(str(path))
    assert str(path) in info.value.message
    assert words in info.value.message


def test_an_empty_jsonl_file_is_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, "", "  ")
    with pytest.raises(BadInputError, match="is empty; pass a JSONL workload file"):
        load_workload(str(path))
