"""The SSE parser and the OpenAI adapter's stream handling, without a mock-server process.

Adapter tests talk to a tiny in-process HTTP server that replays canned bytes, so every
byte of the wire (splits, missing [DONE], in-stream errors) is under the test's control.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from costcli.adapters import lean as lean_module
from costcli.adapters import openai as openai_adapter
from costcli.adapters import transport as transport_module
from costcli.adapters.base import (
    ClientError,
    Finish,
    FirstByte,
    ProviderError,
    RateLimitedError,
    ServerError,
    StreamAbortedError,
    Telemetry,
    TextDelta,
    TransportOptions,
    Usage,
    one_delta_a_chunk,
)
from costcli.adapters.catalog import Target
from costcli.adapters.groq import GroqAdapter
from costcli.adapters.openai import OpenAIAdapter
from costcli.adapters.sse import SSEParser
from costcli.workloads.spec import RequestSpec

# --- the parser ------------------------------------------------------------------------------

STREAM = (
    b": ping\n\n"
    b'data: {"a":1}\n\n'
    b"event: message\nid: 7\ndata: first line\ndata: second line\n\n"
    b"data:no-space\n\n"
    b"data:  two spaces\n\n"
    b": comment between fields\ndata: x\n: another\n\n"
    b'data: {"t":"\xc3\xa9\xe2\x82\xac"}\n\n'
    b"data: [DONE]\n\n"
)
EXPECTED = [
    b'{"a":1}',
    b"first line\nsecond line",
    b"no-space",
    b" two spaces",
    b"x",
    b'{"t":"\xc3\xa9\xe2\x82\xac"}',
    b"[DONE]",
]


def feed_all(reads: Sequence[bytes]) -> list[bytes]:
    parser = SSEParser()
    events: list[bytes] = []
    for read in reads:
        events += parser.feed(read)
    return events + parser.close()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_one_read_gives_every_event_for_each_line_ending(ending: bytes) -> None:
    stream = STREAM.replace(b"\n", ending)
    assert feed_all([stream]) == EXPECTED


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_a_split_at_any_byte_offset_changes_nothing(ending: bytes) -> None:
    stream = STREAM.replace(b"\n", ending)
    for cut in range(len(stream) + 1):
        assert feed_all([stream[:cut], stream[cut:]]) == EXPECTED, f"split at byte {cut}"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_byte_by_byte_reads_deliver_each_event_when_its_blank_line_arrives(
    ending: bytes,
) -> None:
    stream = STREAM.replace(b"\n", ending)
    parser = SSEParser()
    events: list[bytes] = []
    for i in range(len(stream)):
        got = parser.feed(stream[i : i + 1])
        if got:
            # an event completes at the first byte that ends its blank line (a CR ends a
            # line at once; the LF of a CRLF adds nothing)
            assert stream[: i + 1].endswith(ending + ending[:1])
        events += got
    assert events == EXPECTED
    assert parser.close() == []


def test_a_crlf_pair_split_across_reads_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    # the LF completes the CRLF; the CR after it is the blank line that ends the event
    assert parser.feed(b"\n\r") == [b"a"]
    # had the split CRLF counted as two line ends, the LF here would end an empty event
    assert parser.feed(b"\n") == []
    assert parser.feed(b"data: b\r\n\r\n") == [b"b"]
    assert parser.feed(b"data: c\r") == []
    assert parser.feed(b"\ndata: d\r\n\r\n") == [b"c\nd"]


def test_a_ping_only_stream_yields_no_events() -> None:
    assert feed_all([b": ping\n\n: ping\r\n\r\n", b":\n\n"]) == []


def test_a_final_event_without_its_blank_line_is_delivered_on_close() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"x":1}\n\ndata: [DONE]') == [b'{"x":1}']
    assert parser.close() == [b"[DONE]"]
    assert parser.close() == []


def test_an_event_ended_by_cr_cr_is_delivered_by_the_read_that_completes_it() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r\r") == [b"a"]


# --- OpenAI chunk -> events -----------------------------------------------------------------


def target(
    adapter: str = "openai",
    base_url: str = "http://127.0.0.1:9/v1",
    api_key_env: str | None = None,
) -> Target:
    return Target("t", "m", adapter, base_url, api_key_env)


def openai() -> OpenAIAdapter:
    return OpenAIAdapter(target(), TransportOptions())


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"object": "chat.completion.chunk", "choices": choices, **extra}


def test_a_role_only_chunk_carries_no_text_event() -> None:
    assert openai().chunk_events(chunk({"role": "assistant", "content": ""}), 5) == []
    assert openai().chunk_events(chunk({"role": "assistant"}), 5) == []


def test_content_reasoning_finish_and_usage_become_events() -> None:
    a = openai()
    assert a.chunk_events(chunk({"content": "hi"}), 7) == [TextDelta(7, "hi")]
    assert a.chunk_events(chunk({"reasoning_content": "hmm"}), 8) == [
        TextDelta(8, "hmm", reasoning=True)
    ]
    assert a.chunk_events(chunk({"content": "."}, finish="stop"), 9) == [
        TextDelta(9, "."),
        Finish(9, "stop"),
    ]
    usage = {
        "prompt_tokens": 11,
        "completion_tokens": 22,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }
    assert a.chunk_events(chunk(None, usage=usage), 10) == [
        Usage(10, input_tokens=11, output_tokens=22, cached_input_tokens=4, reasoning_tokens=3)
    ]


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"message": "overloaded", "type": "server_error", "code": 500}, ServerError, 500),
        ({"message": "slow down", "code": 429}, RateLimitedError, 429),
        ({"message": "bad request", "code": 400}, ClientError, 400),
        ({"message": "no code"}, ServerError, 500),
        ({"message": "slow down", "code": "rate_limit_exceeded"}, RateLimitedError, 429),
        ({"message": "too long", "type": "invalid_request_error"}, ClientError, 400),
        ("plain string error", ServerError, 500),
    ],
)
def test_an_error_object_inside_the_stream_raises_its_error_class(
    error: Any, cls: type[ProviderError], status: int
) -> None:
    with pytest.raises(cls) as info:
        openai().chunk_events({"error": error}, 1)
    assert type(info.value) is cls
    assert info.value.status == status
    assert "error inside the stream" in str(info.value)


def test_groq_x_groq_usage_becomes_telemetry_in_milliseconds() -> None:
    adapter = GroqAdapter(target("groq"), TransportOptions())
    x_groq = {"usage": {"queue_time": 0.005, "prompt_time": 0.115, "completion_time": 0.19}}
    x_groq["usage"].update(prompt_tokens=9, completion_tokens=20)
    events = adapter.chunk_events(chunk({"content": "x"}, finish="stop", x_groq=x_groq), 3)
    tele = next(e for e in events if isinstance(e, Telemetry))
    assert tele.queue_ms == pytest.approx(5.0)
    assert tele.prefill_ms == pytest.approx(115.0)
    assert tele.decode_ms == pytest.approx(190.0)
    assert Usage(3, input_tokens=9, output_tokens=20) in events


# --- the adapter against canned bytes ----------------------------------------------------


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


ROLE = sse(chunk({"role": "assistant", "content": ""}))
HELLO = sse(chunk({"content": "Hello"}))
WORLD = sse(chunk({"content": " world"}))
STOP = sse(chunk({}, finish="stop"))
USAGE = sse(chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2}))
DONE = b"data: [DONE]\n\n"


class CannedServer:
    """Answers every request with `head` and then `writes`, one socket write each; closes.

    With `reads` (how many reads the client has stamped, see `ReadCounter`), each write waits
    until the client has read the one before: every write is a read of its own, however
    slowly this machine runs."""

    def __init__(
        self,
        writes: Sequence[bytes],
        status: str = "200 OK",
        headers: str = "",
        reads: Callable[[], int] | None = None,
    ):
        self.writes, self.status, self.headers, self.reads = writes, status, headers, reads
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"GET "):  # the adapter's warm-up connection (start())
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            writer.close()
            return
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        self.requests.append(head + await reader.readexactly(length))
        writer.write(
            f"HTTP/1.1 {self.status}\r\nContent-Type: text/event-stream\r\n"
            f"Connection: close\r\n{self.headers}\r\n".encode()
        )
        for n, data in enumerate(self.writes, 1):
            seen = self.reads() if self.reads else 0
            writer.write(data)
            await writer.drain()
            if self.reads is None:
                await asyncio.sleep(0.002)  # usually separate network reads
                continue
            while n < len(self.writes) and self.reads() == seen:
                await asyncio.sleep(0.001)  # the client has not read it yet
        writer.close()

    async def stream(self, adapter_cls: type[OpenAIAdapter] = OpenAIAdapter, **kw: Any) -> list:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        adapter = adapter_cls(
            target(base_url=f"http://127.0.0.1:{port}/v1", **kw), TransportOptions()
        )
        await adapter.start()
        spec = RequestSpec(0, ({"role": "user", "content": "hi"},), max_tokens=5)
        events: list = []
        try:
            async for event in adapter.stream(spec):
                events.extend(one_delta_a_chunk([event]))
        finally:
            await adapter.close()
            server.close()
            await server.wait_closed()
        return events


def run_stream(server: CannedServer, **kw: Any) -> list:
    return asyncio.run(server.stream(**kw))


class ReadCounter:
    """Stands in for the transport's clock, which it reads once per network read: counts the
    reads and gives strictly increasing times."""

    def __init__(self) -> None:
        self.count = self.last = 0

    def __call__(self) -> int:
        self.count += 1
        self.last = max(time.perf_counter_ns(), self.last + 1)
        return self.last


def test_a_whole_stream_gives_first_byte_text_usage_and_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = ReadCounter()
    for module in (openai_adapter, transport_module, lean_module):  # whichever stamps reads
        monkeypatch.setattr(module, "perf_ns", reads)
    # the second event is split mid-JSON and a CRLF-terminated event follows
    hello_a, hello_b = HELLO[:20], HELLO[20:]
    writes = [ROLE + hello_a, hello_b, WORLD.replace(b"\n", b"\r\n"), STOP + USAGE, DONE]
    events = run_stream(CannedServer(writes, reads=lambda: reads.count))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Sent", "FirstByte", "TextDelta", "TextDelta", "Usage", "Finish"]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " world"]
    assert events[-1].reason == "stop"
    assert events[4].output_tokens == 2
    assert events[0].t_ns <= events[1].t_ns  # the request left before its answer came
    first_byte, hello = events[1], events[2]
    assert isinstance(first_byte, FirstByte)
    # "Hello" completed in the second read, so it is stamped later than the first byte
    assert hello.t_ns > first_byte.t_ns


def test_the_request_asks_for_a_stream_with_usage_and_sends_nothing_undocumented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COSTCLI_SSE_TEST_KEY", "sk-test-secret-123")
    server = CannedServer([ROLE, HELLO, STOP, DONE])
    run_stream(server, api_key_env="COSTCLI_SSE_TEST_KEY")
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    sent = json.loads(body)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_tokens"] == 5
    assert set(sent) == {"model", "messages", "stream", "stream_options", "max_tokens"}
    assert b"authorization: bearer sk-test-secret-123" in head.lower()
    assert b"sk-test-secret-123" not in body


def test_a_stream_that_ends_without_finish_or_done_is_stream_aborted() -> None:
    with pytest.raises(StreamAbortedError):
        run_stream(CannedServer([ROLE, HELLO]))


def test_a_finish_reason_then_close_without_done_is_a_proper_end() -> None:
    events = run_stream(CannedServer([ROLE, HELLO, STOP]))
    assert events[-1] == Finish(events[-1].t_ns, "stop")


def test_an_error_event_mid_stream_raises_server_error() -> None:
    error = sse({"error": {"message": "The server had an error", "code": 500}})
    with pytest.raises(ServerError, match="The server had an error"):
        run_stream(CannedServer([ROLE, HELLO, error]))


def test_a_chunk_that_is_not_json_is_stream_aborted() -> None:
    with pytest.raises(StreamAbortedError, match="not valid JSON"):
        run_stream(CannedServer([ROLE, b"data: {oops\n\n", DONE]))


def test_a_429_carries_retry_after_and_the_provider_message() -> None:
    body = json.dumps({"error": {"message": "Rate limit reached"}}).encode()
    server = CannedServer([body], status="429 Too Many Requests", headers="retry-after: 3\r\n")
    with pytest.raises(RateLimitedError) as info:
        run_stream(server)
    assert info.value.retry_after_s == 3.0
    assert info.value.status == 429
    assert "Rate limit reached" in str(info.value)


def test_a_401_is_a_client_error() -> None:
    server = CannedServer([b'{"error":{"message":"bad key"}}'], status="401 Unauthorized")
    with pytest.raises(ClientError) as info:
        run_stream(server)
    assert info.value.status == 401
    assert info.value.error_class == "client"


PLAIN_OR_NOT = [
    chunk({"content": "hi"}),
    chunk({"content": "hi"}, usage=None, id="c1", model="m", created=1, obfuscation="x"),
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "hi", "reasoning_content": "hm"}),
    chunk({"content": "hi"}, finish="stop"),
    chunk({"content": ["not", "parts"]}),
    chunk({"content": 7}),
    chunk({"content": "hi"}, usage={"prompt_tokens": 1, "completion_tokens": 1}),
    *(chunk({"content": "hi"}, usage=bad) for bad in (0, "", [], False, {})),
    chunk({"content": "hi"}, x_groq={"id": "q"}),
    {"choices": [{"delta": {"content": "a"}}, {"delta": {"content": "b"}}]},
    {"choices": [{"delta": {"content": "a"}, "logprobs": None, "extra": 1}]},
    {"choices": [None]},
    {"choices": [{"delta": None}]},
]


@pytest.mark.parametrize("payload", PLAIN_OR_NOT, ids=range(len(PLAIN_OR_NOT)))
def test_the_plain_text_path_reads_a_chunk_as_the_general_reader_does(payload: dict) -> None:
    """openai.plain_text takes only what the shape check and chunk_events would give the
    same events for; every other chunk goes their way."""
    data = json.dumps(payload).encode()

    def read(fast: bool) -> object:
        a = openai()
        a._plain = fast
        try:
            return a.events_of(data, 5)
        except StreamAbortedError as exc:
            return f"aborted: {exc}"

    assert read(True) == read(False)
    quick = openai().quick_text(data)  # the body reader's own shortcut: the same events
    if quick is not None:
        assert read(False) == ([TextDelta(5, quick)] if quick else [])
