"""Trace replay timing: how late costcli sends a Mooncake trace's requests against its plan.

    python benchmarks/trace_replay.py                    # 200 requests at 25, 50, 100 req/s
    python benchmarks/trace_replay.py --rates 100 --requests 200 --input 2048

Writes a Mooncake trace of N requests at a constant rate (each request `--input` tokens
in 512-token blocks, the first block shared by all, as a system prompt is), starts
`costcli mock-server` in its own process, replays the trace through the public API
(`RunPlan(workload="mooncake:FILE")`, one process) and prints, per rate, the lateness of
each send against its planned time: `client_delay_ms` of every record (bytes sent -
planned time), p50/p99/max, and how many left more than 5 ms late.

The machine's cores are shared with the server (and whatever else runs): the figures
include that competition. The script never leaves a server running.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LISTENING = re.compile(r"listening on (http://\S+/v1)")


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def write_trace(path: Path, requests: int, rate: float, input_tokens: int, output: int) -> None:
    blocks = -(-input_tokens // 512)
    with path.open("w", encoding="utf-8") as out:
        for i in range(requests):
            ids = [0, *range(1 + i * blocks, i * blocks + blocks)]  # block 0 shared
            row = {
                "timestamp": round(i * 1000 / rate, 3),
                "input_length": input_tokens,
                "output_length": output,
                "hash_ids": ids,
            }
            out.write(json.dumps(row) + "\n")


def replay(base_url: str, folder: Path, trace: Path) -> list[float]:
    from costcli.api import execute
    from costcli.plan import RunPlan

    providers = folder / "bench.toml"
    providers.write_text(
        f'name = "bench"\nadapter = "openai"\nbase_url = "{base_url}"\n'
        'default_model = "mock-model"\n',
        encoding="utf-8",
    )
    plan = RunPlan(
        targets=("bench",),
        workload=f"mooncake:{trace}",
        providers=(providers,),
        records=True,
    )
    result = execute(plan)
    (target,) = result.targets
    return [r.client_delay_ms for r in target.records or ()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="25,50,100", help="req/s, comma-separated")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--input", type=int, default=1024, help="tokens per request")
    parser.add_argument("--output", type=int, default=16, help="tokens per answer")
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "costcli", "mock-server", "--port", "0", "--ttft-ms", "20",
         "--itl-ms", "2", "--output-tokens", str(args.output)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        found = LISTENING.search(server.stdout.readline())
        if not found:
            raise SystemExit("the mock server did not start")
        base_url = found[1]
        print(f"{args.requests} requests of {args.input} tokens, mock server TTFT 20 ms")
        print(f"{'rate':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'>5 ms':>6}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for rate in (float(r) for r in args.rates.split(",")):
                trace = folder / f"trace-{rate:g}.jsonl"
                write_trace(trace, args.requests, rate, args.input, args.output)
                late = replay(base_url, folder, trace)
                over = sum(1 for d in late if d > 5.0)
                print(
                    f"{rate:>8g} {pct(late, 50):>8.2f} {pct(late, 99):>8.2f} "
                    f"{max(late):>8.2f} {over:>6}"
                )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
