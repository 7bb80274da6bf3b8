"""CLI startup time: median wall time of `costcli --version`, `--help` and a group's `--help`.

    python benchmarks/startup.py            # 10 runs of each
    python benchmarks/startup.py --runs 30

Also reports the median in-process time of `import costcli.cli` (from `python -X importtime`).
Each figure is one fresh process; the first run of each command is a warm-up and is dropped.
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (
    ("--version",),
    ("--help",),
    ("prices", "--help"),
    ("check", "--help"),
    ("project", "--help"),
)


def _costcli() -> list[str]:
    exe = Path(sys.executable).with_name("costcli")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("costcli")
    return [found] if found else [sys.executable, "-c", "from costcli.cli import main; main()"]


def _wall_ms(argv: list[str], runs: int) -> float:
    env = {**os.environ, "COLUMNS": "100"}
    subprocess.run(argv, capture_output=True, check=True, env=env)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _import_ms(runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import costcli.cli"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        match = re.search(r"\|\s*(\d+) \| costcli\.cli\s*$", out, re.MULTILINE)
        if match:
            times.append(int(match.group(1)) / 1000)
    return statistics.median(times) if times else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    base = _costcli()
    print(f"costcli startup, median of {args.runs} runs ({' '.join(base)})")
    print(f"  {'import costcli.cli (importtime)':34} {_import_ms(args.runs):7.1f} ms")
    for cmd in COMMANDS:
        label = "costcli " + " ".join(cmd)
        print(f"  {label:34} {_wall_ms([*base, *cmd], args.runs):7.1f} ms")
    baseline = _wall_ms([sys.executable, "-c", "pass"], args.runs)
    print(f"  {'python -c pass (interpreter floor)':34} {baseline:7.1f} ms")


if __name__ == "__main__":
    main()
