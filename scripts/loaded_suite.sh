#!/usr/bin/env bash
# Run the whole test suite N times in a row while two CPU-bound loops keep both cores busy
# (issue 9: the suite must pass on a machine kept busy by other work). Prints each run's
# failures and closing line.
#   bash scripts/loaded_suite.sh [N]      (default 5; uses .venv from scripts/dev.sh test)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
python3 -c 'while True: pass' & a=$!
python3 -c 'while True: pass' & b=$!
trap 'kill $a $b 2>/dev/null || true' EXIT
for i in $(seq 1 "$runs"); do
  echo "run $i:"
  .venv/bin/pytest -q -p no:cacheprovider -rf 2>&1 | grep -E "^FAILED|passed|failed" || true
done
