"""The load engine against the raw socket reader, one exact-timing server, one run.

    python benchmarks/load_engine.py                       # every case below
    python benchmarks/load_engine.py --cases closed:64 --clients costcli,raw
    python benchmarks/load_engine.py --baseline /tmp/costcli-main   # also "today's" code
    python benchmarks/load_engine.py --previous 7bbad6f --repeat 3  # a git ref, medians of 3

Server: `costcli.testing.mock_server` in its own process with `--send-log` (when it wrote each
chunk, CLOCK_MONOTONIC, the clock the clients read too). Each client runs in its own
process; CPU and peak memory are that process's own, over the measured phase.

Cases: closed loop at 1, 16, 64 and 256 streams (server TTFT 200 ms, ITL 20 ms, 50
tokens), open loop at 50, 200 and 1,000 requests/s against a server TTFT of 1,000 ms,
a zero-delay run (50 chunks as fast as the server can, 64 streams, 4,000 requests) for CPU
per 1,000 chunks, and costcli --processes 1 vs 2 at 256 streams through the CLI. At the end,
the summary: CPU per request against the raw reader's, TTFT - truth, peak RSS.

Clients:
  costcli        the real scheduler + OpenAIAdapter, as shipped (aiohttp where installed)
  costcli-httpx  the same on the httpx transport (COSTCLI_TRANSPORT=httpx)
  costcli-uvloop the same on uvloop's event loop
  costcli-aiohttp-transport  the same adapter, httpx over httpx-aiohttp's transport
  costcli-stdjson            the same without orjson (stdlib json)
  aiohttp        a minimal aiohttp streaming client (prebuilt body, SSE counted)
  raw            one keep-alive socket per stream, prebuilt request bytes, no HTTP library
  raw-uvloop     the same on uvloop's event loop
  baseline       costcli from --baseline (a source tree) or --previous (a git ref), as there

Figures: TTFT error vs the send log (client's first-chunk read - server's send of it),
TTFT - configured (the client's own TTFT from its scheduled time - the server's TTFT),
TTFB of each connection's first request vs the steady state, client CPU ms per request
and per 1,000 chunks, peak RSS. Printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from client_overhead import Server, _rusage_cpu, pct  # noqa: E402

MODEL = "mock-model"
PROMPT = {"role": "user", "content": "Count to fifty, one word per token."}
CLOSED = (1, 16, 64, 256)
OPEN = (50, 200, 1000)


# --- clients (each in its own process) ---------------------------------------------------


def _out(records: list[dict[str, Any]], cpu: float, wall: float) -> dict[str, Any]:
    return {"records": records, "cpu_s": cpu, "wall_s": wall,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


async def client_costcli(url: str, case: dict[str, Any]) -> dict[str, Any]:
    """The shipped engine: OpenAIAdapter sized by runner.transport_for, load.run_target."""
    from costcli.adapters.catalog import Target
    from costcli.adapters.openai import OpenAIAdapter
    from costcli.load.phase import SilentObserver, TargetRun
    from costcli.load.schedule import LoadSettings
    from costcli.load.target import run_target
    from costcli.workloads.spec import RequestSpec, Workload

    class Tagged(OpenAIAdapter):
        def request_headers(self, spec: RequestSpec) -> dict[str, str] | None:
            return {"X-Request-Id": f"m{spec.index}"}

    settings = LoadSettings(**case["load"])
    try:
        from costcli.load.runner import transport_for

        transport = transport_for(settings)
    except ImportError:  # pragma: no cover - older trees
        from costcli.adapters.base import TransportOptions

        transport = TransportOptions(concurrency=settings.concurrency)
    adapter = Tagged(Target("bench", MODEL, "openai", url, None), transport)
    if os.environ.get("BENCH_TRANSPORT") == "httpx-aiohttp":
        _aiohttp_pools(adapter)
    workload = Workload("bench", "", (RequestSpec(0, (PROMPT,), max_tokens=case["tokens"]),))
    run = TargetRun()
    await adapter.start()
    try:
        cpu0, t0 = _rusage_cpu(), time.perf_counter()
        try:
            from costcli.load.schedule import PointJob

            await run_target(adapter, PointJob(workload, settings, "m"), SilentObserver(), run)
        except ImportError:  # today's signature
            await run_target(adapter, workload, settings, "m", SilentObserver(), run)  # type: ignore[call-arg]
        cpu, wall = _rusage_cpu() - cpu0, time.perf_counter() - t0
    finally:
        await adapter.close()
    records = []
    for r in run.records:
        scheduled = run.epoch_ns + int((r.scheduled_ms or 0) * 1e6)
        records.append({
            "id": f"m{r.index}", "error": r.error, "ttft_ms": r.ttft_ms, "ttfb_ms": r.ttfb_ms,
            "first_ns": scheduled + int(r.ttft_ms * 1e6) if r.ttft_ms is not None else None,
            "chunks": len(r.itl_ms) + 1 if r.ttft_ms is not None else 0,
            "client_delay_ms": r.client_delay_ms,
        })  # fmt: skip
    return _out(records, cpu, wall)


def _aiohttp_pools(adapter: Any) -> None:
    """Swap the adapter's httpx pools' transport for httpx-aiohttp's (same httpx API)."""
    import httpx
    from httpx_aiohttp import AiohttpTransport

    original = adapter.start
    wire = adapter._wire  # transport.HttpxTransport (COSTCLI_TRANSPORT=httpx)

    async def start() -> None:
        await original()
        for i, pool in enumerate(wire._pools):
            limits = httpx.Limits(max_connections=pool._transport._pool._max_connections)
            wire._pools[i] = httpx.AsyncClient(
                transport=AiohttpTransport(limits=limits), headers=pool.headers,
                timeout=pool.timeout,
            )  # fmt: skip
            await pool.aclose()
        await adapter.warm_connections(adapter.transport.concurrency)

    adapter.start = start


