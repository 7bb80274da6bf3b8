"""The adapter contract: what the scheduler needs from a provider dialect.

An adapter is built from a `Target` and a `TransportOptions`, started once, asked to
`stream()` any number of `RequestSpec`s concurrently, and closed once. `stream()` yields
`StreamEvent`s; every event carries the `perf_counter_ns()` time at which the bytes that
produced it were read from the network, so several events parsed from one read share it.

Adapters never raise transport exceptions at the scheduler: they raise `ProviderError`
subclasses, each of which names its error class from DESIGN.md.

Two hooks have defaults in `AdapterBase` (subclass it, or define them yourself):
`fit_workload(workload)` is called before `start()` so a managed server can size itself
(llama.cpp's per-slot context); `refresh_facts()` is awaited after `start()` and after the
measured phase, the place for any I/O behind `describe()`, which must not block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from costcli.adapters.catalog import Target
    from costcli.workloads.spec import RequestSpec, Workload

# The longest wait a `retry-after` can impose, whatever the server says (99999, inf); the
# scheduler also cuts it to what is left of the request's --timeout.
MAX_RETRY_AFTER_S = 60.0

# --- error classes (DESIGN.md, "Errors, by class") -------------------------------------

ERROR_CLASSES = (
    "rate_limited",
    "server",
    "client",
    "timeout",
    "connection",
    "stream_aborted",
    "invalid_output",
)


class ProviderError(Exception):
    """A request failed; `error_class` is one of ERROR_CLASSES."""

    error_class = "server"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(ProviderError):
    error_class = "rate_limited"

    def __init__(self, message: str, *, status: int = 429, retry_after_s: float | None = None):
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class ServerError(ProviderError):
    error_class = "server"


class ClientError(ProviderError):
    error_class = "client"


class RequestTimeoutError(ProviderError):
    error_class = "timeout"


class ConnectError(ProviderError):
    error_class = "connection"


class StreamAbortedError(ProviderError):
    error_class = "stream_aborted"


def error_for_status(
    status: int, message: str, retry_after_s: float | None = None
) -> ProviderError:
    """Map an HTTP status (or an in-stream error code) to its error class."""
    if status == 429:
        return RateLimitedError(message, status=status, retry_after_s=retry_after_s)
    if status >= 500:
        return ServerError(message, status=status)
    return ClientError(message, status=status)


def stale_or_cut(
    exc: BaseException, got_byte: bool, url: str, redact: Callable[[str], str]
) -> ProviderError:
    """A connection that closed under a request: the stream was cut once a byte of the
    body had come (stream_aborted), else the connection failed (a transport's words)."""
    if got_byte:
        return StreamAbortedError(redact(f"the stream was cut: {exc}"))
    return ConnectError(redact(f"connection to {url} failed: {exc}"))


async def first_bytes(reads: AsyncIterator[bytes], limit: int) -> bytes:
    """The first `limit` bytes of a body; the rest is never read (a hostile server's
    endless error body costs `limit` bytes, and the connection is dropped, not reused)."""
    body = bytearray()
    async for data in reads:
        body += data
        if len(body) >= limit:
            break
    return bytes(body[:limit])


# --- events ------------------------------------------------------------------------------


@dataclass(slots=True)
class Sent:
    """The request's bytes were handed to a connection: the end of `client_delay`.

    Any wait for a connection (a full pool, a connect) comes before it. Optional: without
    it, the scheduler takes the moment it called `stream()`."""

    t_ns: int


@dataclass(slots=True)
class FirstByte:
    """The first byte of the response body arrived (TTFB)."""

    t_ns: int


@dataclass(slots=True)
class TextDelta:
    """A chunk that carries output text (content or reasoning). Role-only chunks are not."""

    t_ns: int
    text: str
    reasoning: bool = False


@dataclass(slots=True)
class TextRun:
    """Answer text (never reasoning) of consecutive chunks, `texts[i]` arrived at `t_ns[i]`:
    what the built-in body reader yields for the text chunks of one wake-up, in place of a
    TextDelta each (no event, no generator step a chunk). Its figures are those deltas'."""

    t_ns: list[int]
    texts: list[str]

    def deltas(self) -> list[TextDelta]:
        return [TextDelta(t, text) for t, text in zip(self.t_ns, self.texts, strict=True)]


@dataclass(slots=True)
class ToolCallDelta:
    """A streamed piece of a tool call: output (TTFT, TTFO, ITL), never reasoning.

    `index` is the call's position in the answer; `name` and `call_id` come on its first
    delta, `arguments` is the next piece of its JSON arguments text."""

    t_ns: int
    index: int
    arguments: str = ""
    name: str | None = None
    call_id: str | None = None


@dataclass(slots=True)
class Usage:
    """Token usage as the server reported it."""

    t_ns: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    provider_cost_usd: float | None = None  # the provider's own bill (xAI, OpenRouter)
    # input tokens written to the prompt cache (Anthropic's cache_creation_input_tokens; part
    # of input_tokens, billed at the write rate), and the share of them kept for 1 hour
    cache_write_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    service_tier: str | None = None  # the tier that served it (OpenAI Responses reports it)


@dataclass(slots=True)
class Telemetry:
    """Server-side timings in milliseconds (Groq x_groq, llama.cpp timings), any subset."""

    t_ns: int
    queue_ms: float | None = None
    prefill_ms: float | None = None
    decode_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Finish:
    """The stream ended properly (`[DONE]` or a finish_reason followed by close)."""

    t_ns: int
    reason: str | None = None


StreamEvent = Sent | FirstByte | TextDelta | TextRun | ToolCallDelta | Usage | Telemetry | Finish


def one_delta_a_chunk(events: Iterable[StreamEvent]) -> list[StreamEvent]:
    """The events with each TextRun as its TextDeltas, one a chunk (for whoever reads
    `stream()` event by event)."""
    out: list[StreamEvent] = []
    for event in events:
        out.extend(event.deltas() if isinstance(event, TextRun) else (event,))
    return out


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How the adapter should talk to the network for one run."""

    concurrency: int = 1  # streams expected in flight: connections opened before the run
    timeout_s: float = 120.0
    streams_per_pool: int = 8
    max_streams: int | None = None  # the most in flight at once (None: `concurrency`)


@runtime_checkable
class Adapter(Protocol):
    """A wire dialect. Built by the registry from a Target; one instance per run and target."""

    name: str

    async def start(self) -> None:
        """Open connections or start a managed server. Raise ProviderError if impossible."""

    def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        """Send one request and yield its events as they arrive."""
        ...

    async def close(self) -> None:
        """Release everything `start` acquired. Safe to call twice."""

    def describe(self) -> dict[str, Any]:
        """Facts about the serving side for the results file (server build, model file...).
        No I/O here: `refresh_facts` gathers what needs it."""
        ...

    def fit_workload(self, workload: Workload) -> None:
        """Size the serving side for this workload, before `start()`."""

    async def refresh_facts(self) -> None:
        """Gather what `describe()` reports that needs I/O (after start and after the run)."""


class AdapterBase:
    """The Adapter protocol's defaults, for adapters to subclass (built-ins do)."""

    name = "base"
    dialect = "unknown"  # the wire format it speaks, as `costcli providers` shows it

    def describe(self) -> dict[str, Any]:
        return {}

    def fit_workload(self, workload: Workload) -> None:
        return None

    async def refresh_facts(self) -> None:
        return None


class AdapterFactory(Protocol):
    def __call__(self, target: Target, transport: TransportOptions) -> Adapter: ...
