#!/usr/bin/env bash
# The steps of the costcli GitHub Action (action.yml), runnable anywhere: run a benchmark of
# the benchmark file into the history store, gate it with `costcli check`, write the HTML
# report. Driven by environment variables, the action's inputs (all optional):
#   INPUT_BENCHMARK       a benchmark of costcli.toml / [tool.costcli]; empty: its default
#   INPUT_BASELINE        a results file, history:last, history:best-of:N[:METRIC],
#                         history:label=KEY=VALUE, or `artifact` (the results artifact of the
#                         default branch's latest completed run of this workflow, via `gh`,
#                         which needs GH_TOKEN and GH_REPO or GITHUB_REPOSITORY); empty: the
#                         benchmark's [gate] baseline
#   INPUT_FAIL_ON         regression (budgets only), limits (limits only) or both (default)
#   INPUT_HISTORY_DB      the history store (default .costcli/history.sqlite)
#   INPUT_OUTPUT_DIR      where results.json, verdict.json, junit.xml, report.html go
#                         (default costcli-results)
#   INPUT_ARTIFACT_NAME   the artifact that INPUT_BASELINE=artifact downloads (costcli-results)
#   INPUT_DEFAULT_BRANCH  the branch that artifact comes from (default: asked of gh)
#   COSTCLI               the command to run (default costcli; e.g. "python -m costcli")
#   PYTHON                a Python 3 for reading JSON (default python3)
# With no baseline to compare with (none named, a history store with no run yet, no artifact
# yet), budgets cannot fail: the run is its own baseline, with a warning; limits still gate.
# Writes the verdict and report to $GITHUB_STEP_SUMMARY and results, report, verdict and
# passed to $GITHUB_OUTPUT when those are set. Exit: 0 passed, 1 the gate failed, 2 bad input.
set -euo pipefail

BENCHMARK=${INPUT_BENCHMARK:-}
BASELINE=${INPUT_BASELINE:-}
FAIL_ON=${INPUT_FAIL_ON:-both}
DB=${INPUT_HISTORY_DB:-.costcli/history.sqlite}
OUT=${INPUT_OUTPUT_DIR:-costcli-results}
ARTIFACT=${INPUT_ARTIFACT_NAME:-costcli-results}
PYTHON=${PYTHON:-python3}
read -r -a costcli <<<"${COSTCLI:-costcli}"

RESULTS=$OUT/results.json
VERDICT=$OUT/verdict.json
REPORT=$OUT/report.html
JUNIT=$OUT/junit.xml

say() { echo "costcli action: $*" >&2; }
warn() { if [ -n "${GITHUB_ACTIONS:-}" ]; then echo "::warning::$*"; else say "warning: $*"; fi; }
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$*" >>"$GITHUB_STEP_SUMMARY"; fi; }
output() { if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi; }

case $FAIL_ON in
  regression | limits | both) ;;
  *) say "fail-on '$FAIL_ON': use regression, limits or both"; exit 2 ;;
esac

bench=()
if [ -n "$BENCHMARK" ]; then bench=("$BENCHMARK"); fi

