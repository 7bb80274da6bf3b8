"""costcli's engines side by side at 256 and 1,024 streams: `--engine local` with 1 and 2
processes, `--engine ray` with 2 workers, and the raw socket reader, one run.

    python benchmarks/engines.py                        # 256 and 1024 streams
    python benchmarks/engines.py --streams 256 --rounds 3 --repeat 5
    python benchmarks/engines.py --streams 256 --engines local1,local2,shards2   # + two plain --shard runs

Each row runs against its own fresh exact-timing server (`costcli.testing.mock_server`, server TTFT
200 ms, ITL 20 ms, 10 tokens) through the CLI as a user runs it (`costcli run ... -o`), a
warm-up of one request per stream, then `rounds` requests per stream, closed loop. Each
row runs `--repeat` times, interleaved with the others; the table gives the median and
the range (one run on a shared 2-core machine moves by 10 ms and more).

Figures, per row:
  TTFT - truth   the TTFT costcli reports minus the server's configured 200 ms (p50, p99):
                 the whole error a user sees, the client's and the server's
  server late    how late the server itself sent each first chunk (its `--late-log`); on
                 one 2-core machine the server shares the cores with the clients, so part
                 of every row's error is the server's own
  client_delay   p99 of costcli's client_delay_ms (planned time to bytes on a connection)
  wall           the CLI's wall time, Ray's cluster start included
The raw reader's row (benchmarks/client_overhead.py's, one socket per stream) measures
TTFT - truth the same way and is the reference: the least a client can add on this box.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from client_overhead import Server, pct  # noqa: E402
from load_engine import client_raw  # noqa: E402

TTFT_MS, ITL_MS, TOKENS = 200, 20, 10  # the defaults of --ttft, --itl, --tokens
RAW = "raw socket reader"
INDEPENDENT = "--independent-shards"  # not a costcli option: run_costcli's own case
ENGINES = {  # --engines key: (row name, costcli's options)
    "local1": ("local, 1 process", ["--engine", "local", "--processes", "1"]),
    "local2": ("local, 2 processes", ["--engine", "local", "--processes", "2"]),
    "ray2": ("ray, 2 workers", ["--engine", "ray", "--workers", "2"]),
    "shards2": ("2 independent --shard runs", [INDEPENDENT]),
}


class Timing(NamedTuple):
    ttft: int
    itl: int
    tokens: int


class LateServer(Server):
    """`costcli.testing.mock_server` with `--late-log` (each first chunk's own lateness)."""

    def __init__(self, log: Path, timing: Timing) -> None:
        self.late_log = log
        super().__init__(timing.ttft, timing.itl, timing.tokens, None, "--late-log", str(log))

    def late_ms(self, skip: int) -> list[float]:
        """After the first `skip` requests (the warm-up round), in the order they came."""
        self.stop()  # SIGTERM: the server writes its log
        text = self.late_log.read_text() if self.late_log.exists() else ""
        return [int(line.split()[1]) / 1e6 for line in text.splitlines()[skip:]]


def run_costcli(streams: int, rounds: int, engine: list[str], timing: Timing) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = LateServer(folder / "late.log", timing)
        try:
            (folder / "b.toml").write_text(
                f'name = "b"\nadapter = "openai"\nbase_url = "{server.url}"\n'
                f'default_model = "mock-model"\n'
            )
            out = folder / "r.json"
            cmd = [sys.executable, "-m", "costcli", "run", "-t", "b", "--providers",
                   str(folder / "b.toml"), "-c", str(streams), "-n", str(rounds * streams),
                   "--warmup", str(streams), "--max-tokens", str(timing.tokens), "--records", "-q",
                   "-f", "json", "-o", str(out), *engine]  # fmt: skip
            t0 = time.perf_counter()
            if engine == [INDEPENDENT]:  # two plain CLI runs at once, then `costcli merge`
                done = _independent_shards(cmd[:-1], out)
            else:
                done = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True,
                                      text=True, timeout=1800)  # fmt: skip
            wall = time.perf_counter() - t0
            late = server.late_ms(streams)
        finally:
            server.stop()
        if not out.exists():
            return {"failed": done.stderr.strip().splitlines()[-1:]}
        doc = json.loads(out.read_text())
    records = doc["targets"][0]["records"]
    ttft = [r["ttft_ms"] - timing.ttft for r in records if r["ok"]]
    return {
        "ok": len(ttft), "n": len(records), "p50": pct(ttft, 50), "p99": pct(ttft, 99),
        "late_p50": pct(late, 50), "late_p99": pct(late, 99),
        "delay_p99": pct([r["client_delay_ms"] for r in records], 99), "wall": wall,
        "workers": [(w["state"], w["records"]) for w in doc["meta"].get("workers") or []],
    }  # fmt: skip


