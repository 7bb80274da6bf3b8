"""One client of benchmarks/load_engine.py, alone, against its exact-timing server: the
thing to put under a profiler.

    py-spy record --nonblocking -r 1000 -f raw -o /tmp/c256.txt -- \\
        python benchmarks/profile_client.py closed:256 costcli
    python benchmarks/profile_client.py --summary /tmp/c256.txt     # self and inclusive time

CASE is one of load_engine.py's (closed:N, open:RATE, zero:N); CLIENT costcli or raw;
ROUNDS multiplies the case's requests. It prints the client's CPU per request.
"""

from __future__ import annotations

import asyncio
import collections
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_engine as le
from client_overhead import Server


def run(case_name: str, client: str, rounds: int = 1) -> None:
    case = le.make_case(case_name)
    case["load"]["requests"] *= rounds
    one = {"raw": le.client_raw, "costcli": le.client_costcli}[client]
    with Server(case["ttft_ms"], case["itl_ms"], case["tokens"], None) as server:
        result = asyncio.run(one(server.url, case))
    print(client, "CPU ms/request", round(result["cpu_s"] * 1000 / len(result["records"]), 3))


def summary(path: str, top: int = 16) -> None:
    """py-spy's raw stacks -> self and inclusive shares, the event loop's run only (the
    imports and the wait in select() left out)."""
    own: collections.Counter[str] = collections.Counter()
    within: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "_run_once" not in stack or "_find_and_load" in stack or "select (selectors" in stack:
            continue
        frames = [re.sub(r" \(.*?/([^/]+\.py):\d+\)", r" (\1)", f) for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            within[frame] += n
    for title, counts in (("self", own), ("inclusive", within)):
        print(f"--- {title} ({total} samples)")
        for frame, n in counts.most_common(top):
            print(f"{n * 100 / total:5.1f}% {frame}")


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2])
    else:
        run(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
