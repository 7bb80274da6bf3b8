"""The mock server, run as a real subprocess, keeps its script: shape, timing and faults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from tests.mockserver_fixture import start_mock_server
except ImportError:  # `tests/` itself is on sys.path (rootdir-less pytest import mode)
    from mockserver_fixture import start_mock_server  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "say three words"}]


def chat(**body: Any) -> dict[str, Any]:
    return {"model": "mock-model", "messages": MESSAGES, **body}


def stream_events(
    client: httpx.Client, base_url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, list[tuple[int, str]]]:
    """POST a streaming request; return (sent_ns, [(received_ns, data), ...])."""
    events: list[tuple[int, str]] = []
    sent = time.perf_counter_ns()
    with client.stream(
        "POST", f"{base_url}/chat/completions", json=body, headers=headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append((time.perf_counter_ns(), line.removeprefix("data: ")))
    return sent, events


def chunks(events: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in events if data != "[DONE]"]


def text_times_ms(sent: int, events: list[tuple[int, str]]) -> list[float]:
    """Arrival times (ms after sending) of the chunks that carry output text."""
    return [
        (t - sent) / 1e6
        for t, data in events
        if data != "[DONE]"
        and any(c["delta"].get("content") for c in json.loads(data).get("choices", []))
    ]


@pytest.fixture(scope="module")
def default_server() -> Iterator[str]:
    with start_mock_server("--output-tokens", "5", "--ttft-ms", "20", "--itl-ms", "5") as (
        url,
        _,
    ):
        yield url


def test_stream_has_role_chunk_then_text_chunks_usage_and_done(default_server: str) -> None:
    body = chat(stream=True, stream_options={"include_usage": True})
    with httpx.Client() as client:
        _, events = stream_events(client, default_server, body)
    assert events[-1][1] == "[DONE]"
    parsed = chunks(events)
    role, *texts, usage = parsed
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(texts) == 5
    assert all(c["object"] == "chat.completion.chunk" for c in parsed)
    assert len({c["id"] for c in parsed}) == 1
    assert [c["choices"][0]["finish_reason"] for c in texts] == [None] * 4 + ["stop"]
    assert all(c["choices"][0]["delta"]["content"].endswith(" ") for c in texts)
    assert all(c["choices"][0]["logprobs"] is None for c in texts)
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_stream_without_include_usage_has_no_usage_chunk(default_server: str) -> None:
    with httpx.Client() as client:
        _, events = stream_events(client, default_server, chat(stream=True))
    assert [e for e in chunks(events) if "usage" in e] == []
    assert len(chunks(events)) == 6


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_caps_the_stream_with_finish_reason_length(
    default_server: str, field: str
) -> None:
    body = chat(stream=True, stream_options={"include_usage": True}, **{field: 3})
    with httpx.Client() as client:
        _, events = stream_events(client, default_server, body)
    parsed = chunks(events)
    assert len(parsed) == 1 + 3 + 1
    assert parsed[3]["choices"][0]["finish_reason"] == "length"
    assert parsed[-1]["usage"]["completion_tokens"] == 3


def test_non_streaming_returns_a_chat_completion_after_the_whole_schedule(
    default_server: str,
) -> None:
    with httpx.Client() as client:
        client.get(f"{default_server}/models")  # open the connection before timing
        started = time.perf_counter_ns()
        response = client.post(f"{default_server}/chat/completions", json=chat())
        elapsed_ms = (time.perf_counter_ns() - started) / 1e6
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert len(body["choices"][0]["message"]["content"].split()) == 5
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    # never early: the answer waits for the last token's deadline (a load can only add to it;
    # how late it is under load is benchmarks/mock_timing.py's business)
    assert elapsed_ms >= 20 + 4 * 5


def test_models_and_health(default_server: str) -> None:
    models = httpx.get(f"{default_server}/models").json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "mock-model"
    health = httpx.get(default_server.removesuffix("/v1") + "/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert httpx.get(f"{default_server}/nope").status_code == 404


def test_text_chunks_are_never_earlier_than_their_absolute_deadlines() -> None:
    args = ("--output-tokens", "20", "--ttft-ms", "120", "--itl-ms", "10")
    with start_mock_server(*args) as (url, _), httpx.Client() as client:
        stream_events(client, url, chat(stream=True))  # warm the connection
        sent, events = stream_events(client, url, chat(stream=True))
    times = text_times_ms(sent, events)
    assert len(times) == 20
    assert times == sorted(times)
    # chunk i is due 120 + 10 i ms after the request arrived, which is after it was sent:
    # none may come sooner. (How close to the deadline they come is a benchmark's figure.)
    early = [(i, t) for i, t in enumerate(times) if t < 120 + 10 * i]
    assert early == []


def test_every_nth_request_is_rate_limited_with_retry_after() -> None:
    with start_mock_server("--rate-limit-every", "3", "--retry-after", "2") as (url, _):
        statuses = []
        for _ in range(6):
            response = httpx.post(f"{url}/chat/completions", json=chat(max_tokens=1))
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["retry-after"] == "2"
                assert response.json()["error"]["type"] == "rate_limit_exceeded"
    assert statuses == [200, 200, 429, 200, 200, 429]


def test_error_rate_one_answers_500_with_openai_error() -> None:
    with start_mock_server("--error-rate", "1") as (url, _):
        response = httpx.post(f"{url}/chat/completions", json=chat())
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


def test_require_key_rejects_missing_or_wrong_bearer_token() -> None:
    with start_mock_server("--require-key", "sk-test", "--output-tokens", "1") as (url, _):
        endpoint = f"{url}/chat/completions"
        assert httpx.post(endpoint, json=chat()).status_code == 401
        wrong = httpx.post(endpoint, json=chat(), headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        assert "error" in wrong.json()
        right = httpx.post(endpoint, json=chat(), headers={"Authorization": "Bearer sk-test"})
        assert right.status_code == 200


def test_abort_every_closes_mid_stream_without_finish_or_done() -> None:
    args = ("--abort-every", "2", "--output-tokens", "10", "--ttft-ms", "5", "--itl-ms", "1")
    with start_mock_server(*args) as (url, _), httpx.Client() as client:
        _, events = stream_events(client, url, chat(stream=True))
        assert events[-1][1] == "[DONE]"
        received: list[str] = []
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream("POST", f"{url}/chat/completions", json=chat(stream=True)) as r,
        ):
            received.extend(line for line in r.iter_lines() if line.startswith("data: "))
    assert "data: [DONE]" not in received
    texts = [json.loads(line[6:]) for line in received][1:]
    assert len(texts) == 5
    assert all(c["choices"][0]["finish_reason"] is None for c in texts)


def test_stream_error_every_sends_an_error_event_and_ends() -> None:
    args = ("--stream-error-every", "1", "--output-tokens", "10", "--ttft-ms", "5", "--itl-ms", "1")
    with start_mock_server(*args) as (url, _), httpx.Client() as client:
        _, events = stream_events(client, url, chat(stream=True))
    parsed = chunks(events)
    assert parsed[-1]["error"]["type"] == "server_error"
    assert parsed[-1]["error"]["code"] == 500
    assert len(parsed) == 1 + 3 + 1
    assert all(e[1] != "[DONE]" for e in events)


def test_groq_dialect_puts_x_groq_usage_in_seconds_on_the_final_chunk() -> None:
    args = ("--dialect", "groq", "--output-tokens", "4", "--ttft-ms", "30", "--itl-ms", "10")
    with start_mock_server(*args) as (url, _), httpx.Client() as client:
        body = chat(stream=True, stream_options={"include_usage": True})
        sent, events = stream_events(client, url, body)
    parsed = chunks(events)
    final = parsed[-2]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert all("x_groq" not in c for c in parsed if c is not final)
    usage = final["x_groq"]["usage"]
    assert final["x_groq"]["id"].startswith("req_")
    assert usage["queue_time"] == pytest.approx(0.005)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (3, 4)
    assert usage["total_time"] == pytest.approx(
        usage["queue_time"] + usage["prompt_time"] + usage["completion_time"], abs=1e-5
    )
    # seconds, measured inside the client's own window: queue + prompt is the wait for the
    # first text chunk (never under the scripted 30 ms; stamped once it was written, so before
    # the second arrived), and no part outlasts the stream
    client_second_s = text_times_ms(sent, events)[1] / 1000
    client_e2e_s = (events[-1][0] - sent) / 1e9
    assert 0.030 - 1e-6 <= usage["queue_time"] + usage["prompt_time"] <= client_second_s
    assert 0 < usage["completion_time"] <= client_e2e_s
    assert usage["total_time"] <= client_e2e_s
    assert parsed[-1]["usage"]["completion_tokens"] == 4


def test_llamacpp_dialect_puts_timings_in_ms_on_the_final_chunk() -> None:
    args = ("--dialect", "llamacpp", "--output-tokens", "4", "--ttft-ms", "30", "--itl-ms", "10")
    with start_mock_server(*args) as (url, _), httpx.Client() as client:
        sent, events = stream_events(client, url, chat(stream=True))
        plain = httpx.post(f"{url}/chat/completions", json=chat()).json()
    final = chunks(events)[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    timings = final["timings"]
    assert (timings["prompt_n"], timings["predicted_n"]) == (3, 4)
    # milliseconds, measured inside the client's own window: the prompt phase is the wait
    # for the first text chunk (never under the scripted 30 ms; stamped once it was written,
    # so before the second arrived); decoding is what follows
    client_second_ms = text_times_ms(sent, events)[1]
    client_e2e_ms = (events[-1][0] - sent) / 1e6
    assert 30 <= timings["prompt_ms"] <= client_second_ms
    assert 0 < timings["predicted_ms"] <= client_e2e_ms - 30
    # like llama-server: predicted_ms spans the 3 gaps after the first of 4 tokens
    ms = timings["predicted_ms"]  # rounded to 0.001 ms, so allow for that in the rates
    assert timings["predicted_per_token_ms"] == pytest.approx(ms / 3, abs=1e-3)
    assert timings["predicted_per_second"] == pytest.approx(3000 / ms, rel=1e-3 + 1e-3 / ms)
    assert plain["timings"]["predicted_n"] == 4


def test_send_log_records_each_text_chunk_on_the_client_clock(tmp_path: Path) -> None:
    log = tmp_path / "send.log"
    args = ("--send-log", str(log), "--output-tokens", "6", "--ttft-ms", "10", "--itl-ms", "5")
    with start_mock_server(*args) as (url, _), httpx.Client() as client:
        sent, events = stream_events(
            client, url, chat(stream=True), headers={"X-Request-Id": "req-a"}
        )
        stream_events(client, url, chat(stream=True))
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [(rid, int(i)) for rid, i, _ in lines] == [("req-a", i) for i in range(6)] + [
        ("2", i) for i in range(6)
    ]
    # the next event after text chunk i (chunk i+1, or [DONE]): the server stamps a send
    # after writing it, so before it writes what follows
    next_arrival = [t for t, data in events][2:8]
    assert len(next_arrival) == 6
    for (_, _, server_ns), client_ns in zip(lines[:6], next_arrival, strict=True):
        # one clock on one host: each send falls between the request and the next arrival
        # (a different clock would put it hours or years outside that window)
        assert sent < int(server_ns) < client_ns


def test_hundreds_of_concurrent_streams_all_complete_with_every_token() -> None:
    n_streams = 200
    args = ("--output-tokens", "10", "--ttft-ms", "100", "--itl-ms", "20")

    async def one(client: httpx.AsyncClient, url: str) -> int:
        body = chat(stream=True, stream_options={"include_usage": True})
        async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
            lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        return int(json.loads(lines[-2][6:])["usage"]["completion_tokens"])

    async def all_streams(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=n_streams)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            return await asyncio.gather(*(one(client, url) for _ in range(n_streams)))

    with start_mock_server(*args) as (url, _):
        tokens = asyncio.run(all_streams(url))
    assert tokens == [10] * n_streams


def test_hundreds_of_streams_are_all_open_at_once() -> None:
    # Every stream gets its role chunk at once but its first token only after a minute: if all
    # 200 role chunks arrive, the server held 200 streams open together, however slowly this
    # machine ran (a server taking one stream at a time would give the second after a minute).
    n_streams = 200
    args = ("--output-tokens", "2", "--ttft-ms", "60000")
    opened: list[dict[str, Any]] = []
    all_open = asyncio.Event()

    async def one(client: httpx.AsyncClient, url: str) -> None:
        async with client.stream("POST", f"{url}/chat/completions", json=chat(stream=True)) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    opened.append(json.loads(line[6:]))
                    break
            if len(opened) == n_streams:
                all_open.set()
            await all_open.wait()  # hold this stream open until every stream is

    async def all_streams(url: str) -> None:
        limits = httpx.Limits(max_connections=n_streams)
        async with httpx.AsyncClient(limits=limits, timeout=50) as client:
            await asyncio.gather(*(one(client, url) for _ in range(n_streams)))

    with start_mock_server(*args) as (url, _):
        asyncio.run(all_streams(url))
    assert len(opened) == n_streams
    assert all(c["choices"][0]["delta"] == {"role": "assistant", "content": ""} for c in opened)
    assert len({c["id"] for c in opened}) == n_streams
