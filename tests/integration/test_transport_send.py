"""A request's bytes leave in the event-loop step that sends it: no other callback of the
loop runs between the moment costcli stamps `Sent` and the last byte of the body reaching
the socket. aiohttp on its own writes the body in a task of its own, which (before Python
3.12) waits behind every callback already queued: in a burst of 256 synchronized streams
that wait was the whole burst, in every request's TTFT and in none of its client_delay."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from costcli.adapters.base import TransportOptions
from costcli.adapters.transport import AiohttpTransport

REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def _recv(conn: socket.socket) -> bytes:
    data = conn.recv(65536)
    if not data:
        raise OSError("closed")
    return data


def _read_request(conn: socket.socket) -> bytes:
    """One whole request: the headers (a `100 Continue` sent where they ask for one), then
    Content-Length bytes of body. Bytes before the request line fail the request."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith((b"POST ", b"GET ")), f"not a request line: {head[:40]!r}"
    lines = [line.lower() for line in head.split(b"\r\n")]
    if b"expect: 100-continue" in lines:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:")), 0
    )
    while len(body) < length:
        body += _recv(conn)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def server() -> Iterator[tuple[str, list[bytes]]]:
    """Answers every request on every connection with `{}`; keeps what it was sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        conn.settimeout(30)  # a request the test garbled fails it, never hangs it
        with conn:
            while True:
                try:
                    seen.append(_read_request(conn))
                except OSError:
                    return
                except AssertionError as exc:
                    seen.append(str(exc).encode())
                    return
                conn.sendall(REPLY)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1/chat/completions", seen
    listener.close()


class _SendLog:
    """Every `socket.send` of the process (the loop's transports write with it), and every
    turn of a probe that re-queues itself on the loop: one timeline, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, int, int]] = []  # (kind, perf_counter_ns, bytes)
        original = socket.socket.send

        def send(sock: socket.socket, data: Any, *args: Any) -> int:
            n: int = original(sock, data, *args)
            self.events.append(("send", time.perf_counter_ns(), n))
            return n

        monkeypatch.setattr(socket.socket, "send", send)
        self.probing = True

    def probe(self) -> None:
        self.events.append(("probe", time.perf_counter_ns(), 0))
        if self.probing:
            asyncio.get_running_loop().call_soon(self.probe)


async def _post(
    transport: AiohttpTransport, url: str, body: bytes, headers: dict[str, str] | None = None
) -> int:
    headers = {"Content-Type": "application/json", **(headers or {})}
    async with transport.post(url, body, headers) as resp:
        assert resp.status == 200
        assert await resp.read(100) == b"{}"
        return resp.sent_ns


def test_no_callback_of_the_loop_runs_between_sent_and_the_bodys_last_byte(
    server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = server
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]})

    async def main() -> list[int]:
        transport = AiohttpTransport()
        await transport.start(TransportOptions(concurrency=4), {})
        try:
            await _post(transport, url, b"{}")  # a kept-alive connection, as in a run
            log = _SendLog(monkeypatch)
            log.probe()
            sent = await asyncio.gather(*(_post(transport, url, body.encode()) for _ in range(4)))
            log.probing = False
        finally:
            await transport.close()
        events.extend(log.events)
        return sent

    events: list[tuple[str, int, int]] = []
    sent = asyncio.run(main())
    assert [r.partition(b"\r\n\r\n")[2] for r in seen[1:]] == [body.encode()] * 4
    probes = [t for kind, t, _ in events if kind == "probe"]
    sends = [(t, n) for kind, t, n in events if kind == "send"]
    assert len(probes) > 4  # the probe did turn while the requests went out
    for sent_ns in sent:
        # the writes that carried this request: the first sends at or after its stamp
        # until the bytes of its headers and body are out
        after = [(t, n) for t, n in sends if t >= sent_ns]
        assert after, "no write after the request's Sent stamp"
        last_byte_ns = after[0][0]
        total = 0
        for t, n in after:
            total += n
            last_byte_ns = t
            if total > len(body):
                break
        between = [t for t in probes if sent_ns < t < last_byte_ns]
        assert between == [], f"{len(between)} loop callbacks ran before the body was written"


def _round_trip(url: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    async def main() -> None:
        transport = AiohttpTransport()
        await transport.start(TransportOptions(concurrency=1), {})
        try:
            await _post(transport, url, b"{}")
            await asyncio.wait_for(_post(transport, url, body, headers), 30)
        finally:
            await transport.close()

    asyncio.run(main())


def test_expect_100_continue_keeps_aiohttps_order_headers_then_the_body(
    server: tuple[str, list[bytes]],
) -> None:
    """A provider file may send `Expect: 100-continue`: the body waits for the 100."""
    url, seen = server
    _round_trip(url, b'{"a": 1}', {"Expect": "100-continue"})
    assert seen[-1].startswith(b"POST ")
    assert seen[-1].endswith(b'\r\n\r\n{"a": 1}')


def test_a_connection_whose_writing_is_paused_gets_the_body_after_the_headers(
    server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp.client_proto import ResponseHandler

    url, seen = server
    monkeypatch.setattr(ResponseHandler, "writing_paused", property(lambda self: True))
    _round_trip(url, b'{"b": 2}')
    assert seen[-1].startswith(b"POST ")
    assert seen[-1].endswith(b'\r\n\r\n{"b": 2}')
