"""llama.cpp's llama-server: the OpenAI wire format plus `timings`, managed or attached.

*Attached*: the provider file's `base_url` points at a llama-server someone already runs.
*Managed* (no `base_url`): `start()` finds a binary and a model (costcli.adapters.local_model),
starts `llama-server` on a free port with `--metrics`, `--parallel` = the concurrency and
a context that fits, waits for `/health` (503 while the model loads), and `close()` stops
it. The server lives in its own session (a Ctrl-C at the terminal reaches costcli, which
stops it in order); an atexit hook and, on Linux, a parent-death signal make sure it never
outlives costcli, however costcli ends.

Either way each request sends `cache_prompt` (false unless the workload asks: a warm prefix
cache would flatter TTFT) and, for fixed-length workloads, `ignore_eos`; the final chunk's
`timings` (prompt_n, prompt_ms, predicted_n, predicted_ms) become server telemetry;
`/metrics` is read before and after the run, and `/props` gives the build and the model.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from costcli.adapters.base import StreamEvent, Telemetry, TransportOptions, Usage
from costcli.adapters.catalog import Target
from costcli.adapters.local_model import (
    binary_version,
    chat_template_args,
    find_binary,
    find_model,
    model_fingerprint,
)
from costcli.adapters.openai import OpenAIAdapter, top_level_extras
from costcli.files.errors import BadInputError, UnreachableError
from costcli.workloads.spec import RequestSpec, Workload

START_TIMEOUT_ENV = "COSTCLI_LLAMA_START_TIMEOUT"
DEFAULT_START_TIMEOUT_S = 120.0
HEALTH_POLL_S = 0.1
STOP_GRACE_S = 5.0
MIN_SLOT_CTX = 2048
DEFAULT_SLOT_CTX = 4096  # until fit_workload() says otherwise: fits every built-in workload
LOG_TAIL_LINES = 5
KEEP_LOGS = 20
RESERVED_ARGS = ("--host", "--port", "-m", "--model")
METRIC_COUNTERS = {
    "prompt_tokens_total": "prompt_tokens",
    "prompt_tokens_cached_total": "prompt_tokens_cached",
    "prompt_seconds_total": "prompt_seconds",
    "tokens_predicted_total": "tokens_predicted",
    "tokens_predicted_seconds_total": "tokens_predicted_seconds",
    "n_decode_total": "decode_calls",
}
# a reused connection the server had closed: no response byte came back
METRIC_GAUGES = ("n_busy_slots_per_decode", "requests_deferred", "requests_processing")

# --- no orphans: every managed server is stopped at interpreter exit -----------------------

_LIVE: dict[int, subprocess.Popen[bytes]] = {}


def _stop_process(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, wait `grace_s`, then SIGKILL; blocking. Safe on a process that already ended."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    _LIVE.pop(proc.pid, None)


@atexit.register
def _stop_all_managed() -> None:
    for proc in list(_LIVE.values()):
        _stop_process(proc)


def _load_prctl() -> Any:
    """prctl(2), resolved once in the parent: the child may not import after fork."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the server if costcli dies without cleaning up (SIGKILL, crash)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` non-empty lines of a log, joined into one line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept) if kept else "(empty log)"


def new_log_path(keep: int = KEEP_LOGS) -> Path:
    """A fresh log file in one per-user folder under the temp dir; only the newest `keep`
    logs stay, so runs do not litter the disk."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(tempfile.gettempdir()) / f"costcli-llama-{uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    logs = sorted(folder.glob("llama-server-*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[: max(0, len(logs) - keep + 1)]:
        with contextlib.suppress(OSError):
            old.unlink()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"llama-server-{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}.log"


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {name without the `llamacpp:` prefix: value}."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        name = name.split("{", 1)[0].removeprefix("llamacpp:")
        with contextlib.suppress(ValueError, IndexError):
            values[name] = float(rest.split()[0])
    return values


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Counter deltas over the run, two derived speeds, and the gauges as they ended."""
    delta: dict[str, Any] = {}
    for raw, label in METRIC_COUNTERS.items():
        if raw in after:
            delta[label] = round(after[raw] - before.get(raw, 0.0), 6)
    if delta.get("tokens_predicted_seconds"):
        delta["decode_tokens_per_s"] = round(
            delta.get("tokens_predicted", 0) / delta["tokens_predicted_seconds"], 3
        )
    if delta.get("prompt_seconds"):
        delta["prompt_tokens_per_s"] = round(
            delta.get("prompt_tokens", 0) / delta["prompt_seconds"], 3
        )
    for gauge in METRIC_GAUGES:
        if gauge in after:
            delta[gauge] = after[gauge]
    return delta