def _body(tokens: int) -> bytes:
    return json.dumps({"model": MODEL, "messages": [PROMPT], "max_tokens": tokens,
                       "stream": True, "stream_options": {"include_usage": True}}).encode()  # fmt: skip


async def _drive(case: dict[str, Any], one: Any, streams: int) -> tuple[float, float]:
    """Closed loop (`streams` workers) or open loop (`rate`, constant) over `one(k, at)`."""
    load = case["load"]
    cpu0, t0 = _rusage_cpu(), time.perf_counter()
    if load.get("rate"):
        start = time.perf_counter_ns() + 2_000_000
        tasks = []
        n = load["requests"]
        for k in range(n):
            due = start + int(k * 1e9 / load["rate"])
            delay = (due - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k, due)))
        await asyncio.gather(*tasks)
    else:
        todo = list(reversed(range(load["requests"])))

        async def worker() -> None:
            while todo:
                await one(todo.pop(), time.perf_counter_ns())

        await asyncio.gather(*(worker() for _ in range(streams)))
    return _rusage_cpu() - cpu0, time.perf_counter() - t0


async def client_raw(url: str, case: dict[str, Any]) -> dict[str, Any]:
    """One keep-alive socket per stream (a free one is reused), prebuilt request bytes."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    body = _body(case["tokens"])
    records: list[dict[str, Any]] = []
    idle: list[tuple[Any, Any]] = []
    perf = time.perf_counter_ns
    streams = case["load"].get("concurrency", 1)
    expected = streams if not case["load"].get("rate") else case["warm"]

    async def connect() -> tuple[Any, Any]:
        return await asyncio.open_connection(host, int(port))

    idle.extend(await asyncio.gather(*(connect() for _ in range(expected))))

    async def one(k: int, scheduled: int) -> None:
        reader, writer = idle.pop() if idle else await connect()
        rid = f"m{k}"
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                     b"application/json\r\nX-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s"
                     % (host.encode(), rid.encode(), len(body), body))  # fmt: skip
        first_byte = first = None
        chunks, tail = 0, b""
        while True:
            data = await reader.read(65536)
            t = perf()
            if not data:
                break
            first_byte = first_byte or t
            data = tail + data
            n = data.count(b'"content":"') - data.count(b'"content":""')
            if n and first is None:
                first = t
            chunks += n
            if b"\r\n0\r\n\r\n" in data or data.startswith(b"0\r\n\r\n"):
                break
            tail = data[-10:]
        idle.append((reader, writer))
        records.append({"id": rid, "error": None if first else "none", "first_ns": first,
                        "ttft_ms": (first - scheduled) / 1e6 if first else None,
                        "ttfb_ms": (first_byte - scheduled) / 1e6 if first_byte else None,
                        "chunks": chunks, "client_delay_ms": 0.0})  # fmt: skip

    cpu, wall = await _drive(case, one, streams)
    for _, writer in idle:
        writer.close()
    return _out(records, cpu, wall)


async def client_aiohttp(url: str, case: dict[str, Any]) -> dict[str, Any]:
    """A minimal aiohttp client: one session, a connector sized for the load, SSE lines."""
    import aiohttp

    body = _body(case["tokens"])
    streams = case["load"].get("concurrency", 1)
    records: list[dict[str, Any]] = []
    perf = time.perf_counter_ns
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        url_chat = url + "/chat/completions"
        warm = streams if not case["load"].get("rate") else case["warm"]
        await asyncio.gather(*(session.get(url + "/models") for _ in range(warm)))

        async def one(k: int, scheduled: int) -> None:
            headers = {"Content-Type": "application/json", "X-Request-Id": f"m{k}"}
            first = first_byte = None
            chunks = 0
            async with session.post(url_chat, data=body, headers=headers) as resp:
                async for raw in resp.content.iter_any():
                    t = perf()
                    first_byte = first_byte or t
                    n = raw.count(b'"content":"') - raw.count(b'"content":""')
                    if n and first is None:
                        first = t
                    chunks += n
            records.append({"id": f"m{k}", "error": None if first else "none", "first_ns": first,
                            "ttft_ms": (first - scheduled) / 1e6 if first else None,
                            "ttfb_ms": (first_byte - scheduled) / 1e6 if first_byte else None,
                            "chunks": chunks, "client_delay_ms": 0.0})  # fmt: skip

        cpu, wall = await _drive(case, one, streams)
    return _out(records, cpu, wall)


CLIENTS = {"costcli": client_costcli, "costcli-uvloop": client_costcli,
           "costcli-httpx": client_costcli,
           "costcli-aiohttp-transport": client_costcli, "costcli-stdjson": client_costcli,
           "baseline": client_costcli, "raw": client_raw, "raw-uvloop": client_raw,
           "aiohttp": client_aiohttp}  # fmt: skip


def client_main(kind: str, url: str, case_json: str, out: str) -> None:
    if kind == "costcli-stdjson":
        sys.modules["orjson"] = None  # type: ignore[assignment]
    case = json.loads(case_json)
    coro = CLIENTS[kind](url, case)
    if kind.endswith("-uvloop"):
        import uvloop

        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    Path(out).write_text(json.dumps(result))


def run_client(kind: str, url: str, case: dict[str, Any], baseline: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = baseline if kind == "baseline" and baseline else str(REPO)
    if kind == "costcli-aiohttp-transport":
        env["BENCH_TRANSPORT"] = "httpx-aiohttp"
    if kind in ("costcli-httpx", "costcli-aiohttp-transport"):
        env["COSTCLI_TRANSPORT"] = "httpx"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    try:
        args = [sys.executable, str(Path(__file__).resolve()), "_client", kind, url]
        subprocess.run([*args, json.dumps(case), str(out)], check=True, env=env, timeout=900)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


# --- figures ---------------------------------------------------------------------------------


def figures(
    result: dict[str, Any], sent: dict[str, list[int]], case: dict[str, Any]
) -> dict[str, Any]:
    ok = [r for r in result["records"] if not r["error"] and r["first_ns"]]
    err = [(r["first_ns"] - sent[r["id"]][0]) / 1e6 for r in ok if sent.get(r["id"])]
    vs_cfg = [r["ttft_ms"] - case["ttft_ms"] for r in ok]
    by_index = sorted(ok, key=lambda r: int(r["id"][1:]))
    streams = case["load"].get("concurrency") or 1
    first = [r["ttfb_ms"] for r in by_index[:streams] if r["ttfb_ms"] is not None]
    steady = [r["ttfb_ms"] for r in by_index[streams:] if r["ttfb_ms"] is not None]
    chunks = sum(r["chunks"] for r in ok)
    return {
        "ok": len(ok), "requests": len(result["records"]),
        "err_p50": pct(err, 50), "err_p99": pct(err, 99),
        "cfg_p50": pct(vs_cfg, 50), "cfg_p99": pct(vs_cfg, 99),
        "ttfb_first": pct(first, 50), "ttfb_steady": pct(steady, 50),
        "cpu_ms_per_req": result["cpu_s"] * 1000 / max(1, len(result["records"])),
        "cpu_s_per_1k_chunks": result["cpu_s"] * 1000 / max(1, chunks),
        "delay_p99": pct([r["client_delay_ms"] for r in result["records"]], 99),
        "maxrss_mb": result["maxrss_mb"],
    }  # fmt: skip


def make_case(name: str) -> dict[str, Any]:
    kind, _, n = name.partition(":")
    if kind == "closed":
        streams = int(n)
        return {"name": name, "ttft_ms": 200, "itl_ms": 20, "tokens": 50,
                "load": {"concurrency": streams, "requests": max(10 * streams, 30)}}  # fmt: skip
    if kind == "open":
        rate = float(n)
        return {"name": name, "ttft_ms": 1000, "itl_ms": 20, "tokens": 50, "warm": int(rate * 2),
                "load": {"rate": rate, "requests": int(rate * 3)}}  # fmt: skip
    if kind == "zero":
        return {"name": name, "ttft_ms": 0, "itl_ms": 0, "tokens": 50,
                "load": {"concurrency": 64, "requests": int(n or 2000)}}  # fmt: skip
    raise SystemExit(f"unknown case {name}")


def run_case(
    name: str, clients: list[str], baseline: str | None, repeat: int = 1
) -> list[dict[str, Any]]:
    """Every client on the case, `repeat` times in turn (interleaved, so a busy spell of
    the machine falls on all of them); one row a client, each figure the runs' median."""
    case = make_case(name)
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in clients}
    failed: dict[str, str] = {}
    for _ in range(repeat):
        for kind in clients:
            with tempfile.TemporaryDirectory() as tmp:
                log = Path(tmp) / "send.log"
                with Server(case["ttft_ms"], case["itl_ms"], case["tokens"], log) as server:
                    load1 = os.getloadavg()[0]
                    try:
                        result = run_client(kind, server.url, case, baseline)
                    except subprocess.CalledProcessError as exc:
                        failed[kind] = str(exc)
                        continue
                sent = server.send_times()
            runs[kind].append({"load1": load1, **figures(result, sent, case)})
            if repeat > 1:
                print(f"  run {len(runs[kind])}/{repeat}: " + _row({"case": name, "client": kind,
                      **runs[kind][-1]}), flush=True)  # fmt: skip
    rows = []
    for kind in clients:
        if not runs[kind]:
            rows.append({"case": name, "client": kind, "failed": failed.get(kind, "no run")})
        else:
            rows.append({"case": name, "client": kind, "runs": len(runs[kind]),
                         **_medians(runs[kind])})  # fmt: skip
        print(_row(rows[-1]), flush=True)
    return rows


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        middle = statistics.median(values) if values else None
        whole = values and all(isinstance(v, int) for v in values)
        out[key] = round(middle) if whole and middle is not None else middle
    return out


