"""Peak memory of reading a large ShareGPT file: the stream reader holds only its sample.

    python benchmarks/sharegpt_memory.py [--mb 50] [--sample 100]

Writes a ShareGPT JSON list of about `--mb` megabytes (long turns, like the real dumps) to
a temporary file, in pieces, then reads it with `--sample N` in a fresh process and prints
that process's peak RSS beside the file's size, and the RSS of `json.load` of the same
file for comparison. Target: the sampled read stays far below the file size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READER = """
import resource, sys, time
from pathlib import Path
from costcli.workloads.sharegpt import read_sharegpt
from costcli.workload import DatasetOptions
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
if sys.argv[2] == "json.load":
    import json
    chosen = json.load(open(sys.argv[1], encoding="utf-8"))
else:
    chosen = read_sharegpt(Path(sys.argv[1]), DatasetOptions(sample=int(sys.argv[2])), seed=0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{len(chosen)} {before:.0f} {peak:.0f} {time.perf_counter() - t0:.2f}")
"""


def write_file(path: Path, megabytes: float) -> int:
    """A ShareGPT list of conversations until the file reaches `megabytes`; entries written."""
    reply = " ".join(["token"] * 400)
    n = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        while out.tell() < megabytes * 1e6:
            convo = []
            for t in range(4):
                convo.append({"from": "human", "value": f"question {n}.{t} " + reply[:800]})
                convo.append({"from": "gpt", "value": reply})
            out.write(("," if n else "") + json.dumps({"id": f"c{n}", "conversations": convo}))
            n += 1
        out.write("]")
    return n


def measure(path: Path, how: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", READER, str(path), how], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--sample", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sharegpt.json"
        t0 = time.perf_counter()
        entries = write_file(path, args.mb)
        size = path.stat().st_size / 1e6
        print(f"wrote {size:.1f} MB, {entries} conversations in {time.perf_counter() - t0:.1f} s")
        for how in (str(args.sample), "json.load"):
            kept, before, peak, seconds = measure(path, how).split()
            label = f"read_sharegpt --sample {how}" if how != "json.load" else "json.load"
            print(
                f"{label}: {kept} conversations kept, peak RSS {peak} MB "
                f"(interpreter and imports {before} MB), {seconds} s"
            )


if __name__ == "__main__":
    main()
