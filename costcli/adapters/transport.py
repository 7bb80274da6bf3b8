"""The one HTTP transport of the OpenAI-dialect adapters (OpenAI, Groq, llama.cpp, any
compatible endpoint): keep-alive pools sized from the load, connections opened before the
first request, the moment each request's bytes reach a connection, raw body reads.

Three backends behind one interface, chosen once per adapter:

- `httptools` (the `fast` extra; costcli/adapters/lean.py): HTTP/1.1 on asyncio protocols,
  llhttp's parser, each read stamped in the loop's own callback and the request's task
  woken only when it has something to decide: CPU per request near a raw socket reader's
  (docs/performance.md). Not where a proxy is configured, nor for `Expect: 100-continue`.
- `aiohttp` (the `fast` extra): one connector, llhttp's C parser; about a third of httpx's
  CPU per request and per chunk on this project's benchmark (docs/performance.md), which
  is what keeps TTFT honest at 64+ synchronized streams and at hundreds of requests/s.
- `httpx` (always installed): connections sharded over several small pools (one per
  `streams_per_pool` streams): one pool serving hundreds spends its CPU scanning them.

`COSTCLI_TRANSPORT=httpx` (or `aiohttp`, `httptools`) forces one. Library errors are translated here
into the error classes of DESIGN.md; nothing above this module sees an httpx or aiohttp
exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, cast

from costcli.adapters.base import (
    ConnectError,
    ProviderError,
    RequestTimeoutError,
    TransportOptions,
    first_bytes,
    stale_or_cut,
)

if TYPE_CHECKING:
    import httpx  # imported where the httpx backend (or a TLS context) is used: 20 MB

perf_ns = time.perf_counter_ns
Redact = Callable[[str], str]


class Response(Protocol):
    """One response as the adapter reads it."""

    status: int
    sent_ns: int  # when the request's bytes reached a connection (0: not known)

    def header(self, name: str) -> str | None: ...
    def raw(self) -> AsyncIterator[bytes]: ...
    # the body as it comes: each wake-up's reads, [(arrival ns, bytes), ...]
    def reads(self) -> AsyncIterator[list[tuple[int, bytes]]]: ...
    def ended(self) -> bool: ...  # the body's end has come (nothing left to drain)
    async def read(self, limit: int) -> bytes: ...  # at most `limit` bytes of the body


class Transport(Protocol):
    name: str
    stale: tuple[type[BaseException], ...]  # a kept-alive connection the server had closed

    async def start(self, options: TransportOptions, headers: dict[str, str]) -> None: ...
    async def warm(self, url: str, n: int) -> None: ...
    def post(  # fresh: on a new connection, closed after the response (never a pooled one)
        self, url: str, content: bytes, headers: dict[str, str] | None, fresh: bool = False
    ) -> contextlib.AbstractAsyncContextManager[Response]: ...
    def error(
        self, exc: BaseException, got_byte: bool, url: str, redact: Redact
    ) -> ProviderError | None: ...
    async def close(self) -> None: ...


def httpx_stale(httpx: Any) -> tuple[type[BaseException], ...]:
    return (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def ssl_context() -> Any:
    """The TLS context of every backend: certifi's roots, as httpx builds it."""
    import httpx

    return httpx.create_ssl_context()


def _aiohttp_stale(aiohttp: Any) -> tuple[type[BaseException], ...]:
    return (
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        aiohttp.ClientOSError,
        aiohttp.ClientConnectionResetError,
    )


def closed_unanswered(exc: BaseException | None) -> bool:
    """Whether a request that had no response yet failed because the server closed its
    connection before any byte of an answer (either backend): safe to send again.

    aiohttp's ServerDisconnectedError carries the part of a response head that did come (its
    `message` is then that head, not a string). httpx cannot tell: it says "Server
    disconnected without sending a response." after part of a status line too."""
    httpx = sys.modules.get("httpx")  # an httpx error exists only once httpx is used
    if httpx is not None and isinstance(exc, httpx_stale(httpx)):
        return True
    lean = sys.modules.get("costcli.adapters.lean")  # its error exists only once it is used
    if lean is not None and isinstance(exc, lean.ClosedError):
        return not exc.partial  # httptools: `partial` once any byte of a head came
    try:
        import aiohttp
    except ImportError:
        return False
    if isinstance(exc, aiohttp.ClientConnectorError):  # no connection was made at all
        return False
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return isinstance(exc.message, str)
    return isinstance(exc, _aiohttp_stale(aiohttp))