def processes_case(streams: int, procs: int) -> dict[str, Any]:
    """costcli's CLI with --processes at `streams` closed loop: TTFT - configured."""
    with tempfile.TemporaryDirectory() as tmp, Server(200, 20, 50, None) as server:
        folder = Path(tmp)
        (folder / "b.toml").write_text(f'name = "b"\nadapter = "openai"\nbase_url = "{server.url}"\n'
                                       f'default_model = "{MODEL}"\n')  # fmt: skip
        out = folder / "r.json"
        cmd = [sys.executable, "-m", "costcli", "run", "-t", "b", "--providers", str(folder / "b.toml"),
               "-c", str(streams), "-n", str(3 * streams), "--warmup", str(streams), "--processes",
               str(procs), "--records", "-q", "-f", "json", "-o", str(out)]  # fmt: skip
        subprocess.run(cmd, check=False, cwd=REPO, stdout=subprocess.DEVNULL, timeout=900)
        doc = json.loads(out.read_text())
    records = doc["targets"][0]["records"]
    ttft = [r["ttft_ms"] - 200 for r in records if r["ok"]]
    return {"case": f"closed:{streams} --processes {procs}", "client": "costcli CLI",
            "ok": len(ttft), "requests": len(records), "cfg_p50": pct(ttft, 50),
            "cfg_p99": pct(ttft, 99)}  # fmt: skip


