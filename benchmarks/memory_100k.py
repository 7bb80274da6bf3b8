"""Peak memory of a 100,000-request run: the real adapter, scheduler and summary.

    python benchmarks/memory_100k.py [--requests 100000] [--streams 256] [--tokens 5]

Runs against the zero-delay mock server (its own process) and prints the client's peak
RSS (ru_maxrss) after the run and after its summary, plus the wall time. The records are
not kept (as a run without --records): the figures are the run's `Digest`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client_overhead import MODEL, Server


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(url: str, requests: int, streams: int, tokens: int) -> None:
    from costcli.adapters.base import TransportOptions
    from costcli.adapters.catalog import Target
    from costcli.adapters.openai import OpenAIAdapter
    from costcli.load.phase import SilentObserver, TargetRun
    from costcli.load.schedule import LoadSettings, PointJob
    from costcli.load.target import run_target
    from costcli.workloads.spec import RequestSpec, Workload

    adapter = OpenAIAdapter(Target("bench", MODEL, "openai", url, None), TransportOptions(streams))
    message = {"role": "user", "content": "Say five words."}
    workload = Workload("bench", "", (RequestSpec(0, (message,), max_tokens=tokens),))
    settings = LoadSettings(concurrency=streams, requests=requests)
    print(f"before the run: peak RSS {rss_mb():.0f} MB")
    t0 = time.perf_counter()
    await adapter.start()
    try:
        run = await run_target(
            adapter, PointJob(workload, settings, "m"), SilentObserver(), TargetRun(keep=False)
        )
    finally:
        await adapter.close()
    wall = time.perf_counter() - t0
    print(f"{run.measured:,} requests in {wall:.1f} s; peak RSS {rss_mb():.0f} MB")
    summary = run.digest.summary()
    failed = {cls: n for cls, n in summary.errors.items() if n}
    print(f"after the summary: peak RSS {rss_mb():.0f} MB; failed: {failed or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=5)
    args = parser.parse_args()
    with Server(0, 0, args.tokens, None) as server:
        asyncio.run(run(server.url, args.requests, args.streams, args.tokens))


if __name__ == "__main__":
    main()