def slot_context_for(workload: Workload) -> int:
    """Context one slot needs for the longest request: prompt (~1.5 tokens per word, plus
    the chat template) + max_tokens, rounded up to 256 and at least MIN_SLOT_CTX."""
    need = 0
    for i in range(len(workload.items)):
        spec = workload.request(i)
        prompt = int(spec.prompt_words() * 1.5) + 16 * len(spec.messages) + 32
        need = max(need, prompt + (spec.max_tokens or 512))
    return max(MIN_SLOT_CTX, -(-need // 256) * 256)


class LlamaServerProcess:
    """One managed llama-server: launch on a free port, wait until healthy, stop."""

    def __init__(self, binary: Path, model: Path, args: Iterable[str]) -> None:
        self.binary, self.model, self.extra_args = binary, model, list(args)
        self.log_path = new_log_path()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.argv: list[str] = []

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        self.port = free_port()
        self.argv = [
            str(self.binary),
            *("-m", str(self.model), "--host", "127.0.0.1", "--port", str(self.port)),
            "--metrics",
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if _PRCTL is not None else None,  # noqa: PLW1509
            )
        _LIVE[self.proc.pid] = self.proc

    def failure(self, why: str) -> UnreachableError:
        return UnreachableError(
            f"llama-server {why} (log {self.log_path}): {log_tail(self.log_path)}"
        )

    async def wait_healthy(self, timeout_s: float) -> None:
        """Poll /health every 100 ms until 200; the process ending or the timeout fails."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                code = self.proc.poll()
                if code is not None:
                    raise self.failure(f"exited with code {code} before it was ready")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(self.root + "/health")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise self.failure(f"was not ready within {timeout_s:g} s")
                await asyncio.sleep(HEALTH_POLL_S)

    def address_in_use(self) -> bool:
        text = log_tail(self.log_path, 20).lower()
        return "address already in use" in text or "couldn't bind" in text

    async def stop(self) -> None:
        """SIGTERM, up to 5 s for a clean exit (without blocking the loop), then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        deadline = time.monotonic() + STOP_GRACE_S
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        _stop_process(proc, grace_s=0.0 if proc.poll() is None else STOP_GRACE_S)

    def stop_now(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            _stop_process(proc)


class LlamaCppAdapter(OpenAIAdapter):
    """llama-server, managed (no base_url) or attached (base_url)."""

    name = "llamacpp"
    dialect = "chat completions + timings"

    def __init__(self, target: Target, transport: TransportOptions) -> None:
        self.managed = not (target.base_url or "").strip()
        if self.managed:  # the URL is known once the server is up
            super().__init__(_with_base_url(target, "http://127.0.0.1:0/v1"), transport)
            self.target = target
        else:
            super().__init__(target, transport)
        self.root = self.url.removesuffix("/chat/completions").removesuffix("/v1")
        self.slot_ctx = DEFAULT_SLOT_CTX
        self.server: LlamaServerProcess | None = None
        self._info: dict[str, Any] = {"mode": "managed" if self.managed else "attached"}
        self._metrics_before: dict[str, float] | None = None
        self._requests_sent = 0

    # --- sizing and lifecycle ----------------------------------------------------------------

    def fit_workload(self, workload: Workload) -> None:
        """Size each slot's context for this workload (call before start(); optional)."""
        self.slot_ctx = slot_context_for(workload)

    def server_args(self) -> list[str]:
        """--parallel, --ctx-size and --threads, then the provider's `server_args` (later wins)."""
        settings = self.target.settings
        extra = list(settings.server_args) if settings else []
        for arg in extra:
            if arg.split("=", 1)[0] in RESERVED_ARGS:
                raise BadInputError(
                    f"{self.target.source_file}: key 'server_args' sets {arg}, which the managed "
                    "server chooses itself; remove it (set base_url to attach to your own server)"
                )
        slots = max(1, self.transport.concurrency)
        threads = (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        )
        return [
            *("--parallel", str(slots), "--ctx-size", str(slots * self.slot_ctx)),
            *("--threads", str(threads or 1)),
            *extra,
        ]

    async def start(self) -> None:
        if self.managed:
            await self._start_managed()
        await super().start()
        await self._read_server_facts()

    async def _start_managed(self) -> None:
        settings = self.target.settings
        source = self.target.source_file
        binary = find_binary(settings.binary if settings else None, source)
        model = find_model(settings.model_path if settings else None, source)
        args = self.server_args()
        args += chat_template_args(
            model,
            settings.chat_template if settings else None,
            settings.server_args if settings else (),
        )
        self._info["server"] = {
            "binary": str(binary.path),
            "binary_source": binary.source,
            "version": await asyncio.to_thread(binary_version, binary.path),
        }
        self._info["model_file"] = await asyncio.to_thread(model_fingerprint, model.path)
        self._info["model_file"]["source"] = model.source
        timeout_s = float(os.environ.get(START_TIMEOUT_ENV) or DEFAULT_START_TIMEOUT_S)
        for attempt in range(3):
            server = LlamaServerProcess(binary.path, model.path, args)
            self.server = server
            try:
                server.launch()
                await server.wait_healthy(timeout_s)
                break
            except UnreachableError:
                server.stop_now()
                if attempt < 2 and server.address_in_use():
                    continue  # the free port was taken between our check and its bind
                raise
            except BaseException:
                server.stop_now()
                raise
        self.root = server.root
        self.url = server.root + "/v1/chat/completions"
        self._info["server"].update(
            {
                "args": server.argv[1:],
                "log": str(server.log_path),
                "pid": server.proc.pid if server.proc else None,
            }
        )

    async def _read_server_facts(self) -> None:
        """Build, slots and model from /props; a first /metrics snapshot. Best effort."""
        async with httpx.AsyncClient(timeout=5.0, headers=self.headers()) as client:
            props = await _get_json(client, self.root + "/props")
            metrics = await _get_text(client, self.root + "/metrics")
        server = self._info.setdefault("server", {})
        server["base_url"] = self.root
        if props:
            settings = props.get("default_generation_settings") or {}
            server.update(
                {
                    "build_info": props.get("build_info"),
                    "total_slots": props.get("total_slots"),
                    "n_ctx_per_slot": settings.get("n_ctx"),
                    "model_path": props.get("model_path"),
                }
            )
            if (props.get("total_slots") or 0) < self.transport.concurrency:
                server["note"] = (
                    f"the server has {props.get('total_slots')} slots for "
                    f"{self.transport.concurrency} concurrent requests: the rest queue"
                )
            path = props.get("model_path")
            if path and "model_file" not in self._info:
                self._info["model_file"] = await asyncio.to_thread(_served_model, path)
        if metrics is None:
            self._info["metrics"] = {"available": False}
        else:
            self._metrics_before = parse_metrics(metrics)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            server, self.server = self.server, None
            if server is not None:
                await server.stop()

    async def refresh_facts(self) -> None:
        """After the run: what /metrics counted since start (best effort)."""
        if self._metrics_before is None or not self._requests_sent:
            return
        async with httpx.AsyncClient(timeout=2.0, headers=self.headers()) as client:
            text = await _get_text(client, self.root + "/metrics")
        if text is not None:
            delta = metrics_delta(self._metrics_before, parse_metrics(text))
            self._info["metrics"] = {"since": "start (warmup included)", **delta}

    def describe(self) -> dict[str, Any]:
        return {**self._info, "stale_connection_retries": self.stale_connection_retries}

    @property
    def metrics_url(self) -> str | None:
        """The managed server's /metrics (started with --metrics), read every second of
        each measured phase (load/scrape.py); an attached server's only when asked."""
        return self.root + "/metrics" if self.managed and self.server is not None else None

    # --- one request ---------------------------------------------------------------------------

    def request_body(self, spec: RequestSpec) -> dict[str, Any]:
        self._requests_sent += 1
        body = super().request_body(spec)
        body["cache_prompt"] = bool(spec.cache_prompt)
        if spec.exact_output_tokens:
            body["ignore_eos"] = True
        return body

    @top_level_extras
    def chunk_events(self, chunk: dict[str, Any], t_ns: int) -> list[StreamEvent]:
        events = super().chunk_events(chunk, t_ns)
        timings = chunk.get("timings")
        if isinstance(timings, dict):
            events.append(
                Telemetry(
                    t_ns,
                    prefill_ms=_number(timings.get("prompt_ms")),
                    decode_ms=_number(timings.get("predicted_ms")),
                    extra={
                        key: timings[key]
                        for key in ("prompt_n", "predicted_n", "cache_n")
                        if key in timings
                    },
                )
            )
            events.extend(_timings_usage(timings, has_usage=bool(chunk.get("usage")), t_ns=t_ns))
        return events


def _timings_usage(timings: dict[str, Any], *, has_usage: bool, t_ns: int) -> list[StreamEvent]:
    """Usage from `timings`: `cache_n` is the prompt tokens served from the slot's cache.

    Beside a `usage` object only the cached count is added (usage's own counts stand);
    without one, the counts come from timings (input = prompt_n + cache_n)."""
    cache_n = timings.get("cache_n")
    cached = cache_n if isinstance(cache_n, int) else None
    if has_usage:
        return [Usage(t_ns, cached_input_tokens=cached)] if cached is not None else []
    if not isinstance(timings.get("predicted_n"), int):
        return []
    prompt_n = timings.get("prompt_n")
    return [
        Usage(
            t_ns,
            input_tokens=prompt_n + (cached or 0) if isinstance(prompt_n, int) else None,
            output_tokens=timings["predicted_n"],
            cached_input_tokens=cached,
        )
    ]


def _with_base_url(target: Target, base_url: str) -> Target:
    from dataclasses import replace

    return replace(target, base_url=base_url)


def _served_model(path: str) -> dict[str, Any]:
    """The attached server's model file: fingerprinted if it is on this machine too."""
    local = Path(path)
    return model_fingerprint(local) if local.is_file() else {"name": local.name, "path": path}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        resp = await client.get(url)
        data = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def _get_text(client: httpx.AsyncClient, url: str) -> str | None:
    try:
        resp = await client.get(url)
    except httpx.HTTPError:
        return None
    return resp.text if resp.status_code == 200 else None
