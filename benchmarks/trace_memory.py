"""Peak memory of `costcli trace analyze` as the trace grows: it must stay flat.

    python benchmarks/trace_memory.py [--lines 200000,2000000]

Writes Mooncake-like traces (one request every 50 ms, 2-40 blocks of 512 tokens each, the
first block shared by every request, later blocks shared by requests of the same
"conversation"), runs `costcli trace analyze` on each in its own process and prints the
file's size, the wall time and the peak RSS of the analysing processes so far (ru_maxrss
of the children: the largest one yet). A 5 GB trace is about 18 million such lines; the
RSS does not grow with the line count beyond trace_stats' counters (one per second of
trace time, one per distinct length, one bit per block id).

2026-12-03, the shared 2-core machine: 100,000 lines (26 MB) 4.3 s, 35 MB; 1,000,000 lines
(278 MB) 35.4 s, 43 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_trace(path: Path, lines: int) -> None:
    rng = random.Random(0)
    next_id = 1
    conversations: list[list[int]] = []
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            if conversations and rng.random() < 0.5:
                ids = rng.choice(conversations)
                ids.extend(range(next_id, next_id + 2))
                next_id += 2
            else:
                n = rng.randint(1, 39)
                ids = [0, *range(next_id, next_id + n)]
                next_id += n
                conversations.append(ids)
                if len(conversations) > 1000:
                    conversations.pop(0)
            length = 512 * (len(ids) - 1) + rng.randint(1, 512)
            row = {"timestamp": i * 50, "input_length": length,
                   "output_length": rng.randint(1, 1000), "hash_ids": ids}  # fmt: skip
            out.write(json.dumps(row) + "\n")


def analyze(path: Path) -> tuple[float, float]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "costcli", "trace", "analyze", str(path), "--format", "json"],
        check=True, cwd=REPO, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return time.perf_counter() - start, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="200000,2000000")
    args = parser.parse_args()
    print(f"{'lines':>10} {'file MB':>9} {'seconds':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for lines in (int(n) for n in args.lines.split(",")):
            path = Path(tmp) / f"trace-{lines}.jsonl"
            write_trace(path, lines)
            seconds, rss = analyze(path)
            size = path.stat().st_size / 1e6
            print(f"{lines:>10,} {size:>9.0f} {seconds:>8.1f} {rss:>12.0f}")
            path.unlink()


if __name__ == "__main__":
    main()