COLUMNS = [("case", "case"), ("client", "client"), ("ok", "ok"), ("requests", "n"),
           ("err_p50", "TTFT err vs log p50"), ("err_p99", "p99"), ("cfg_p50", "TTFT - truth p50"),
           ("cfg_p99", "p99"), ("ttfb_first", "TTFB first req p50"), ("ttfb_steady", "TTFB steady p50"),
           ("cpu_ms_per_req", "CPU ms/req"), ("cpu_s_per_1k_chunks", "CPU s/1k chunks"),
           ("delay_p99", "client_delay p99"), ("maxrss_mb", "peak RSS MB"), ("load1", "load1")]  # fmt: skip


def _cell(value: Any, key: str = "") -> str:
    if isinstance(value, float) and key == "cpu_s_per_1k_chunks":
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:+.1f}" if abs(value) < 1e4 and value == value else "-"
    return "-" if value is None else str(value)


def _row(row: dict[str, Any]) -> str:
    if "failed" in row:
        return f"| {row['case']} | {row['client']} | failed: {row['failed']} |"
    return "| " + " | ".join(_cell(row.get(k), k) for k, _ in COLUMNS) + " |"


SUMMARY_CASES = {"closed:64": "closed 64 streams", "closed:256": "closed 256",
                 "open:1000": "open loop 1,000 req/s", "zero:4000": "zero delay (throughput)"}  # fmt: skip