TRANSPORTS = ("httptools", "aiohttp", "httpx")


def create_transport(
    wake_on: tuple[bytes, ...] = (), headers: dict[str, str] | None = None, url: str = ""
) -> Transport:
    """httptools where installed, else aiohttp where installed, else httpx;
    COSTCLI_TRANSPORT names one. httptools is passed over where a proxy is configured, a
    header asks for `Expect: 100-continue` or the URL is more than plain ASCII (an IDN host,
    a non-ASCII path): aiohttp handles those. `wake_on`: bytes of a body piece that may end
    the stream (httptools wakes the reader for them)."""
    wanted = os.environ.get("COSTCLI_TRANSPORT", "").strip().lower()
    if wanted and wanted not in TRANSPORTS:
        _refuse(f"COSTCLI_TRANSPORT={wanted}: not a transport; use one of "
                f"{', '.join(TRANSPORTS)} or unset it")  # fmt: skip
    from costcli.adapters.catalog import PLAIN_URL

    plain = not any(k.lower() == "expect" for k in headers or {}) and PLAIN_URL.fullmatch(url)
    lean = wanted == "httptools" or (not wanted and plain and not _proxy_in_env())
    if lean and _installed("httptools", wanted == "httptools"):
        from costcli.adapters.lean import LeanTransport

        return LeanTransport(wake_on)
    if wanted != "httpx" and _installed("aiohttp", wanted == "aiohttp"):
        return AiohttpTransport()
    return HttpxTransport()


def _installed(module: str, named: bool) -> bool:
    """Whether `module` imports; one named by COSTCLI_TRANSPORT must."""
    try:
        importlib.import_module(module)
    except ImportError:
        if named:
            _refuse(f"COSTCLI_TRANSPORT={module}: {module} is not installed; "
                    "pip install 'costcli[fast]' or unset it")  # fmt: skip
        return False
    return True


def _refuse(message: str) -> NoReturn:
    from costcli.files.errors import BadInputError

    raise BadInputError(message)


# --- httpx -----------------------------------------------------------------------------


class _HttpxResponse:
    __slots__ = ("_resp", "sent_ns", "status")

    def __init__(self, resp: httpx.Response, sent_ns: int) -> None:
        self._resp, self.sent_ns, self.status = resp, sent_ns, resp.status_code

    def header(self, name: str) -> str | None:
        value = self._resp.headers.get(name)
        return None if value is None else str(value)

    def raw(self) -> AsyncIterator[bytes]:
        return self._resp.aiter_raw()

    async def reads(self) -> AsyncIterator[list[tuple[int, bytes]]]:
        async for data in self._resp.aiter_raw():
            yield [(perf_ns(), data)]

    def ended(self) -> bool:
        return False  # httpcore pools a connection only once its body is read to the end

    async def read(self, limit: int) -> bytes:
        return await first_bytes(self._resp.aiter_bytes(), limit)


