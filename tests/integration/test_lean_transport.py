"""The httptools transport (costcli/adapters/lean.py) against a real local server: the
reader is woken seldom, yet every chunk keeps its own read's time; connections are pooled
per origin and capped; the odd corners of HTTP/1.1 (a body kept open after `[DONE]`, a
body that ends with its connection, informational answers, credentials in the URL)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import socket
import ssl
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httptools")

from costcli.adapters import lean
from costcli.adapters.base import TransportOptions, one_delta_a_chunk
from costcli.adapters.catalog import Target
from costcli.adapters.openai import OpenAIAdapter
from costcli.load.measure import measure
from costcli.load.schedule import LoadSettings
from costcli.workloads.spec import RequestSpec

SPEC = RequestSpec(0, ({"role": "user", "content": "hi"},), max_tokens=20)


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def text(piece: str) -> bytes:
    return sse({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})


STOP = sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
DONE = b"data: [DONE]\n\n"


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Server:
    """Answers each POST with `answer(writer)`; GETs with a small JSON body. Counts the
    connections it accepted, the requests and the most served at once; keeps the heads."""

    def __init__(self, answer: Callable[[asyncio.StreamWriter], Any]) -> None:
        self.answer = answer
        self.connections = self.posts = self.busy = self.most_busy = 0
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET "):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    await writer.drain()
                    continue
                self.posts += 1
                self.busy += 1
                self.most_busy = max(self.most_busy, self.busy)
                try:
                    if await self.answer(writer) is False:
                        break
                finally:
                    self.busy -= 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def streaming(pieces: list[bytes], gap_s: float = 0.0, end: bool = True) -> Any:
    """An answer: a chunked SSE head, then each piece as its own HTTP chunk, `gap_s` apart."""

    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        for piece in pieces:
            await asyncio.sleep(gap_s)
            writer.write(chunked(piece))
            await writer.drain()
        if not end:
            await asyncio.sleep(3600)  # the body never ends
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    return answer


def adapter(url: str, streams: int = 1, **target: Any) -> OpenAIAdapter:
    opts = TransportOptions(concurrency=streams, max_streams=streams, timeout_s=10)
    made = OpenAIAdapter(Target("t", "m", "openai", url, None, **target), opts)
    assert made.describe()["transport"] == "httptools"
    return made


async def events(url: str, **target: Any) -> list[Any]:
    a = adapter(url, **target)
    await a.start()
    try:
        return [e async for e in a.stream(SPEC)]
    finally:
        await a.close()


@pytest.fixture(autouse=True)
def _httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTCLI_TRANSPORT", "httptools")


@pytest.fixture
def wakes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a response woke its reader (one entry per wake-up)."""
    seen: list[int] = []
    notify = lean.LeanResponse.notify

    def counted(self: lean.LeanResponse) -> None:
        if self._waiter is not None and not self._waiter.done():
            seen.append(1)
        notify(self)

    monkeypatch.setattr(lean.LeanResponse, "notify", counted)
    return seen


def test_twenty_chunks_wake_the_reader_thrice_at_most_and_each_keeps_its_own_time(
    wakes: list[int],
) -> None:
    pieces = [text(f"w{i} ") for i in range(20)] + [STOP, DONE]

    async def main() -> list[Any]:
        async with Server(streaming(pieces, gap_s=0.02)) as url:
            return await events(url)

    got = asyncio.run(main())
    deltas = [e for e in one_delta_a_chunk(got) if type(e).__name__ == "TextDelta"]
    assert [d.text for d in deltas] == [f"w{i} " for i in range(20)]
    assert len(wakes) <= 3  # the head, `[DONE]`, the body's end: not one a chunk
    gaps_ms = [(b.t_ns - a.t_ns) / 1e6 for a, b in itertools.pairwise(deltas)]
    assert min(gaps_ms) >= 15  # each chunk's own read, 20 ms apart, not the wake-up's time
    assert type(got[-1]).__name__ == "Finish"


def test_a_body_kept_open_after_done_ends_the_request_at_done() -> None:
    answer = streaming([text("hi"), STOP, DONE], end=False)
    rec, took_s = asyncio.run(_measured(answer, timeout_s=10))
    assert rec.error is None
    assert rec.finish_reason == "stop"
    assert took_s < 3  # at `[DONE]` and the drain's half second, not the 10 s timeout