def summary(rows: list[dict[str, Any]], others: list[str]) -> str:
    """The issue's table: CPU per request against the raw reader's, TTFT - truth, peak RSS."""
    by = {(r["case"], r["client"]): r for r in rows if "failed" not in r}
    head = ["case", "costcli CPU ms/request", "raw", "ratio", *(f"{o} CPU ms/req" for o in others),
            "TTFT - truth p50 / p99, costcli", "raw", *others,
            "peak RSS MB costcli", "raw", *others]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def pair(r: dict[str, Any] | None) -> str:
        if r is None or r.get("cfg_p50") is None:
            return "-"
        return f"{r['cfg_p50']:+.1f} / {r['cfg_p99']:+.1f}"

    for case in dict.fromkeys(r["case"] for r in rows):
        ours, raw = by.get((case, "costcli")), by.get((case, "raw"))
        if ours is None or raw is None or "cpu_ms_per_req" not in ours:
            continue
        rest = [by.get((case, o)) for o in others]
        ratio = ours["cpu_ms_per_req"] / raw["cpu_ms_per_req"] if raw["cpu_ms_per_req"] else 0
        cells = [SUMMARY_CASES.get(case, case), f"{ours['cpu_ms_per_req']:.2f}",
                 f"{raw['cpu_ms_per_req']:.2f}", f"{ratio:.2f}x",
                 *(f"{o['cpu_ms_per_req']:.2f}" if o else "-" for o in rest),
                 pair(ours), pair(raw), *(pair(o) for o in rest),
                 f"{ours['maxrss_mb']:.0f}", f"{raw['maxrss_mb']:.0f}",
                 *(f"{o['maxrss_mb']:.0f}" if o else "-" for o in rest)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def previous_tree(ref: str) -> str:
    """`git archive REF` of this repository, unpacked in a temporary folder (kept)."""
    folder = tempfile.mkdtemp(prefix="costcli-previous-")
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        client_main(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_cases = [f"closed:{n}" for n in CLOSED] + [f"open:{r}" for r in OPEN] + ["zero:4000"]
    parser.add_argument("--cases", default=",".join(default_cases))
    parser.add_argument("--clients", default="costcli,raw")
    parser.add_argument("--baseline", default=None, help="source tree of today's costcli")
    parser.add_argument(
        "--previous",
        default=None,
        help="a git ref (the previous release): archived, run as 'baseline'",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (medians)")
    parser.add_argument(
        "--processes", default="256", help="streams for the --processes 1/2 rows ('' to skip)"
    )
    parser.add_argument("--json", default=None, help="also write every figure here")
    args = parser.parse_args()
    if args.previous:
        args.baseline = previous_tree(args.previous)
        print(f"previous release: git archive {args.previous} -> {args.baseline}")
    clients = args.clients.split(",") + (["baseline"] if args.baseline else [])
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load1 {os.getloadavg()[0]:.2f}")
    print("| " + " | ".join(t for _, t in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    rows = []
    for name in args.cases.split(","):
        rows += run_case(name, clients, args.baseline, args.repeat)
    for streams in filter(None, args.processes.split(",")):
        for procs in (1, 2):
            rows.append(processes_case(int(streams), procs))
            print(_row(rows[-1]), flush=True)
    others = [c for c in clients if c not in ("costcli", "raw")]
    print("\n" + summary(rows, others))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