class HttpxTransport:
    name = "httpx"

    def __init__(self) -> None:
        import httpx

        self.stale = httpx_stale(httpx)
        self._pools: list[httpx.AsyncClient] = []
        self._in_flight: list[int] = []
        self._fresh: httpx.AsyncClient | None = None  # keeps no connection: each one is new

    async def start(self, options: TransportOptions, headers: dict[str, str]) -> None:
        import httpx

        per_pool = max(1, options.streams_per_pool)
        n_pools = max(1, math.ceil(options.concurrency / per_pool))
        ceiling = max(per_pool, math.ceil((options.max_streams or 0) / n_pools))
        limits = httpx.Limits(max_connections=ceiling, max_keepalive_connections=ceiling)
        timeout = httpx.Timeout(options.timeout_s, connect=min(10.0, options.timeout_s))
        # One SSL context for every pool: building one costs ~20 ms (certificate store).
        tls = ssl_context()
        self._pools = [
            httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers, verify=tls)
            for _ in range(n_pools)
        ]
        self._in_flight = [0] * n_pools
        self._fresh = httpx.AsyncClient(
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=timeout,
            headers=headers,
            verify=tls,
        )

    async def warm(self, url: str, n: int) -> None:
        async def one(pool: httpx.AsyncClient) -> None:
            with contextlib.suppress(Exception):  # a failure here is not the run's
                await pool.get(url, headers={"Accept": "application/json"})

        await asyncio.gather(*(one(self._pools[i % len(self._pools)]) for i in range(n)))

    @contextlib.asynccontextmanager
    async def post(
        self, url: str, content: bytes, headers: dict[str, str] | None, fresh: bool = False
    ) -> AsyncIterator[Response]:
        if not self._pools or self._fresh is None:
            raise ConnectError("adapter used before start()")
        counts = self._in_flight
        pool = counts.index(min(counts))
        client = self._fresh if fresh else self._pools[pool]
        step = 0 if fresh else 1  # the fresh client is none of the pools
        counts[pool] += step
        sent_ns = 0

        async def trace(event: str, info: dict[str, Any]) -> None:
            nonlocal sent_ns
            if event == "http11.send_request_body.complete":
                sent_ns = perf_ns()  # the request's last byte is on the connection

        try:
            async with client.stream(
                "POST", url, content=content, headers=headers, extensions={"trace": trace}
            ) as resp:
                yield _HttpxResponse(resp, sent_ns)
        finally:
            counts[pool] -= step

    def error(
        self, exc: BaseException, got_byte: bool, url: str, redact: Redact
    ) -> ProviderError | None:
        import httpx

        if not isinstance(exc, httpx.HTTPError):
            return None
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(f"timed out: {type(exc).__name__}")
        if isinstance(exc, httpx.ConnectError):
            return ConnectError(redact(f"cannot connect to {url}: {exc}"))
        if isinstance(exc, self.stale):
            return stale_or_cut(exc, got_byte, url, redact)
        # redirects, protocol errors, bad header values...
        return ConnectError(redact(f"request to {url} failed: {exc}"))

    async def close(self) -> None:
        pools, self._pools = self._pools, []
        if self._fresh is not None:
            pools.append(self._fresh)
            self._fresh = None
        for pool in pools:
            await pool.aclose()


# --- aiohttp ---------------------------------------------------------------------------


class _SentAt:
    __slots__ = ("sent_ns",)

    def __init__(self) -> None:
        self.sent_ns = 0


class _AiohttpResponse:
    __slots__ = ("_resp", "sent_ns", "status")

    def __init__(self, resp: Any, sent_ns: int) -> None:
        self._resp, self.sent_ns, self.status = resp, sent_ns, resp.status

    def header(self, name: str) -> str | None:
        value = self._resp.headers.get(name)
        return None if value is None else str(value)

    def raw(self) -> AsyncIterator[bytes]:
        return cast("AsyncIterator[bytes]", self._resp.content.iter_any())

    async def reads(self) -> AsyncIterator[list[tuple[int, bytes]]]:
        async for data in self._resp.content.iter_any():
            yield [(perf_ns(), data)]

    def ended(self) -> bool:
        return bool(self._resp.content.is_eof())

    async def read(self, limit: int) -> bytes:
        return await first_bytes(self.raw(), limit)


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")


def _proxy_in_env() -> bool:
    """Whether to read proxies (and .netrc) from the environment, as httpx does. aiohttp
    looks both up in a worker thread on every request (two thread hops, ~0.2 ms and two
    event-loop steps each): only where a proxy is configured is that worth paying."""
    return any(os.environ.get(v) or os.environ.get(v.lower()) for v in PROXY_VARIABLES)


async def _headers_sent(session: Any, context: Any, params: Any) -> None:
    sent = context.trace_request_ctx
    if isinstance(sent, _SentAt):
        sent.sent_ns = perf_ns()


class _Body(bytes):
    """A request body for `_eager_request`: written by it, in the step that sends the request."""


EAGER_BODY = sys.version_info < (3, 12)  # from 3.12 aiohttp starts its body task eagerly


