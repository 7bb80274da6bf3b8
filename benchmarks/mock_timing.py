"""Timing figures the test suite does not assert: how late the mock server and costcli run.

    python benchmarks/mock_timing.py              # 10 rounds where rounds apply
    python benchmarks/mock_timing.py --rounds 30

The tests check only what no load can break (a chunk is never earlier than its deadline, a
slower server's verdict fails, streams overlap); a busy machine makes everything later, so
how much later is measured here, on a machine kept quiet:

(1) One stream, TTFT 120 ms, ITL 10 ms, 20 tokens: lateness of the first text chunk, the
    median gap, and the last chunk's lateness (absolute deadlines: no drift over the stream);
    a non-streaming answer's lateness past its 120 + 19 x 10 ms schedule.
(2) 200 concurrent streams (TTFT 100 ms, ITL 20 ms, 10 tokens): wall time for all of them
    against the 280 ms one stream takes.
(3) `costcli run --sweep concurrency=1,4` (TTFT 40 ms): requests/s at 4 over requests/s at 1.
(4) Two runs of one server (TTFT 120 ms, 40 requests, concurrency 4) through `costcli check
    --budget ttft_p95_ms=+10%`: the change and its bootstrap interval (noise alone).

costcli's own measuring error against the server's send log is benchmarks/client_overhead.py.
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mockserver_fixture import start_mock_server  # noqa: E402

CHAT = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}


def text_arrivals_ms(client: httpx.Client, url: str) -> list[float]:
    sent = time.perf_counter_ns()
    times = []
    with client.stream("POST", f"{url}/chat/completions", json={**CHAT, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {") and '"content":"' in line and '"role"' not in line:
                times.append((time.perf_counter_ns() - sent) / 1e6)
    return times


def one_stream(rounds: int) -> None:
    first, gaps, last, plain = [], [], [], []
    args = ("--output-tokens", "20", "--ttft-ms", "120", "--itl-ms", "10")
    with start_mock_server(*args) as (url, _), httpx.Client() as client:
        text_arrivals_ms(client, url)  # warm the connection
        for _ in range(rounds):
            times = text_arrivals_ms(client, url)
            first.append(times[0] - 120)
            gaps.append(statistics.median(b - a for a, b in itertools.pairwise(times)))
            last.append(times[-1] - (120 + 19 * 10))
            started = time.perf_counter_ns()
            client.post(f"{url}/chat/completions", json=CHAT)
            plain.append((time.perf_counter_ns() - started) / 1e6 - (120 + 19 * 10))
    print(f"(1) one stream, median of {rounds}")
    print(f"    first text chunk late by   {statistics.median(first):7.2f} ms")
    print(f"    median gap                 {statistics.median(gaps):7.2f} ms (script: 10)")
    print(f"    last chunk late by         {statistics.median(last):7.2f} ms (drift)")
    print(f"    non-streaming answer late  {statistics.median(plain):7.2f} ms")


def many_streams(n: int = 200) -> None:
    async def one(client: httpx.AsyncClient, url: str) -> None:
        body = {**CHAT, "stream": True}
        async with client.stream("POST", f"{url}/chat/completions", json=body) as r:
            async for _ in r.aiter_lines():
                pass

    async def all_streams(url: str) -> None:
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            await asyncio.gather(*(one(client, url) for _ in range(n)))

    args = ("--output-tokens", "10", "--ttft-ms", "100", "--itl-ms", "20")
    with start_mock_server(*args) as (url, _):
        started = time.perf_counter()
        asyncio.run(all_streams(url))
        wall = time.perf_counter() - started
    print(f"(2) {n} concurrent streams: {wall * 1000:7.0f} ms wall (one stream: 280 ms)")


def costcli(*args: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, "-m", "costcli", *args], capture_output=True, text=True, check=False
    )
    return json.loads(done.stdout)


def providers(folder: Path, url: str) -> str:
    path = folder / "mock.toml"
    text = f'name = "mock"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "mock-model"\n'
    path.write_text(text, encoding="utf-8")
    return str(path)


def sweep_scaling(folder: Path) -> None:
    with start_mock_server("--ttft-ms", "40", "--itl-ms", "2", "--output-tokens", "8") as (url, _):
        doc = costcli(
            "run", "--providers", providers(folder, url), "-t", "mock", "-n", "16", "--sweep", "concurrency=1,4", "-f", "json", "-q",
        )  # fmt: skip
    c1, c4 = (p["summary"]["throughput"]["requests_per_s"] for p in doc["targets"][0]["sweep"])
    print(f"(3) sweep: {c1:.1f} req/s at concurrency 1, {c4:.1f} at 4: x{c4 / c1:.2f} (ideal x4)")


def check_noise(folder: Path) -> None:
    files = []
    for name in ("baseline", "same"):
        with start_mock_server("--ttft-ms", "120", "--itl-ms", "5", "--output-tokens", "10") as (
            url,
            _,
        ):
            out = folder / f"{name}.json"
            costcli(
                "run", "--providers", providers(folder, url), "-t", "mock", "-n", "40", "-c", "4", "--records", "-q", "-f", "json",
                "-o", str(out),
            )  # fmt: skip
            files.append(str(out))
    verdict = costcli(
        "check", files[1], "--baseline", files[0], "--budget", "ttft_p95_ms=+10%", "-f", "json"
    )
    (row,) = verdict["checks"]
    low, high = row["interval"]["low"], row["interval"]["high"]
    print(
        f"(4) same server twice, ttft_p95_ms: change {row['change']:+.1%}, "
        f"95% CI [{low:+.1%}, {high:+.1%}]: {row['status']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    one_stream(args.rounds)
    many_streams()
    with tempfile.TemporaryDirectory() as tmp:
        sweep_scaling(Path(tmp))
        check_noise(Path(tmp))


if __name__ == "__main__":
    main()
