"""The lean transport: HTTP/1.1 on asyncio protocols, parsed by httptools (llhttp).

What a streamed answer costs the client is mostly its wake-ups: with a stream reader, every
network read wakes the request's task (a future, a loop step, the generators above it).
Here a read is handled in the loop's own callback (`data_received`): stamped with the
clock, parsed by llhttp, its body pieces kept with that stamp. The request's task is woken
only when it has something to decide: the response head came, the body ended, the
connection was lost, a terminal or error event may have come (the adapter's `wake_on`
bytes are in a piece), the body is compressed (each piece is decoded as it comes), or
WAKE_BYTES are waiting. The adapter reads the pieces then, each with its own arrival time,
so TTFT and ITL are those of the reads, not of the wake-ups.

Used where httptools is installed (the `fast` extra) and no proxy is configured (it
speaks to the endpoint directly; aiohttp or httpx read proxies from the environment), and
not for a provider file that sends `Expect: 100-continue`. `COSTCLI_TRANSPORT=httptools`
forces it. Keep-alive connections in one LIFO pool per endpoint, at most `max_streams` in
use at once; a request beyond them waits for one (inside its client_delay).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl as ssl_module
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httptools

from costcli import __version__
from costcli.adapters.base import (
    ConnectError,
    ProviderError,
    RequestTimeoutError,
    StreamAbortedError,
    TransportOptions,
    first_bytes,
    stale_or_cut,
)

perf_ns = time.perf_counter_ns
WAKE_BYTES = 64 * 1024  # body bytes waiting that wake the reader (memory stays bounded)
FLUSH_S = 0.5  # the longest a piece waits unread: a stream that stalls is still read
PAUSE_BYTES = 1 << 20
READ_BYTES = (
    64 * 1024
)  # the most one read takes from a socket  # body bytes waiting at which the socket is no longer read
KEEPALIVE_S = 30.0  # an idle connection older than this is closed, not reused
MARKER_TAIL = 31  # bytes of a piece kept to find a wake-up marker split across two
FRAMING = ("host", "content-length", "transfer-encoding", "connection")  # this module's own


class ClosedError(ConnectionError):
    """The connection closed (or was reset) before the response ended. `partial`: some
    bytes of the response had come (a head begun, a body cut)."""

    def __init__(self, message: str, partial: bool) -> None:
        super().__init__(message)
        self.partial = partial


class BadResponseError(Exception):
    """The server's bytes are not HTTP/1.1 (llhttp's reason)."""


class _Endpoint:
    """One origin (scheme, host, port): its idle connections and the header bytes every
    request to it carries (Host first)."""

    __slots__ = ("head", "host", "idle", "port", "tls")

    def __init__(self, parts: SplitResult, headers: bytes, host: str | None) -> None:
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.tls else 80)
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        authority = host or (name if self.port == default else f"{name}:{self.port}")
        self.head = f"Host: {authority}\r\n".encode("latin-1") + headers
        self.idle: list[_Connection] = []  # LIFO: the warmest connection first


class _Connection(asyncio.BufferedProtocol):
    """One keep-alive connection; `response` is the answer being read on it.

    A buffered protocol: the socket is read into the transport's one buffer (`recv_into`),
    parsed, and the buffer is free again. A plain protocol gets each read as a new bytes
    object of the loop's read size (256 KiB), which glibc maps and unmaps at every read
    (mmap, mremap, munmap: three system calls a chunk, most of a stream's CPU here)."""

    def __init__(self, buffer: memoryview, sweep: _Sweep) -> None:
        self.buffer = buffer
        self.sweep = sweep
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: LeanResponse | None = None
        self.closed = False
        self.idle_since = 0.0
        self.t_ns = 0  # the stamp of the read being parsed

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _unasked(self) -> None:
        """Bytes nobody asked for (while idle, after the answer's end): never reused."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        response = self.response
        if response is None or response.complete:
            self._unasked()
            return
        self.t_ns = perf_ns()
        response.begun = True  # a byte of the answer came: a cut is no longer a stale line
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            response.fail(BadResponseError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            response.fail(BadResponseError(f"not an HTTP/1.1 response: {exc}"))
        if response.wake:
            response.wake = False
            response.notify()

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost tells the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None and not response.complete:
            response.lost(exc)

    # --- llhttp's callbacks (nothing after the answer's end is its) -------------------------

    def on_message_begin(self) -> None:
        if self.response is not None and self.response.complete:
            self._unasked()  # a second answer in the same read

    def on_header(self, name: bytes, value: bytes) -> None:
        response = self.response
        if response is not None and not response.complete:
            response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None or response.complete:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an informational answer: the real one follows
            response.headers.clear()
            response.informational = True
            return
        response.status = status
        response.has_head = True
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        response.every_piece = encoding not in ("", "identity")
        response.wake = True

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is None or response.informational or response.complete:
            return
        response.pieces.append((self.t_ns, body))
        response.waiting += len(body)
        if response.every_piece or response.waiting >= WAKE_BYTES:
            response.wake = True
            if response.waiting >= PAUSE_BYTES and self.transport is not None:
                self.transport.pause_reading()
                response.paused = True
            return
        tail = response.tail
        seen = tail + body if tail else body  # a marker split across two pieces counts
        for marker in response.wake_on:
            if marker in seen:
                response.wake = response.every_piece = True  # what follows it, too
                return
        response.tail = body[-MARKER_TAIL:]
        if not response.listed:
            self.sweep.add(response)

    def on_message_complete(self) -> None:
        response = self.response
        if response is None or response.complete:
            return
        if response.informational:
            response.informational = False
            return
        response.complete = True
        response.keep_alive = self.parser.should_keep_alive()
        response.wake = True


class _Sweep:
    """Every FLUSH_S, the readers of streams that stalled with pieces unread (none came for
    FLUSH_S) are woken: such a stream is still read, and ends as it should. A stream still
    flowing is left alone (waking every one at once would stall the loop for them all).
    One timer for every response of the transport, armed only while one is listed."""

    __slots__ = ("handle", "listed", "loop")

    def __init__(self) -> None:
        self.listed: list[LeanResponse] = []
        self.handle: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(self, response: LeanResponse) -> None:
        response.listed = True
        self.listed.append(response)
        self._arm()

    def _arm(self) -> None:
        if self.handle is None:
            self.loop = self.loop or asyncio.get_running_loop()
            self.handle = self.loop.call_later(FLUSH_S, self.run)

    def run(self) -> None:
        self.handle = None
        stalled_before = perf_ns() - int(FLUSH_S * 1e9)
        kept = []
        for response in self.listed:
            pieces = response.pieces
            if pieces and pieces[-1][0] > stalled_before:
                kept.append(response)  # still flowing
                continue
            response.listed = False
            if pieces:
                response.notify()
        self.listed = kept
        if kept:
            self._arm()

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.listed = []


class LeanResponse:
    """One response as the adapter reads it (transport.Response)."""

    __slots__ = (
        "_conn",
        "_waiter",
        "begun",
        "complete",
        "error",
        "every_piece",
        "has_head",
        "headers",
        "informational",
        "keep_alive",
        "listed",
        "paused",
        "pieces",
        "sent_ns",
        "status",
        "tail",
        "waiting",
        "wake",
        "wake_on",
    )

    def __init__(self, conn: _Connection, wake_on: tuple[bytes, ...]) -> None:
        self._conn = conn
        self._waiter: asyncio.Future[None] | None = None
        self.wake_on = wake_on
        self.sent_ns = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.pieces: list[tuple[int, bytes]] = []  # (arrival ns, body bytes) not yet read
        self.waiting = 0
        self.begun = self.has_head = self.complete = self.keep_alive = False
        self.informational = self.every_piece = self.wake = self.paused = False
        self.error: BaseException | None = None
        self.tail = b""  # the last piece's end (a marker split across pieces)
        self.listed = False  # in the sweep's list: a piece came that woke nobody

    # --- from the connection ---------------------------------------------------------------

    def notify(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.wake = True
        if self._conn.transport is not None:
            self._conn.transport.close()

    def lost(self, exc: Exception | None) -> None:
        if self.error is None:
            partial = self.begun
            ended = exc is None and self.has_head and not self.complete
            if ended and self._close_delimited():
                self.complete = True  # a body without a length ends with its connection
            else:
                reason = f": {exc}" if exc is not None else ""
                what = "during the response" if partial else "before any byte of a response"
                self.error = ClosedError(
                    f"the server closed the connection {what}{reason}", partial
                )
        self.notify()

    def _close_delimited(self) -> bool:
        headers = self.headers
        return (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )

    # --- to the adapter --------------------------------------------------------------------

    async def _wait(self) -> None:
        if self.error is not None:
            raise self.error
        self._waiter = self._conn.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self.error is not None:
            raise self.error

    async def head(self) -> None:
        while not self.has_head:
            await self._wait()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def ended(self) -> bool:
        return self.complete

    async def reads(self) -> AsyncIterator[list[tuple[int, bytes]]]:
        """The body's pieces with their arrival times, a list each time the reader wakes."""
        while True:
            pieces = self.pieces
            if pieces:
                self.pieces, self.waiting = [], 0
                if self.paused and self._conn.transport is not None:
                    self.paused = False
                    self._conn.transport.resume_reading()
                yield pieces
                continue
            if self.complete:
                return
            await self._wait()

    async def raw(self) -> AsyncIterator[bytes]:
        async for pieces in self.reads():
            for _, data in pieces:
                yield data

    async def read(self, limit: int) -> bytes:
        return await first_bytes(self.raw(), limit)


class LeanTransport:
    """transport.Transport on `_Connection`s (see the module's docstring)."""

    name = "httptools"
    stale: tuple[type[BaseException], ...] = (ClosedError,)

    def __init__(self, wake_on: tuple[bytes, ...] = ()) -> None:
        self.wake_on = wake_on
        self._endpoints: dict[tuple[str, str, int | None], _Endpoint] = {}
        self._urls: dict[str, tuple[_Endpoint, bytes]] = {}
        self._headers = b""
        self._authorized = False
        self._ssl: ssl_module.SSLContext | None = None
        self._slots: asyncio.Semaphore | None = None  # max_streams in use at once
        self._host: str | None = None  # a provider file's own Host header
        self._connect_s = 10.0
        self._timeout_s = 120.0
        self._open: set[_Connection] = set()
        # every connection reads into this, one at a time (each read is parsed at once)
        self._buffer = memoryview(bytearray(READ_BYTES))
        self._sweep = _Sweep()
        self._started = False
        self._bad: ValueError | None = None  # headers that cannot be sent

    async def start(self, options: TransportOptions, headers: dict[str, str]) -> None:
        merged = {"User-Agent": f"costcli/{__version__}", **headers}
        self._host = next((v for k, v in merged.items() if k.lower() == "host"), None)
        try:
            self._headers = _header_block(merged)
        except ValueError as exc:  # each request fails with it, as with the other backends
            self._bad = exc
        self._authorized = any(k.lower() == "authorization" for k in merged)
        self._slots = asyncio.Semaphore(max(1, options.max_streams or options.concurrency))
        self._connect_s = min(10.0, options.timeout_s)
        self._timeout_s = options.timeout_s
        self._started = True

    def _endpoint(self, url: str) -> tuple[_Endpoint, bytes]:
        """The URL's origin (one pool for every path of it) and its request target."""
        found = self._urls.get(url)
        if found is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {url!r}")
            origin = (parts.scheme, parts.hostname, parts.port)
            endpoint = self._endpoints.get(origin)
            if endpoint is None:
                extra = b""
                if parts.username is not None and not self._authorized:
                    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                    token = base64.b64encode(pair.encode()).decode()
                    extra = _header_block({"Authorization": f"Basic {token}"})
                head = self._headers + extra
                endpoint = self._endpoints[origin] = _Endpoint(parts, head, self._host)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            found = self._urls[url] = (endpoint, target.encode("latin-1"))
        return found

    def _context(self) -> ssl_module.SSLContext:
        if self._ssl is None:
            import httpx  # its TLS context: certifi's roots, as the other backends use

            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def _connect(self, endpoint: _Endpoint) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._context() if endpoint.tls else None
        connecting = loop.create_connection(
            lambda: _Connection(self._buffer, self._sweep), endpoint.host, endpoint.port, ssl=tls,
            server_hostname=endpoint.host if tls else None,
        )  # fmt: skip
        try:
            _, conn = await asyncio.wait_for(connecting, self._connect_s)
        except (OSError, ssl_module.SSLError) as exc:
            raise _ConnectFailedError(str(exc) or type(exc).__name__) from exc
        except asyncio.TimeoutError:
            raise _ConnectFailedError(f"no connection within {self._connect_s:g} s") from None
        self._open.add(conn)
        return conn

    def _idle(self, endpoint: _Endpoint) -> _Connection | None:
        now = time.monotonic()
        idle = endpoint.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < KEEPALIVE_S:
                return conn
            self._drop(conn)
        return None

    def _drop(self, conn: _Connection) -> None:
        conn.closed = True
        self._open.discard(conn)
        if conn.transport is not None:
            conn.transport.close()

    def _release(self, endpoint: _Endpoint, conn: _Connection, fresh: bool) -> None:
        response = conn.response
        conn.response = None
        reusable = (
            not fresh
            and response is not None
            and response.complete
            and response.keep_alive
            and response.error is None
            and not response.paused
            and not response.pieces  # the reader left before the end: not its to reuse
            and not conn.closed
        )
        if reusable:
            conn.idle_since = time.monotonic()
            endpoint.idle.append(conn)
        else:
            self._drop(conn)

    async def warm(self, url: str, n: int) -> None:
        try:
            endpoint, target = self._endpoint(url)
        except ValueError:
            return  # the requests report it, each as its own

        async def one() -> _Connection | None:
            try:
                conn = await self._connect(endpoint)
            except Exception:  # a failure here is not the run's
                return None
            try:
                accept = {"Accept": "application/json"}
                response = self._send(conn, endpoint, b"GET " + target, b"", accept)
                await asyncio.wait_for(response.read(1 << 20), self._timeout_s)
            except Exception:
                self._drop(conn)
                return None
            if response.complete and response.keep_alive and not conn.closed:
                conn.response = None
                return conn
            self._drop(conn)
            return None

        conns = await asyncio.gather(*(one() for _ in range(n)))
        now = time.monotonic()
        for conn in conns:
            if conn is not None:
                conn.idle_since = now
                endpoint.idle.append(conn)

    def _send(
        self,
        conn: _Connection,
        endpoint: _Endpoint,
        line: bytes,
        content: bytes,
        headers: dict[str, str] | None,
    ) -> LeanResponse:
        """Write the request (`line`: method and target) at once; its response, to read."""
        response = LeanResponse(conn, self.wake_on)
        conn.response = response
        conn.parser = httptools.HttpResponseParser(conn)
        extra = _header_block(headers) if headers else b""
        posting = content or line.startswith(b"POST")
        length = b"Content-Length: %d\r\n\r\n" % len(content) if posting else b"\r\n"
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise ClosedError("the connection closed before the request was sent", False)
        transport.write(line + b" HTTP/1.1\r\n" + endpoint.head + extra + length + content)
        response.sent_ns = perf_ns()
        return response

    @contextlib.asynccontextmanager
    async def post(
        self, url: str, content: bytes, headers: dict[str, str] | None, fresh: bool = False
    ) -> AsyncIterator[LeanResponse]:
        if not self._started:
            raise ConnectError("adapter used before start()")
        if self._bad is not None:
            raise ValueError(str(self._bad))
        if self._slots is None:
            raise ConnectError("adapter used before start()")
        endpoint, target = self._endpoint(url)
        async with self._slots:  # one of max_streams; a wait is the request's client_delay
            conn = None if fresh else self._idle(endpoint)
            if conn is None:
                conn = await self._connect(endpoint)
            try:
                response = self._send(conn, endpoint, b"POST " + target, content, headers)
                await response.head()
                yield response
            finally:
                self._release(endpoint, conn, fresh)

    def error(
        self, exc: BaseException, got_byte: bool, url: str, redact: Any
    ) -> ProviderError | None:
        if isinstance(exc, TimeoutError):
            return RequestTimeoutError(f"timed out: {type(exc).__name__}")
        if isinstance(exc, _ConnectFailedError):
            return ConnectError(redact(f"cannot connect to {url}: {exc}"))
        if isinstance(exc, ClosedError):
            return stale_or_cut(exc, got_byte, url, redact)
        if isinstance(exc, BadResponseError) and got_byte:
            return StreamAbortedError(redact(f"the stream was cut: {exc}"))
        if isinstance(exc, BadResponseError | ValueError | UnicodeError):
            return ConnectError(redact(f"request to {url} failed: {type(exc).__name__}: {exc}"))
        return None

    async def close(self) -> None:
        for conn in list(self._open):
            self._drop(conn)
        for endpoint in self._endpoints.values():
            endpoint.idle.clear()
        self._sweep.stop()
        self._started = False


class _ConnectFailedError(Exception):
    """No connection could be made (refused, unresolvable, TLS failed, timed out)."""


HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token


def _header_block(headers: dict[str, str]) -> bytes:
    """`Name: value\\r\\n` lines; a name that is not a token or a value with a line break is
    refused. Host and the framing headers are this module's own (a given Host wins)."""
    lines = []
    for name, value in headers.items():
        if not HEADER_NAME.fullmatch(name) or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} has a line break or a name that is not a token")
        if name.lower() not in FRAMING:
            lines.append(f"{name}: {value}\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("a header value is not Latin-1 text") from None