def _eager_request(aiohttp: Any) -> type[Any]:
    """aiohttp's request class, with the body written in the step that writes the headers.

    aiohttp writes a body in a task of its own. Before Python 3.12 (no eager tasks) that
    task runs only after every callback already waiting in the event loop. In a round of 256
    synchronized streams, each request's bytes then left after the whole round had been
    handled, and the `Sent` time, taken at the headers, was early by as much. Sent without a
    body, aiohttp writes the headers at once; this class sends so and writes the body right
    behind them. aiohttp's own path stays where it must order or shape the bytes itself: the
    connection's writing paused, `Expect: 100-continue` (a provider file's header), chunked
    or compressed bodies. aiohttp's own re-sends (a stale connection under an idempotent
    method, a 307/308 redirect) would find no body: costcli POSTs without redirects."""

    class EagerRequest(aiohttp.ClientRequest):  # type: ignore[misc]
        _eager = b""

        def update_body_from_data(self, body: Any, *args: Any, **kwargs: Any) -> None:
            if isinstance(body, _Body):
                self._eager = body
                self.headers["Content-Length"] = str(len(body))
                body = None
            super().update_body_from_data(body, *args, **kwargs)

        async def send(self, conn: Any) -> Any:
            body, protocol = self._eager, conn.protocol
            if body and (
                protocol is None
                or protocol.writing_paused
                or self._continue is not None
                or self.chunked
                or self.compress
            ):
                super().update_body_from_data(bytes(body))  # aiohttp writes it, in its task
                body = b""
            response = await super().send(conn)  # the headers are on the connection now
            if body:
                transport = conn.transport
                if transport is None or transport.is_closing():
                    raise aiohttp.ClientConnectionResetError("the connection closed")
                transport.write(body)
            return response

    return EagerRequest


class AiohttpTransport:
    name = "aiohttp"

    def __init__(self) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session: Any = None
        self._fresh: Any = None  # a session that keeps no connection: each one is new
        self._urls: dict[str, Any] = {}
        self._authorized = False
        self.stale = _aiohttp_stale(aiohttp)

    async def start(self, options: TransportOptions, headers: dict[str, str]) -> None:
        aiohttp = self._aiohttp
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)
        limit = options.max_streams or options.concurrency
        tls = ssl_context()
        connector = aiohttp.TCPConnector(
            limit=limit, limit_per_host=0, ssl=tls, keepalive_timeout=30
        )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(10.0, options.timeout_s), sock_read=options.timeout_s
        )
        self._authorized = any(k.lower() == "authorization" for k in headers)
        session = functools.partial(
            aiohttp.ClientSession,
            headers=headers,
            timeout=timeout,
            auto_decompress=False,  # the adapter decodes what a server compressed anyway
            trust_env=_proxy_in_env(),
            trace_configs=[trace],
            request_class=_eager_request(aiohttp) if EAGER_BODY else aiohttp.ClientRequest,
        )
        self._session = session(connector=connector)
        self._fresh = session(connector=aiohttp.TCPConnector(limit=0, ssl=tls, force_close=True))

    def _url(self, url: str) -> Any:
        """The URL as aiohttp takes it: `user:pass@` dropped where an Authorization header
        is sent (httpx lets the header win; aiohttp refuses both), else Basic auth."""
        parsed = self._urls.get(url)
        if parsed is None:
            import yarl

            parsed = yarl.URL(url)
            if self._authorized and parsed.user is not None:
                parsed = parsed.with_user(None)
            self._urls[url] = parsed
        return parsed

    async def warm(self, url: str, n: int) -> None:
        async def one() -> None:
            with contextlib.suppress(Exception):  # a failure here is not the run's
                async with self._session.get(
                    self._url(url), headers={"Accept": "application/json"}
                ) as resp:
                    await resp.read()

        await asyncio.gather(*(one() for _ in range(n)))

    @contextlib.asynccontextmanager
    async def post(
        self, url: str, content: bytes, headers: dict[str, str] | None, fresh: bool = False
    ) -> AsyncIterator[Response]:
        if self._session is None:
            raise ConnectError("adapter used before start()")
        sent = _SentAt()
        async with (self._fresh if fresh else self._session).post(
            self._url(url),
            data=_Body(content) if EAGER_BODY else content,
            headers=headers,
            allow_redirects=False,
            trace_request_ctx=sent,
        ) as resp:
            yield _AiohttpResponse(resp, sent.sent_ns)

    def error(
        self, exc: BaseException, got_byte: bool, url: str, redact: Redact
    ) -> ProviderError | None:
        aiohttp = self._aiohttp
        if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError | TimeoutError):
            return RequestTimeoutError(f"timed out: {type(exc).__name__}")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ConnectError(redact(f"cannot connect to {url}: {exc}"))
        if isinstance(exc, self.stale):
            return stale_or_cut(exc, got_byte, url, redact)
        if isinstance(exc, aiohttp.ClientError | ValueError):  # bad URL, bad header value...
            return ConnectError(redact(f"request to {url} failed: {type(exc).__name__}: {exc}"))
        return None

    async def close(self) -> None:
        sessions = (self._session, self._fresh)
        self._session = self._fresh = None
        for session in sessions:
            if session is not None:
                await session.close()
