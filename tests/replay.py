"""A server that answers every POST with one recorded stream, frame by frame on its own
timing: the provider's SSE bytes as they came, replayed in a thread of the test process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Frame:
    after_s: float  # wait before sending it
    data: bytes  # the SSE event, `data: ...\n\n` included


def chunk_frames(chunks: Sequence[tuple[float, Any]], done: bool = True) -> list[Frame]:
    """Chat-completion chunks (objects) as `data:` events, then `data: [DONE]`."""
    frames = [Frame(after, b"data: " + json.dumps(c).encode() + b"\n\n") for after, c in chunks]
    return [*frames, Frame(0.0, b"data: [DONE]\n\n")] if done else frames


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frames: list[Frame]
) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (
                    int(v)
                    for k, _, v in (ln.partition(":") for ln in lines)
                    if k.lower() == "content-length"
                ),
                0,
            )
            await reader.readexactly(length)
            if lines[0].startswith("GET"):
                body = b'{"object":"list","data":[]}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
                continue
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            for frame in frames:
                await asyncio.sleep(frame.after_s)
                writer.write(b"%x\r\n%s\r\n" % (len(frame.data), frame.data))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    writer.close()


@contextlib.contextmanager
def replaying(frames: list[Frame]) -> Iterator[str]:
    """The base URL (`http://127.0.0.1:PORT/v1`) of a server replaying `frames` per request."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _serve(r, w, frames), "127.0.0.1", 0)
        holder["server"] = server
        holder["port"] = server.sockets[0].getsockname()[1]
        started.set()
        await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(_quiet(main())), daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield f"http://127.0.0.1:{holder['port']}/v1"
    finally:
        loop.call_soon_threadsafe(holder["server"].close)
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
        thread.join(5)


async def _quiet(coro: Any) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await coro