# the benchmark's [gate] as check will read it: its baseline (or empty) and budget count
gate=$("${costcli[@]}" config show "${bench[@]}" --format json | "$PYTHON" -c '
import json, sys
gate = json.load(sys.stdin).get("gate") or {}
print(gate.get("baseline") or "", len(gate.get("budgets") or []))')
gate_baseline=${gate% *}
budgets=${gate##* }

download_artifact() {  # the default branch's latest results artifact into $OUT/baseline
  local branch workflow ids id
  export GH_REPO=${GH_REPO:-${GITHUB_REPOSITORY:-}}
  branch=${INPUT_DEFAULT_BRANCH:-}
  if [ -z "$branch" ]; then
    branch=$(gh repo view --json defaultBranchRef -q .defaultBranchRef.name) || return 2
  fi
  workflow=${GITHUB_WORKFLOW_REF:-}  # owner/repo/.github/workflows/FILE@ref
  workflow=${workflow%@*}
  workflow=${workflow##*/}
  rm -rf "$OUT/baseline"
  ids=$(gh run list --branch "$branch" ${workflow:+--workflow "$workflow"} \
    --status completed --limit 10 --json databaseId -q '.[].databaseId') || return 2
  # the newest completed run that uploaded the artifact (a run can end before it does)
  for id in $ids; do
    if [ "$id" != "${GITHUB_RUN_ID:-}" ] &&
      gh run download "$id" --name "$ARTIFACT" --dir "$OUT/baseline" >/dev/null 2>&1 &&
      [ -f "$OUT/baseline/results.json" ]; then
      say "baseline: artifact $ARTIFACT of run $id on $branch"
      echo "$OUT/baseline/results.json"
      return
    fi
  done
}

# a history store that holds no run before this one has no baseline to give yet
had_store=yes
if [[ $DB != *://* && ! -s $DB ]]; then had_store=no; fi

mkdir -p "$OUT"
rm -f "$RESULTS" "$VERDICT" "$REPORT" "$JUNIT"
run_code=0
"${costcli[@]}" run "${bench[@]}" --history --db "$DB" -o "$RESULTS" --no-progress || run_code=$?
output results "$RESULTS"
if [ ! -f "$RESULTS" ]; then
  say "costcli run wrote no results (exit $run_code)"
  exit "$((run_code ? run_code : 2))"
fi

against=${BASELINE:-$gate_baseline}
none_why=""
if [ "$against" = artifact ]; then
  against=$(download_artifact) || { say "baseline artifact: gh failed (GH_TOKEN set? permissions: actions: read)"; exit 2; }
  if [ -z "$against" ]; then none_why="no completed run of the default branch has the artifact $ARTIFACT yet"; fi
elif [[ $against == history:* && $had_store == no ]]; then
  none_why="the history store $DB held no run before this one"
elif [ -z "$against" ] && [ "$budgets" != 0 ]; then
  none_why="neither the baseline input nor the benchmark's [gate] names one"
fi
baseline_args=()
if [ -n "$none_why" ]; then
  warn "no baseline to compare with ($none_why): budgets are judged against this run itself and cannot fail; limits still gate"
  summary "> No baseline yet ($none_why): budgets were judged against this run itself."
  against=$RESULTS
fi
if [ -n "$against" ]; then baseline_args=(--baseline "$against"); fi

check_code=0
"${costcli[@]}" check "$RESULTS" "${baseline_args[@]}" "${bench[@]/#/--benchmark=}" --db "$DB" \
  --format json --junit "$JUNIT" >"$VERDICT" || check_code=$?
output verdict "$VERDICT"

report() {  # the HTML report, and its Markdown table into the step summary
  "${costcli[@]}" report "$RESULTS" --html "$REPORT" >"$OUT/report.md" || say "costcli report failed"
  if [ -f "$REPORT" ]; then output report "$REPORT"; fi
  if [ -s "$OUT/report.md" ]; then summary "$(cat "$OUT/report.md")"; fi
}

if [ "$check_code" -gt 1 ] || [ ! -s "$VERDICT" ]; then
  say "costcli check could not judge the run (exit $check_code)"
  report
  output passed false
  exit "$((check_code ? check_code : 2))"
fi

# the failed checks, each one line, and how many of them the gate counts under fail-on
gated=$("$PYTHON" - "$VERDICT" "$FAIL_ON" <<'PY'
import json, sys

verdict = json.load(open(sys.argv[1], encoding="utf-8"))
kinds = {"regression": {"budget"}, "limits": {"limit"}, "both": {"budget", "limit"}}[sys.argv[2]]
failed = [c for c in verdict["checks"] if c["status"] == "fail"]
for c in failed:
    counts = "" if c["kind"] in kinds else " (not gated: fail-on " + sys.argv[2] + ")"
    print(f"FAIL {c['target']} {c['metric']} {c['kind']} {c['threshold']}: {c['reason']}{counts}",
          file=sys.stderr)
print(sum(c["kind"] in kinds for c in failed))
PY
)
if [ "$check_code" = 1 ] && [ "$gated" = 0 ]; then
  summary "> fail-on $FAIL_ON: the failed checks above do not fail this job."
fi
report
if [ "$gated" != 0 ]; then
  say "gate failed: $gated check(s) under fail-on $FAIL_ON"
  output passed false
  exit 1
fi
say "gate passed (fail-on $FAIL_ON)"
output passed true
exit "$run_code"