def _independent_shards(cmd: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    """`--shard 1/2` and `--shard 2/2` as two processes started together, with no parent
    relaying their lines and no common start instant; their files merged."""
    parts = [out.with_name(f"shard{i}.json") for i in (1, 2)]
    runs = [subprocess.Popen([*cmd[:-2], "-o", str(part), "--shard", f"{i}/2"], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for i, part in enumerate(parts, 1)]  # fmt: skip
    for run in runs:
        run.wait(timeout=1800)
    merge = [sys.executable, "-m", "costcli", "merge", *map(str, parts), "--records", "-o",
             str(out), "-f", "json"]  # fmt: skip
    return subprocess.run(merge, check=False, cwd=REPO, capture_output=True, text=True)


def run_raw(streams: int, rounds: int, timing: Timing) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "late.log"
        server = LateServer(log, timing)
        try:
            case = {"ttft_ms": timing.ttft, "tokens": timing.tokens,
                    "load": {"concurrency": streams, "requests": (rounds + 1) * streams}}  # fmt: skip
            t0 = time.perf_counter()
            result = asyncio.run(client_raw(server.url, case))
            wall = time.perf_counter() - t0
            late = server.late_ms(streams)
        finally:
            server.stop()
    # its first round (one request a stream) is the warm-up, as costcli's --warmup
    records = sorted(result["records"], key=lambda r: int(r["id"][1:]))[streams:]
    ttft = [r["ttft_ms"] - timing.ttft for r in records
            if not r["error"] and r["ttft_ms"] is not None]  # fmt: skip
    return {"ok": len(ttft), "n": len(records), "p50": pct(ttft, 50),
            "p99": pct(ttft, 99), "late_p50": pct(late, 50), "late_p99": pct(late, 99),
            "delay_p99": None, "wall": wall, "workers": []}  # fmt: skip


def cell(value: Any, signed: bool = True) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:+.1f}" if signed else f"{value:.1f}"
    return "-" if value is None else str(value)


def spread(rows: list[dict[str, Any]], key: str, signed: bool = True) -> str:
    """The median over the repeats, with their range."""
    values = sorted(r[key] for r in rows if r.get(key) is not None and r[key] == r[key])
    if not values:
        return "-"
    mid = statistics.median(values)
    if len(values) == 1:
        return cell(mid, signed)
    return f"{cell(mid, signed)} ({cell(values[0], signed)}..{cell(values[-1], signed)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="256,1024")
    parser.add_argument("--rounds", type=int, default=3, help="measured requests per stream")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each row, interleaved")
    parser.add_argument("--ttft", type=int, default=TTFT_MS, help="the server's TTFT, ms")
    parser.add_argument("--itl", type=int, default=ITL_MS, help="the server's ITL, ms")
    parser.add_argument("--tokens", type=int, default=TOKENS, help="tokens a response")
    parser.add_argument("--engines", default="raw,local1,local2,ray2", help="rows to run")
    args = parser.parse_args()
    timing = Timing(args.ttft, args.itl, args.tokens)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load1 {os.getloadavg()[0]:.2f}")
    print(f"server TTFT {timing.ttft} ms, ITL {timing.itl} ms, {timing.tokens} tokens; "
          f"median of {args.repeat} interleaved runs (their range)")  # fmt: skip
    print("| streams | engine | ok / n | TTFT - truth p50 | p99 | server late p50 | p99 "
          "| client_delay p99 | wall s | workers (state, records) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for streams in map(int, args.streams.split(",")):
        keys = args.engines.split(",")
        if unknown := [key for key in keys if key != "raw" and key not in ENGINES]:
            parser.error(f"--engines: unknown {', '.join(unknown)}; from raw, {', '.join(ENGINES)}")
        names = [RAW if key == "raw" else ENGINES[key][0] for key in keys]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for key in keys:
                if key == "raw":
                    runs[RAW].append(run_raw(streams, args.rounds, timing))
                else:
                    name, engine = ENGINES[key]
                    runs[name].append(run_costcli(streams, args.rounds, engine, timing))
        for name in names:
            failed = [r["failed"] for r in runs[name] if "failed" in r]
            rows = [r for r in runs[name] if "failed" not in r]
            if failed or not rows:
                print(f"| {streams} | {name} | failed: {failed} |")
                continue
            counts = sorted({f"{r['ok']} / {r['n']}" for r in rows})
            workers = sorted({str(r["workers"]) for r in rows if r["workers"]})
            print(f"| {streams} | {name} | {', '.join(counts)} | {spread(rows, 'p50')} | "
                  f"{spread(rows, 'p99')} | {spread(rows, 'late_p50')} | {spread(rows, 'late_p99')} "
                  f"| {spread(rows, 'delay_p99')} | {spread(rows, 'wall', signed=False)} | "
                  f"{', '.join(workers) or '-'} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
