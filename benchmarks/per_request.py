"""Client CPU per request for several HTTP paths, one stream, one kept-alive connection.

    python benchmarks/per_request.py [--tokens 1] [--requests 2000]

Against the zero-delay mock server (its own process). Paths: httpx as costcli uses it,
httpcore directly, a raw asyncio socket, and, where installed, httpx over the
`httpx-aiohttp` transport and aiohttp directly (try them in a separate virtualenv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from client_overhead import MODEL, Server


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def timed(name: str, one: Callable[[], Awaitable[None]], n: int) -> None:
    await one()  # connect and warm up
    c0, t0 = cpu_s(), time.perf_counter()
    for _ in range(n):
        await one()
    cpu_us, wall_us = (cpu_s() - c0) / n * 1e6, (time.perf_counter() - t0) / n * 1e6
    print(f"| {name} | {cpu_us:,.0f} us | {wall_us:,.0f} us |")


async def main(url: str, tokens: int, n: int) -> None:
    full = url + "/chat/completions"
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": tokens,
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    paths: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    client = httpx.AsyncClient(headers=headers, limits=limits)

    async def via_httpx() -> None:
        async with client.stream("POST", full, content=raw) as resp:
            async for _ in resp.aiter_raw():
                pass

    paths.append(("httpx AsyncClient.stream (costcli)", via_httpx))

    import httpcore

    pool = httpcore.AsyncConnectionPool(max_connections=1)
    host = url.split("//", 1)[1].split("/", 1)[0]
    core_headers = [(b"Host", host.encode()), (b"Content-Type", b"application/json")]
    core_headers.append((b"Content-Length", str(len(raw)).encode()))

    async def via_httpcore() -> None:
        async with pool.stream("POST", full, headers=core_headers, content=raw) as resp:
            async for _ in resp.aiter_stream():
                pass

    paths.append(("httpcore pool directly", via_httpcore))

    try:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport  # type: ignore[import-not-found]
    except ImportError:
        aiohttp = None  # type: ignore[assignment]
    if aiohttp is not None:
        transport = AiohttpTransport(
            client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
        )
        over_aiohttp = httpx.AsyncClient(headers=headers, transport=transport)

        async def via_httpx_aiohttp() -> None:
            async with over_aiohttp.stream("POST", full, content=raw) as resp:
                async for _ in resp.aiter_raw():
                    pass

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), headers=headers)

        async def via_aiohttp() -> None:
            async with session.post(full, data=raw) as resp:
                async for _ in resp.content.iter_any():
                    pass

        paths += [("httpx + httpx-aiohttp", via_httpx_aiohttp), ("aiohttp directly", via_aiohttp)]

    reader, writer = await asyncio.open_connection(*host.split(":"))
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n" % host.encode()
    request += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw)

    async def via_socket() -> None:
        writer.write(request)
        tail = b""
        while True:
            data = tail + await reader.read(65536)
            if b"\r\n0\r\n\r\n" in data:
                return
            tail = data[-8:]

    paths.append(("raw asyncio socket", via_socket))
    print(f"{tokens}-token answers, {n} requests each\n")
    print("| path | client CPU per request | wall per request |\n|---|---|---|")
    for name, one in paths:
        await timed(name, one, n)
    writer.close()
    await client.aclose()
    await pool.aclose()
    if aiohttp is not None:
        await over_aiohttp.aclose()
        await session.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=1)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with Server(0, 0, args.tokens, None) as server:
        asyncio.run(main(server.url, args.tokens, args.requests))