def test_an_in_stream_error_kept_open_ends_the_request_at_once() -> None:
    error = sse({"error": {"message": "overloaded", "code": 503}})
    rec, _ = asyncio.run(_measured(streaming([text("hi"), error], end=False), timeout_s=5))
    assert rec.error == "server"
    assert "overloaded" in rec.error_message


def test_warm_connections_serve_the_requests_and_the_pool_is_capped() -> None:
    server = Server(streaming([text("a"), text("b"), STOP, DONE], gap_s=0.01))

    async def one(a: OpenAIAdapter) -> None:
        async for _ in a.stream(SPEC):
            pass

    async def main() -> None:
        async with server as url:
            a = adapter(url, streams=3)
            await a.start()  # three connections opened by GET /models
            try:
                await asyncio.gather(*(one(a) for _ in range(9)))
            finally:
                await a.close()

    asyncio.run(main())
    assert server.posts == 9
    assert server.connections == 3  # the warm ones, reused (one pool for every path)
    assert server.most_busy <= 3  # never more in flight than max_streams


def test_a_body_without_length_ends_with_its_connection_and_an_informational_answer_is_skipped() -> (
    None
):
    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        writer.write(text("hello") + STOP)
        await writer.drain()
        return False  # closed: that is the body's end

    async def main() -> list[Any]:
        async with Server(answer) as url:
            return await events(url)

    got = one_delta_a_chunk(asyncio.run(main()))
    assert [e.text for e in got if type(e).__name__ == "TextDelta"] == ["hello"]
    assert got[-1].reason == "stop"


def test_credentials_in_the_url_become_basic_auth_unless_a_key_is_sent() -> None:
    server = Server(streaming([text("x"), STOP, DONE]))

    async def main() -> None:
        async with server as url:
            await events(url.replace("http://", "http://ann:s%40fe@"))

    asyncio.run(main())
    token = base64.b64encode(b"ann:s@fe")
    post = next(h for h in server.heads if h.startswith(b"POST "))
    assert b"Authorization: Basic " + token in post
    assert b"Host: 127.0.0.1:" in post
    assert post.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")


def test_a_header_with_a_line_break_is_refused_per_request_not_sent() -> None:
    server = Server(streaming([text("x"), STOP, DONE]))
    headers = {"X-Team": "a\r\nX-Evil: 1"}
    rec, _ = asyncio.run(_measured(server, timeout_s=5, headers=headers))
    assert rec.error == "connection"
    assert "line break" in rec.error_message
    assert server.posts == 0


def test_a_proxy_expect_continue_or_a_non_ascii_url_passes_it_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from costcli.adapters.transport import create_transport

    monkeypatch.delenv("COSTCLI_TRANSPORT")
    url = "https://api.example.com/v1"
    assert create_transport(url=url).name == "httptools"
    assert create_transport(headers={"Expect": "100-continue"}, url=url).name == "aiohttp"
    assert create_transport(url="https://bücher.example/v1").name == "aiohttp"  # an IDN host
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert create_transport(url=url).name == "aiohttp"


def test_https_is_spoken_with_the_same_trust_as_the_other_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE (as httpx's
    context reads it): the stream is read over TLS; without the trust, it is refused."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = Server(streaming([text("secure"), STOP, DONE]))

    async def main() -> tuple[list[Any], Any]:
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_tls)
        port = server.server.sockets[0].getsockname()[1]
        url = f"https://127.0.0.1:{port}/v1"
        try:
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            got = await events(url)
            monkeypatch.delenv("SSL_CERT_FILE")
            a = adapter(url)
            await a.start()
            try:
                refused = await measure(a, SPEC, 0, LoadSettings(timeout_s=5))
            finally:
                await a.close()
            return got, refused
        finally:
            server.server.close()

    got, refused = asyncio.run(main())
    texts = [e.text for e in one_delta_a_chunk(got) if type(e).__name__ == "TextDelta"]
    assert texts == ["secure"]
    assert refused.error == "connection"
    assert "certificate" in refused.error_message.lower()


