"""A hostile OpenAI-compatible server for the tests: every way a stream can be wrong.

    python -m tests.hostile.server        # prints "hostile server listening on http://..."

Stdlib asyncio only, run as a real subprocess on 127.0.0.1. The mode is the first part of
the path: a target's base_url is `http://127.0.0.1:PORT/<mode>/v1`. `GET /hits` answers
how many chat requests it has received so far (the signal tests wait on it), `GET
/hits/<mode>` how many of one mode, `GET /refused` how many it closed unanswered.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

Writes = list[bytes]


def sse(obj: Any) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"


def delta(content: str | None = "hi", finish: Any = None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {} if content is None else {"content": content}
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}], **extra}


HELLO = sse(delta("hello"))
STOP = sse(delta(None, finish="stop"))
DONE = b"data: [DONE]\n\n"
GOOD = [
    HELLO,
    sse(delta(" world")),
    STOP,
    sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
    DONE,
]


def usage(**counts: Any) -> Writes:
    return [HELLO, STOP, sse({"choices": [], "usage": counts}), DONE]


# mode -> the SSE writes of a 200 answer
STREAMS: dict[str, Writes] = {
    "ok": GOOD,
    "data-null": [sse(b"null"), DONE],
    "data-list": [sse(b"[1,2]"), DONE],
    "data-number": [sse(b"42"), DONE],
    "choices-null": [sse(b'{"choices":[null]}'), DONE],
    "choices-object": [sse(b'{"choices":{}}'), DONE],
    "delta-string": [sse(b'{"choices":[{"delta":"x"}]}'), DONE],
    "finish-number": [HELLO, sse(delta(None, finish=7)), DONE],
    "usage-string": usage(prompt_tokens=3, completion_tokens="2"),
    "usage-float": usage(prompt_tokens=3, completion_tokens=2.5),
    "usage-list": usage(prompt_tokens=[3], completion_tokens=2),
    "usage-negative": usage(prompt_tokens=3, completion_tokens=-2),
    "usage-details": usage(prompt_tokens=3, completion_tokens=2, prompt_tokens_details=5),
    "deep": [sse(b"[" * 100_000 + b"]" * 100_000), DONE],
    "deep-object": [sse(b'{"a":' * 100_000 + b"1" + b"}" * 100_000), DONE],
    "done-first": [DONE],
    "role-then-done": [sse(delta("")), STOP, DONE],
    # the stream ends right after `data: [DONE]`, without the blank line that ends an event
    "done-unterminated": [HELLO, sse(delta(" world")), b"data: [DONE]"],
    "done-first-unterminated": [b"data: [DONE]"],
    "gzip": GOOD,
    "deflate": GOOD,
    "raw-deflate": GOOD,
}
ENCODERS: dict[str, tuple[str, Callable[[], Any]]] = {
    "gzip": ("gzip", lambda: zlib.compressobj(wbits=16 + zlib.MAX_WBITS)),
    "deflate": ("deflate", lambda: zlib.compressobj(wbits=zlib.MAX_WBITS)),
    "raw-deflate": ("deflate", lambda: zlib.compressobj(wbits=-zlib.MAX_WBITS)),
}


def retry_after(mode: str) -> str:
    """The retry-after header of a `retry-*` mode's first answer (429)."""
    if mode == "retry-date":
        return email.utils.formatdate(time.time() + 1, usegmt=True)
    return {"retry-seconds": "0.2", "retry-absurd": "99999", "retry-inf": "inf",
            "retry-negative": "-5", "retry-nan": "nan"}[mode]  # fmt: skip


# mode -> what is sent before the connection is closed, mid-answer
CUTS = {
    "cut-in-head": b"HTTP/1.1 200",
    "cut-after-head": b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
}
CUTS["cut-after-chunk"] = CUTS["cut-after-head"] + b"%x\r\n%s\r\n" % (len(HELLO), HELLO)
# every request on a connection that has already served one is read, then the connection is
# closed without a byte: as a server that closed it just as the client reused it
CLOSE_REUSED = "close-reused"


class Hostile:
    def __init__(self) -> None:
        self.hits = 0
        self.refused = 0
        self.by_mode: dict[str, int] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while await self.one(reader, writer, served):
                served += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def count(self, path: str) -> bytes | None:
        """The figure a counting GET asks for; None for any other path."""
        if path == "/hits":
            return str(self.hits).encode()
        if path == "/refused":
            return str(self.refused).encode()
        if path.startswith("/hits/"):
            return str(self.by_mode.get(path.removeprefix("/hits/"), 0)).encode()
        return None

    async def one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, served: int
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int({k.lower(): v for k, v in headers.items()}.get("content-length", 0))
        if length:
            await reader.readexactly(length)
        if served and path.split("/")[1] == CLOSE_REUSED:
            self.refused += 1
            return False
        if method == "GET":
            body = self.count(path) or b'{"data":[]}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            await writer.drain()
            return True
        self.hits += 1
        mode = path.split("/")[1]
        n = self.by_mode[mode] = self.by_mode.get(mode, 0) + 1
        if mode == "hang":
            await asyncio.sleep(3600)
        always = mode in ("retry-absurd", "retry-inf")  # a retry would wait past any timeout
        if mode.startswith("retry-") and (always or n % 2 == 1):
            body = b'{"error":{"message":"slow down"}}'
            writer.write(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                         b"retry-after: %s\r\nContent-Length: %d\r\n\r\n%s"
                         % (retry_after(mode).encode(), len(body), body))  # fmt: skip
            await writer.drain()
            return True
        if mode in CUTS:
            writer.write(CUTS[mode])
            await writer.drain()
            return False
        if mode == "endless-error":  # a 500 whose body never ends (1 MiB a write)
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
            block = b"%x\r\n%s\r\n" % (1 << 20, b"e" * (1 << 20))
            while True:  # until the client hangs up
                writer.write(block)
                await writer.drain()
        await self.stream(writer, mode)
        return True

    async def stream(self, writer: asyncio.StreamWriter, mode: str) -> None:
        writes = STREAMS.get(mode, GOOD)
        encoding, make = ENCODERS.get(mode, ("", lambda: None))
        extra = f"Content-Encoding: {encoding}\r\n" if encoding else ""
        writer.write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      f"Transfer-Encoding: chunked\r\n{extra}\r\n").encode())  # fmt: skip
        packer = make()
        for plain in writes:
            data = plain
            if packer is not None:
                data = packer.compress(plain) + packer.flush(zlib.Z_SYNC_FLUSH)
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
            await asyncio.sleep(0.001)
        if packer is not None and (tail := packer.flush()):
            writer.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def main() -> None:
    hostile = Hostile()
    server = await asyncio.start_server(hostile.handle, "127.0.0.1", 0, limit=1 << 22)
    port = server.sockets[0].getsockname()[1]
    print(f"hostile server listening on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
