"""Memory and file sizes against run length: `costcli run` through its CLI, as shipped.

    python benchmarks/run_length.py                            # 10,000 / 100,000 / 1,000,000
    python benchmarks/run_length.py --requests 10000,100000 --records

Each run is `costcli run -n N -c 32 -o run.json` against the zero-delay mock server (its
own process, 4 tokens an answer), in a process of its own: its peak RSS is that process's
ru_maxrss (os.wait4). Printed: requests, wall time, peak RSS, the results document's size
and the journal's. `--records` adds the same runs with --records (every record inline in
the document, held in memory until it is written) for comparison. Then `costcli recover`
of the largest run's journal, with its own peak RSS: reading a journal back is bounded too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client_overhead import MODEL, REPO, Server

STREAMS = 32
TOKENS = 4


def measured(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall s, peak RSS MB, exit code) of `python -m costcli ARGS` in its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "costcli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code:
        print(f"  exit {code}: {err.strip()[-300:]}")
    return wall, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", default="10000,100000,1000000")
    parser.add_argument("--records", action="store_true", help="also with --records")
    args = parser.parse_args()
    sizes = [int(n) for n in args.requests.split(",")]
    rows = []
    with Server(0, 0, TOKENS, None) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "p").mkdir()
        (folder / "p" / "mock.toml").write_text(
            f'name = "mock"\nadapter = "openai"\ndefault_model = "{MODEL}"\n'
            f'base_url = "{server.url}"\n',
            encoding="utf-8",
        )
        modes = [False, True] if args.records else [False]
        for records in modes:
            for n in sizes:
                out = folder / f"run-{n}-{int(records)}.json"
                run = ["run", "--providers", "p", "-t", "mock", "-n", str(n), "-c", str(STREAMS),
                       "--no-progress", "-q", "-f", "json", "-o", out.name]  # fmt: skip
                wall, rss, _ = measured([*run, *(["--records"] if records else [])], folder)
                journal = out.with_name(out.stem + ".journal.jsonl")
                rows.append(
                    (
                        f"{n:,}" + (" --records" if records else ""),
                        f"{wall:.1f}",
                        f"{n / wall:,.0f}",
                        f"{rss:.0f}",
                        f"{out.stat().st_size / 1024:,.0f} KB",
                        f"{journal.stat().st_size / 1e6:,.0f} MB",
                    )
                )
                print(" | ".join(rows[-1]), flush=True)
                if records or n != max(sizes):
                    journal.unlink()
        largest = folder / f"run-{max(sizes)}-0.journal.jsonl"
        wall, rss, _ = measured(["recover", largest.name, "-f", "json", "-o", "rec.json"], folder)
        recovered = (
            f"recover of the {max(sizes):,}-request journal: {wall:.1f} s, peak RSS {rss:.0f} MB"
        )
    print()
    print(f"costcli run -c {STREAMS} against the zero-delay mock ({TOKENS} tokens an answer)")
    print()
    print("| requests | wall s | req/s | peak RSS MB | results file | journal |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(recovered)


if __name__ == "__main__":
    main()