def test_done_split_across_two_pieces_of_a_body_kept_open_still_ends_the_request() -> None:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        for piece in (text("hi"), STOP, b"data: [DO", b"NE]\n\n"):
            writer.write(chunked(piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        await asyncio.sleep(3600)  # never ends the body
        return True

    rec, took_s = asyncio.run(_measured(answer, timeout_s=10))
    assert rec.error is None
    assert took_s < 3  # `[DONE]` was found across the pieces, not the 10 s timeout


def test_a_stream_that_stalls_after_a_bad_payload_is_read_within_the_flush_time() -> None:
    """No wake-up marker in it: the flush timer has the reader read it (stream_aborted)."""

    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        writer.write(chunked(text("hi")) + chunked(b"data: {not json\n\n"))
        await writer.drain()
        await asyncio.sleep(3600)
        return True

    rec, took_s = asyncio.run(_measured(answer, timeout_s=10))
    assert rec.error == "stream_aborted"
    assert "not valid JSON" in rec.error_message
    assert took_s < 3
    assert rec.first_token_ns is not None  # the text before it is measured


def test_an_error_read_with_the_text_before_it_keeps_that_text_measured() -> None:
    error = sse({"error": {"message": "overloaded", "code": 503}})
    rec, _ = asyncio.run(_measured(streaming([text("a"), text("b"), error]), timeout_s=5))
    assert rec.error == "server"
    assert rec.first_token_ns is not None
    assert len(rec.chunk_ns) == 2


def test_bytes_after_the_answer_are_nobodys_and_the_connection_is_not_reused() -> None:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        body = text("x") + STOP + DONE
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra")  # never asked for
        await writer.drain()
        return True

    server = Server(answer)

    async def main() -> list[Any]:
        async with server as url:
            a = adapter(url)
            await a.start()
            try:
                return [await measure(a, SPEC, 0, LoadSettings(timeout_s=5)) for _ in range(2)]
            finally:
                await a.close()

    recs = asyncio.run(main())
    assert [r.error for r in recs] == [None, None]
    assert server.connections == 2  # the first was dropped, not handed the extra answer


def test_a_reset_is_not_the_end_of_a_body_without_a_length() -> None:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
        writer.write(head + text("x") + STOP)  # a finish_reason: a close would end it well
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST, not FIN
        return False

    rec, _ = asyncio.run(_measured(answer, timeout_s=5))
    assert rec.error == "stream_aborted"


def test_a_waiter_cancelled_in_the_queue_leaves_its_place_to_the_next() -> None:
    """max_streams 1: B waits behind A and is cancelled; C, behind it, gets A's slot."""

    async def main() -> float:
        async with Server(streaming([text("x"), STOP, DONE], gap_s=0.2)) as url:
            a = adapter(url, streams=1)
            await a.start()
            try:
                settings = LoadSettings(timeout_s=10)
                first = asyncio.create_task(measure(a, SPEC, 0, settings))
                await asyncio.sleep(0.05)
                waiting = asyncio.create_task(measure(a, SPEC, 0, settings))
                behind = asyncio.create_task(measure(a, SPEC, 0, settings))
                await asyncio.sleep(0.05)
                waiting.cancel()
                await first
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                rec = await behind
                assert rec.error is None
                return loop.time() - t0
            finally:
                await a.close()

    assert asyncio.run(main()) < 3  # its own answer (~0.6 s), not a wait to the timeout


def test_a_provider_files_host_header_is_the_one_host_sent() -> None:
    server = Server(streaming([text("x"), STOP, DONE]))

    async def main() -> None:
        async with server as url:
            await events(url, headers={"Host": "api.example", "Content-Length": "9"})

    asyncio.run(main())
    post = next(h for h in server.heads if h.startswith(b"POST "))
    assert post.count(b"Host: ") == 1
    assert b"Host: api.example\r\n" in post
    assert post.count(b"Content-Length: ") == 1


async def _measured(answer: Any, timeout_s: float, **target: Any) -> tuple[Any, float]:
    """One request measured against `answer` (a Server, or what a Server answers with),
    and how long it took."""
    async with answer if isinstance(answer, Server) else Server(answer) as url:
        a = adapter(url, **target)
        await a.start()
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            rec = await measure(a, SPEC, 0, LoadSettings(timeout_s=timeout_s))
            return rec, loop.time() - t0
        finally:
            await a.close()
